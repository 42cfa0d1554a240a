"""The Euler-compatible LIVE API: what the TikTokLive and tiktok-live-connector clients call.

``routes`` (the route group), ``euler`` (the clients' envelope and 429 headers),
``session`` (TikTok guest sessions and the one way to call TikTok), ``webcast`` (room
resolution), ``transport`` (the ``direct`` and ``fetch`` answers of ``/webcast/fetch``).
This package imports the service's core and the providers library; nothing imports it but
the app factory.
"""

"""TikTok partner algorithms as pure functions, without routes, store or I/O.

Shop request signs and OAuth URLs (``shop``), Business Plugin ``external_data`` (``business``),
webhook verification (``webhooks``) and the CloudEvent a verified webhook becomes
(``cloudevents``).

No module here does I/O or keeps state; clocks and id factories are parameters, so the routes
(and the tests) decide what "now" is. Facts and sources: ``shared/reference/partner-signing.md``.
"""

"""Contract suites: what every implementation of one interface must do, whichever it is.

``test_providers.py`` holds every signing provider (native, browser in real Chromium, a
remote provider of each wire format against a fake upstream, the fake provider) to the
``Provider`` contract, each built through its real factory from a real ``ProviderContext``:

* it satisfies the ``Provider`` Protocol; its health is ``stopped`` before ``start``,
  ``ready`` after it, ``stopped`` after ``aclose``, after which a sign raises a
  ``ProviderError`` (never a crash);
* a GET of an ``/api/`` URL (and a POST body, where the provider signs bodies) comes back
  signed for real: the codecs' self-check passes, X-Bogus re-encodes from the signed query,
  body and user agent, X-Gnarly carries their hashes, the time is now;
* ``signed_url`` goes to the requested scheme, host and path, and starts with the request's
  query in browser form;
* msToken: the token signed is the explicit ``ms_token``, else the URL's last ``msToken``,
  else the provider's own session token (empty without a session); a provider that cannot
  sign with the token asked for declines with ``ProviderDeclined``;
* the caller's user agent is the one signed and returned (a provider bound to one user agent
  declines others); ``provider`` is the provider's name.

Where a provider legitimately differs (SignTok signs no bodies and appends no msToken of its
own, upstreams and live browser pages hold a session msToken), its ``Subject`` says so and
the test asserts the documented difference instead of skipping.

``test_state.py`` holds every ``SharedState`` backend (memory alone, memory relayed between
workers by the supervisor's hub) to one contract: operator changes hold everywhere when
they return and a rejected one changes nothing; limits count, refuse and peek alike; the
cache keeps a result for its TTL.
"""

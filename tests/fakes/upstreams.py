"""Upstream sign servers on loopback: SignTok, carcabot's tiktok-signature and Euler Stream.

They sign for real with the native codecs, so every success is a genuine signature a
remote provider has to verify, and every tampered answer is one it has to refuse.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from aiohttp import web

from providers import xbogus, xgnarly, xttparams
from signer.settings import Settings
from signer.wiring import persona_from
from tests.fakes.server import LoopbackServer

Format = Literal["signtok", "carcabot", "euler"]
#: ``ok`` answers as the real server; the others are the faults seen in the wild.
Behaviour = Literal["ok", "hang", "http_500", "not_json"]

#: The persona the upstreams sign as (flags, canvas, X-Gnarly version strings).
PERSONA = persona_from(Settings(sdk_version="5.1.3"))
#: The only API key the Euler look-alike accepts.
KEY = "euler_k3y_ZXhhbXBsZQ"
#: What SignTok appends as ``_signature``.
SIGNATURE = "_02B4Z6wo00f01fakeSignatureForTests0000000000"
#: The one user agent SignTok signs as, whatever the caller uses.
SIGNTOK_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) SignTok/1.3"
#: The msToken carcabot's session appends to every URL.
CARCABOT_TOKEN = "carcabot-ms-token"
#: The msToken Euler's session appends to every URL.
EULER_TOKEN = "euler-ms-token"
#: Where each real server answers (the fakes answer on any path, for path prefixes).
PATHS: dict[Format, str] = {
    "signtok": "/signature",
    "carcabot": "/signature",
    "euler": "/webcast/sign_url",
}


# -- genuine signatures, as an upstream computes them


def sign_bogus(query: str, body: str, user_agent: str) -> str:
    """An X-Bogus of the persona, stamped now."""
    return xbogus.encode(query, body, user_agent, int(time.time()), PERSONA.canvas, PERSONA.flags)


def sign_gnarly(query: str, body: str, user_agent: str) -> str:
    """An X-Gnarly of the persona's SDK build, stamped now."""
    return xgnarly.encode(
        query,
        body,
        user_agent,
        timestamp=int(time.time()),
        canvas=PERSONA.canvas,
        flags=PERSONA.flags,
        page_load_us=int(time.time() * 1e6),
        sdk_version=PERSONA.gnarly_version,
        sdk_build=PERSONA.gnarly_build,
        ubcode=PERSONA.flags[2],
        requests_seen=2,
        requests_signed=1,
        order=xgnarly.ASCENDING_ORDER,
    )


def signtok_answer(url: str, *, hashed: str | None = None) -> dict[str, Any]:
    """SignTok's answer: ``_signature`` appended, X-Bogus over the query holding it.

    ``hashed`` makes the X-Bogus cover another query (an answer that must be refused).
    """
    signed = f"{url}&_signature={SIGNATURE}"
    query = signed.split("?", 1)[1]
    token = sign_bogus(query if hashed is None else hashed, "", SIGNTOK_UA)
    with_bogus = f"{signed}&X-Bogus={token}"
    return {
        "status": "ok",
        "data": {
            "signature": SIGNATURE,
            "signed_url": with_bogus,
            "x-tt-params": xttparams.for_query(with_bogus.split("?", 1)[1]),
            "X-Bogus": token,
            "navigator": {
                "deviceScaleFactor": 1,
                "user_agent": SIGNTOK_UA,
                "browser_language": "en-US",
                "browser_platform": "Linux x86_64",
                "browser_name": "Mozilla",
                "browser_version": SIGNTOK_UA.removeprefix("Mozilla/"),
            },
        },
    }


def carcabot_answer(url: str, user_agent: str, *, gnarly_over: str | None = None) -> dict[str, Any]:
    """The answer of carcabot 4.x: its msToken appended, X-Bogus and X-Gnarly over that query.

    ``gnarly_over`` makes the X-Gnarly hash another query (an answer that must be refused).
    """
    query = f"{url.split('?', 1)[1]}&msToken={CARCABOT_TOKEN}"
    x_bogus = sign_bogus(query, "", user_agent)
    x_gnarly = sign_gnarly(query if gnarly_over is None else gnarly_over, "", user_agent)
    return {
        "status": "ok",
        "data": {
            "signed_url": f"{url.split('?', 1)[0]}?{query}&X-Bogus={x_bogus}&X-Gnarly={x_gnarly}",
            "x-bogus": x_bogus,
            "x-gnarly": x_gnarly,
            "device-id": "7300000000000000000",
            "navigator": {
                "deviceScaleFactor": 2,
                "user_agent": user_agent,
                "browser_language": "en-GB",
                "browser_platform": "MacIntel",
                "browser_name": "Mozilla",
                "browser_version": user_agent.removeprefix("Mozilla/"),
            },
        },
    }


def euler_answer(url: str, user_agent: str, body: str) -> dict[str, Any]:
    """Euler's answer: its msToken appended, both signatures, the tokens repeated."""
    query = f"{url.split('?', 1)[1]}&msToken={EULER_TOKEN}"
    x_bogus = sign_bogus(query, body, user_agent)
    x_gnarly = sign_gnarly(query, body, user_agent)
    return {
        "code": 200,
        "message": "ok",
        "response": {
            "signedUrl": f"{url.split('?', 1)[0]}?{query}&X-Bogus={x_bogus}&X-Gnarly={x_gnarly}",
            "userAgent": user_agent,
            "browserName": "Chrome",
            "browserVersion": "156.0.0.0",
            "tokens": {"msToken": EULER_TOKEN, "X-Bogus": x_bogus, "X-Gnarly": x_gnarly},
            "requestHeaders": {},
            "cookies": [],
        },
    }


# -- the servers


class Upstream(LoopbackServer):
    """A SignTok, carcabot or Euler look-alike on loopback, answering on any path.

    ``behaviour`` picks how it answers (see :data:`Behaviour`); ``answer`` is a fixed JSON
    payload returned to every request instead (an upstream gone wrong in a precise way).
    The Euler look-alike refuses any key but ``api_key`` with a 401 that echoes it.
    """

    def __init__(
        self,
        kind: Format,
        behaviour: Behaviour = "ok",
        *,
        answer: Any = None,
        api_key: str = KEY,
    ) -> None:
        super().__init__()
        self.kind: Format = kind
        self.behaviour: Behaviour = behaviour
        self.answer = answer
        self.api_key = api_key

    @property
    def path(self) -> str:
        """The path the real server answers on."""
        return PATHS[self.kind]

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """Answer as the behaviour says (recorded in ``seen`` before this runs)."""
        if self.answer is not None:
            return web.json_response(self.answer)
        if self.behaviour == "hang":
            await self.until_closed()
            return web.Response(status=503)
        if self.behaviour == "http_500":
            return web.Response(status=500, text="Internal Server Error: browser crashed")
        if self.behaviour == "not_json":
            return web.Response(text="<html>login</html>", content_type="text/html")
        return await self.sign(request)

    async def sign(self, request: web.Request) -> web.StreamResponse:
        """Sign as the real server does, with its errors."""
        body = await request.text()
        if self.kind == "signtok":
            if not body.startswith("https://"):
                message = "There was an error processing your request! Is your URL valid?"
                return web.json_response({"status": "error", "data": message})
            return web.json_response(signtok_answer(body))
        data = await request.json()
        if self.kind == "carcabot":
            return web.json_response(carcabot_answer(data["url"], data["userAgent"]))
        given = request.headers.get("X-Api-Key", "")
        if given != self.api_key:
            # Some servers echo the key they refused; it must not reach our messages.
            message = f"Invalid API key {given!r}"
            return web.json_response({"code": 401, "message": message}, status=401)
        return web.json_response(euler_answer(data["url"], data["userAgent"], data["payload"]))

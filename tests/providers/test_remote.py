"""The remote provider against real SignTok, carcabot and Euler look-alikes on loopback.

The fake upstreams (tests/fakes/upstreams.py) sign for real with the native codecs, so every
success is a genuine signature the provider had to verify, and every tampered answer is one
it had to refuse.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import structlog
from aiohttp import web

from providers import registry, xbogus, xgnarly, xttparams
from providers.config import RemoteConfig
from providers.errors import (
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    SelfCheckFailed,
    UpstreamError,
)
from providers.native import NativeProvider
from providers.remote import MAX_RESPONSE_BYTES, RemoteProvider, origin, read_navigator
from providers.typing import Navigator, PersonaStore, Provider, SignRequest
from signer.app import make_app
from signer.metrics import Metrics
from signer.settings import Settings
from signer.wiring import persona_from, provider_context
from tests.fakes.upstreams import (
    CARCABOT_TOKEN,
    EULER_TOKEN,
    KEY,
    PERSONA,
    SIGNATURE,
    SIGNTOK_UA,
    Upstream,
    carcabot_answer,
    sign_bogus,
    sign_gnarly,
    signtok_answer,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from tests.conftest import MakeClient, ServeFake
    from tests.fakes.upstreams import Format

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
    MakeRemote = Callable[..., Awaitable[RemoteProvider]]

SETTINGS = Settings(providers=("native",))
URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=35&secUid=MS4wLjABAAAA&cursor=0"


def serving(kind: Format, handler: Handler) -> Upstream:
    """An upstream of ``kind`` whose sign path answers with ``handler``."""
    upstream = Upstream(kind)
    upstream.add_route("POST", upstream.path, handler)
    return upstream


def signed_query(signed_url: str) -> str:
    return signed_url.split("?", 1)[1].rpartition("&X-Bogus=")[0]


def upstream_port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def make_remote(serve_fake: ServeFake, metrics: Metrics) -> AsyncIterator[MakeRemote]:
    """Serve an upstream on loopback and start a remote provider of its format pointed at it."""
    started: list[RemoteProvider] = []
    context = provider_context(SETTINGS, metrics, PersonaStore(PERSONA))

    async def make(
        upstream: Upstream,
        *,
        api_key: str | None = KEY,
        timeout_s: float = 2.0,
        path: str = "",
        start: bool = True,
    ) -> RemoteProvider:
        await serve_fake(upstream)
        config = RemoteConfig(
            url=upstream.url(path), format=upstream.kind, api_key=api_key, timeout_s=timeout_s
        )
        provider = RemoteProvider("up", config, context)
        started.append(provider)
        if start:
            await provider.start()
        return provider

    yield make
    for provider in started:
        await provider.aclose()


# -- the three formats


async def test_is_a_provider(make_remote: MakeRemote) -> None:
    """The remote provider satisfies the Provider protocol and says it awaits."""
    provider = await make_remote(Upstream("signtok"))
    assert isinstance(provider, Provider)
    assert provider.awaits is True


async def test_signtok_posts_the_url_as_text(make_remote: MakeRemote) -> None:
    """SignTok gets POST /signature with the URL as its text/plain body."""
    upstream = Upstream("signtok")
    provider = await make_remote(upstream)
    await provider.sign(SignRequest(URL))
    [seen] = upstream.seen
    assert seen.path == "/signature"
    assert seen.headers["Content-Type"].startswith("text/plain")
    assert seen.body == URL


async def test_signtok_signature_verifies(make_remote: MakeRemote) -> None:
    """SignTok's X-Bogus (over the query holding _signature) is verified and passed on."""
    provider = await make_remote(Upstream("signtok"))
    result = await provider.sign(SignRequest(URL))
    query = signed_query(result.signed_url)
    assert query == f"{URL.split('?', 1)[1]}&_signature={SIGNATURE}"
    assert result.x_bogus is not None
    assert xbogus.verify(result.x_bogus, query, "", SIGNTOK_UA)
    assert result.signed_url.endswith(f"&X-Bogus={result.x_bogus}")
    assert result.x_gnarly is None
    assert result.signature == SIGNATURE
    assert result.provider == "up"


async def test_query_carrying_an_x_bogus_is_checked_as_signed(make_remote: MakeRemote) -> None:
    """An X-Bogus already in the query is part of what the upstream's (last) X-Bogus signs."""
    provider = await make_remote(Upstream("signtok"))
    result = await provider.sign(SignRequest(URL + "&X-Bogus=stale"))
    query = result.signed_url.split("?", 1)[1].rsplit("&X-Bogus=", 1)[0]
    assert query == f"{URL.split('?', 1)[1]}&X-Bogus=stale&_signature={SIGNATURE}"
    assert result.x_bogus is not None
    assert xbogus.verify(result.x_bogus, query, "", SIGNTOK_UA)


async def test_the_services_x_tt_params_replaces_the_upstreams(
    serve_fake: ServeFake, aiohttp_client: Any
) -> None:
    """Through the app, x-tt-params is ours: over SignTok's signed query and its X-Bogus."""
    answer = signtok_answer(URL)
    answer["data"]["x-tt-params"] = xttparams.for_query("aid=1988")
    upstream = await serve_fake(Upstream("signtok", answer=answer))
    settings = Settings(
        providers=("up",),
        remotes={"up": RemoteConfig(url=upstream.url(), format="signtok")},
    )
    client = await aiohttp_client(make_app(settings))
    response = await client.post("/signature", data=URL, headers={"Content-Type": "text/plain"})
    data = (await response.json())["data"]
    assert data["provider"] == "up"
    assert xttparams.decrypt(data["x-tt-params"]) == (
        f"{URL.split('?', 1)[1]}&_signature={SIGNATURE}&X-Bogus={data['x-bogus']}&is_encryption=1"
    )


async def test_signtok_user_agent_and_navigator_are_the_upstreams(
    make_remote: MakeRemote,
) -> None:
    """The result carries the UA SignTok signed as and the navigator it reported."""
    provider = await make_remote(Upstream("signtok"))
    result = await provider.sign(SignRequest(URL))
    assert result.user_agent == SIGNTOK_UA
    assert result.navigator.user_agent == SIGNTOK_UA
    assert result.navigator.platform == "Linux x86_64"


async def test_carcabot_posts_json_with_the_personas_user_agent(make_remote: MakeRemote) -> None:
    """The carcabot format posts JSON {url, userAgent}; without a caller UA it is the persona's."""
    upstream = Upstream("carcabot")
    provider = await make_remote(upstream)
    await provider.sign(SignRequest(URL))
    [seen] = upstream.seen
    assert seen.path == "/signature"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body == f'{{"url":"{URL}","userAgent":"{PERSONA.user_agent}"}}'


async def test_carcabot_signs_with_the_callers_user_agent(make_remote: MakeRemote) -> None:
    """A caller's UA is sent to carcabot, and both signatures hash it."""
    provider = await make_remote(Upstream("carcabot"))
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"
    result = await provider.sign(SignRequest(URL, user_agent=ua))
    query = signed_query(result.signed_url)
    assert result.user_agent == ua
    assert result.x_bogus is not None
    assert xbogus.verify(result.x_bogus, query, "", ua)
    assert result.x_gnarly is not None
    record = xgnarly.decode(result.x_gnarly)
    assert (record.get(3), record.get(4), record.get(5)) == (md5(query), md5(""), md5(ua))


async def test_carcabot_ms_token_is_the_one_in_the_signed_url(make_remote: MakeRemote) -> None:
    """The msToken reported is the last one of the signed URL (carcabot's)."""
    provider = await make_remote(Upstream("carcabot"))
    result = await provider.sign(SignRequest(URL))
    assert result.ms_token == CARCABOT_TOKEN


async def test_carcabot_navigator_values_replace_the_personas(make_remote: MakeRemote) -> None:
    provider = await make_remote(Upstream("carcabot"))
    result = await provider.sign(SignRequest(URL))
    assert result.navigator == Navigator(
        user_agent=PERSONA.user_agent,
        language="en-GB",
        platform="MacIntel",
        os=PERSONA.os,
        screen_width=PERSONA.screen_width,
        screen_height=PERSONA.screen_height,
        device_scale_factor=2,
    )


def test_upstream_navigator_values_that_make_no_sense_are_the_personas() -> None:
    """Empty, mistyped, absurd or unprintable values of an upstream keep the persona's."""
    persona = PERSONA.navigator()
    nonsense = {
        "browser_language": "",
        "browser_platform": 5,
        "os": "mac\n",
        "screen_width": True,
        "screen_height": -1,
        "deviceScaleFactor": float("nan"),
        "user_agent": "Mozilla/5.0 other",
    }
    assert read_navigator(nonsense, persona) == persona


def test_upstream_navigator_sizes_are_taken() -> None:
    """An upstream's screen size, scale and OS replace the persona's."""
    data = {"screen_width": 1440, "screen_height": 900, "deviceScaleFactor": 2.5, "os": "mac"}
    navigator = read_navigator(data, PERSONA.navigator())
    assert (navigator.screen_width, navigator.screen_height) == (1440, 900)
    assert (navigator.device_scale_factor, navigator.os) == (2.5, "mac")


async def test_euler_posts_sign_url_with_key_method_and_payload(make_remote: MakeRemote) -> None:
    """Euler gets POST /webcast/sign_url with X-Api-Key and {url, userAgent, method, ...}."""
    upstream = Upstream("euler")
    provider = await make_remote(upstream)
    await provider.sign(SignRequest(URL, method="POST", body='{"a":1}'))
    [seen] = upstream.seen
    assert seen.path == "/webcast/sign_url"
    assert seen.headers["X-Api-Key"] == KEY
    assert seen.body == (
        f'{{"url":"{URL}","userAgent":"{PERSONA.user_agent}","method":"POST",'
        '"type":"fetch","payload":"{\\"a\\":1}"}'
    )


async def test_euler_signs_a_body(make_remote: MakeRemote) -> None:
    """Euler's signatures over a POST body verify; msToken and navigator come with them."""
    provider = await make_remote(Upstream("euler"))
    body = '{"a":1}'
    result = await provider.sign(SignRequest(URL, method="POST", body=body))
    query = signed_query(result.signed_url)
    assert result.x_bogus is not None
    assert xbogus.verify(result.x_bogus, query, body, PERSONA.user_agent)
    assert result.x_gnarly is not None
    assert xgnarly.decode(result.x_gnarly).get(4) == md5(body)
    assert result.ms_token == EULER_TOKEN
    assert result.navigator == PERSONA.navigator(PERSONA.user_agent)


@pytest.mark.parametrize("fmt", ["signtok", "carcabot"])
async def test_api_key_is_sent_to_every_format(make_remote: MakeRemote, fmt: Format) -> None:
    """A configured key goes in X-Api-Key for SignTok and carcabot too."""
    upstream = Upstream(fmt)
    provider = await make_remote(upstream)
    await provider.sign(SignRequest(URL))
    assert upstream.seen[0].headers["X-Api-Key"] == KEY


async def test_no_key_header_without_a_key(make_remote: MakeRemote) -> None:
    """Without a configured key no X-Api-Key header is sent."""
    upstream = Upstream("signtok")
    provider = await make_remote(upstream, api_key=None)
    await provider.sign(SignRequest(URL))
    assert "X-Api-Key" not in upstream.seen[0].headers


# -- msToken and bodies


async def test_callers_ms_token_is_sent_and_reported(make_remote: MakeRemote) -> None:
    """A caller's msToken is appended to the URL sent, and it is the one signed."""
    upstream = Upstream("signtok")
    provider = await make_remote(upstream)
    result = await provider.sign(SignRequest(URL, ms_token="caller-token"))
    assert upstream.seen[0].body == f"{URL}&msToken=caller-token"
    assert result.ms_token == "caller-token"


async def test_upstream_with_its_own_ms_token_declines(make_remote: MakeRemote) -> None:
    """When the upstream signs with another msToken than the caller's, the provider declines."""
    provider = await make_remote(Upstream("carcabot"))
    with pytest.raises(ProviderDeclined, match="its own msToken"):
        await provider.sign(SignRequest(URL, ms_token="caller-token"))


async def test_the_urls_ms_token_is_the_one_that_must_be_signed(make_remote: MakeRemote) -> None:
    """Without an explicit token the URL's last msToken is asked for; another one declines."""
    upstream = Upstream("carcabot")
    provider = await make_remote(upstream)
    with pytest.raises(ProviderDeclined, match="its own msToken"):
        await provider.sign(SignRequest(f"{URL}&msToken=url-token"))
    assert upstream.seen[0].body.startswith(f'{{"url":"{URL}&msToken=url-token",')


async def test_upstream_signing_as_another_user_agent_declines(make_remote: MakeRemote) -> None:
    """A caller's UA that the upstream did not sign as (SignTok has one of its own) declines."""
    provider = await make_remote(Upstream("signtok"))
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"
    with pytest.raises(ProviderDeclined, match="another user agent"):
        await provider.sign(SignRequest(URL, user_agent=ua))
    assert provider.health().details["failures"] == 0


async def test_signtok_declines_a_body(make_remote: MakeRemote) -> None:
    """SignTok hashes no body, so a request with one is declined without asking it."""
    upstream = Upstream("signtok")
    provider = await make_remote(upstream)
    with pytest.raises(ProviderDeclined, match="request bodies"):
        await provider.sign(SignRequest(URL, method="POST", body="{}"))
    assert upstream.seen == []


# -- answers that must not be trusted


def _garbage_bogus(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer["data"]
    data["signed_url"] = data["signed_url"].replace(data["X-Bogus"], "DFSzswVOgarbage")
    data["X-Bogus"] = "DFSzswVOgarbage"
    return answer


@pytest.mark.parametrize(
    ("case", "answer"),
    [
        ("garbage", lambda: _garbage_bogus(signtok_answer(URL))),
        ("over another query", lambda: signtok_answer(URL, hashed="aid=1988")),
        (
            "over the query without _signature",
            lambda: signtok_answer(URL, hashed=URL.split("?", 1)[1]),
        ),
    ],
)
async def test_bad_x_bogus_is_refused(
    make_remote: MakeRemote, case: str, answer: Callable[[], dict[str, Any]]
) -> None:
    """An X-Bogus that does not decode or re-encode is SelfCheckFailed (the chain counts it)."""
    provider = await make_remote(Upstream("signtok", answer=answer()))
    with pytest.raises(SelfCheckFailed, match=r"remote up .*X-Bogus"):
        await provider.sign(SignRequest(URL))
    assert provider.health().details["failures"] == 1, case


async def test_x_bogus_field_must_match_the_signed_urls(make_remote: MakeRemote) -> None:
    """A genuine-looking X-Bogus field that differs from the URL's is refused."""
    answer = signtok_answer(URL)
    answer["data"]["X-Bogus"] = signtok_answer(URL, hashed="other")["data"]["X-Bogus"]
    provider = await make_remote(Upstream("signtok", answer=answer))
    with pytest.raises(SelfCheckFailed, match="not the signed URL's"):
        await provider.sign(SignRequest(URL))


async def test_x_gnarly_over_another_query_is_refused(make_remote: MakeRemote) -> None:
    """An X-Gnarly that hashes another query than the signed one is refused."""
    answer = carcabot_answer(URL, PERSONA.user_agent, gnarly_over="aid=1988")
    provider = await make_remote(Upstream("carcabot", answer=answer))
    with pytest.raises(SelfCheckFailed, match="X-Gnarly does not hash"):
        await provider.sign(SignRequest(URL))


async def test_signed_url_to_another_host_is_refused(make_remote: MakeRemote) -> None:
    """A genuinely signed URL that goes elsewhere than the requested endpoint is refused."""
    answer = signtok_answer(URL.replace("www.tiktok.com", "evil.example"))
    provider = await make_remote(Upstream("signtok", answer=answer))
    with pytest.raises(SelfCheckFailed, match="scheme, host and path"):
        await provider.sign(SignRequest(URL))


async def test_unsigned_parameters_after_x_bogus_are_refused(make_remote: MakeRemote) -> None:
    """Parameters appended after the signatures (not covered by them) are refused."""
    answer = signtok_answer(URL)
    answer["data"]["signed_url"] += "&redirect=https://evil.example"
    provider = await make_remote(Upstream("signtok", answer=answer))
    with pytest.raises(SelfCheckFailed, match="does not sign"):
        await provider.sign(SignRequest(URL))


def _tampered(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    answer = carcabot_answer(URL, PERSONA.user_agent)
    change(answer["data"])
    return answer


def _strip_x_bogus(data: dict[str, Any]) -> None:
    data["signed_url"] = data["signed_url"].split("&X-Bogus=")[0]


def _other_gnarly_field(data: dict[str, Any]) -> None:
    data["x-gnarly"] = sign_gnarly("aid=1", "", PERSONA.user_agent)


def _garbage_gnarly(data: dict[str, Any]) -> None:
    data["signed_url"] = data["signed_url"].replace(data.pop("x-gnarly"), "u09tbS3U")


def _garbage_tt_params(data: dict[str, Any]) -> None:
    data["x-tt-params"] = "bm90IGFlcw=="


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_strip_x_bogus, "carries no X-Bogus"),
        (_other_gnarly_field, "X-Gnarly is not the signed URL's"),
        (_garbage_gnarly, "X-Gnarly does not decode"),
        (_garbage_tt_params, "x-tt-params does not decrypt"),
    ],
    ids=["no X-Bogus", "X-Gnarly field differs", "X-Gnarly garbage", "x-tt-params garbage"],
)
async def test_other_untrustworthy_answers_are_refused(
    make_remote: MakeRemote, change: Callable[[dict[str, Any]], None], reason: str
) -> None:
    """A missing X-Bogus, a mismatched or undecodable X-Gnarly, bad x-tt-params: refused."""
    provider = await make_remote(Upstream("carcabot", answer=_tampered(change)))
    with pytest.raises(SelfCheckFailed, match=reason):
        await provider.sign(SignRequest(URL))


async def test_url_without_query_signs_with_x_bogus_first(make_remote: MakeRemote) -> None:
    """A URL with no query comes back as ``?X-Bogus=...``, signed over the empty query."""
    bare = "https://www.tiktok.com/api/recommend/"
    token = sign_bogus("", "", SIGNTOK_UA)
    answer = {"status": "ok", "data": {"signed_url": f"{bare}?X-Bogus={token}"}}
    provider = await make_remote(Upstream("signtok", answer=answer))
    result = await provider.sign(SignRequest(bare, user_agent=SIGNTOK_UA))
    assert (result.x_bogus, result.ms_token) == (token, "")
    assert result.navigator == PERSONA.navigator(SIGNTOK_UA)


# -- failures of the exchange


async def test_hanging_upstream_times_out(make_remote: MakeRemote) -> None:
    """An upstream that does not answer within timeout_s fails fast and says so."""
    provider = await make_remote(Upstream("signtok", "hang"), timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match=r"remote up .*no answer within 0\.2 s"):
        await provider.sign(SignRequest(URL))
    assert time.monotonic() - started < 1.0


async def test_unreachable_upstream_is_unavailable(unused_tcp_port: int, metrics: Metrics) -> None:
    """A refused connection is ProviderUnavailable naming the remote's origin."""
    port = unused_tcp_port
    config = RemoteConfig(url=f"http://127.0.0.1:{port}", format="signtok")
    provider = RemoteProvider(
        "down", config, provider_context(SETTINGS, metrics, PersonaStore(PERSONA))
    )
    await provider.start()
    try:
        with pytest.raises(ProviderUnavailable, match=f"remote down \\(http://127.0.0.1:{port}\\)"):
            await provider.sign(SignRequest(URL))
    finally:
        await provider.aclose()


async def test_http_500_carries_the_upstreams_message(make_remote: MakeRemote) -> None:
    """An HTTP 500 is an UpstreamError quoting the upstream's text."""
    provider = await make_remote(Upstream("carcabot", "http_500"))
    with pytest.raises(UpstreamError, match="HTTP 500: Internal Server Error: browser crashed"):
        await provider.sign(SignRequest(URL))


async def test_non_json_answer_is_an_upstream_error(make_remote: MakeRemote) -> None:
    """An HTTP 200 that is not JSON is an UpstreamError saying so."""
    provider = await make_remote(Upstream("signtok", "not_json"))
    with pytest.raises(UpstreamError, match="not JSON: <html>login</html>"):
        await provider.sign(SignRequest(URL))


async def test_signtok_error_body_is_an_upstream_error(make_remote: MakeRemote) -> None:
    """SignTok's HTTP 200 {"status": "error"} answer surfaces with its message."""
    upstream = Upstream("signtok")
    provider = await make_remote(upstream)
    with pytest.raises(UpstreamError, match="answered an error: There was an error processing"):
        await provider.sign(SignRequest("http://www.tiktok.com/api/post/item_list/?aid=1988"))


async def test_answer_without_signed_url_is_an_upstream_error(make_remote: MakeRemote) -> None:
    """An 'ok' answer of the wrong shape is an UpstreamError naming what is missing."""
    provider = await make_remote(Upstream("carcabot", answer={"status": "ok", "data": {}}))
    with pytest.raises(UpstreamError, match="no 'signed_url'"):
        await provider.sign(SignRequest(URL))


@pytest.mark.parametrize(
    ("fmt", "payload", "reason"),
    [
        ("signtok", [], "not a JSON object"),
        ("signtok", {"data": {}}, 'not a {"status": "ok"'),
        ("signtok", {"status": "ok", "data": "x"}, "no 'data' object"),
        ("signtok", {"status": "ok", "data": {"signed_url": 1}}, "'signed_url' is not a string"),
        ("carcabot", {"status": "ok", "data": {"signed_url": URL, "navigator": []}}, "navigator"),
        ("euler", "ok", "not a JSON object"),
        ("euler", {"code": 429, "message": "slow down"}, "answered code 429: slow down"),
        ("euler", {"code": 200}, "no 'response' object"),
        ("euler", {"code": 200, "response": {}}, "no 'signedUrl'"),
        ("euler", {"code": 200, "response": {"signedUrl": URL, "tokens": 1}}, "'tokens'"),
    ],
)
async def test_answer_of_the_wrong_shape_is_an_upstream_error(
    make_remote: MakeRemote, fmt: Format, payload: Any, reason: str
) -> None:
    """An HTTP 200 JSON answer that is not the format's envelope names what is wrong."""
    provider = await make_remote(Upstream(fmt, answer=payload))
    with pytest.raises(UpstreamError, match=re.escape(reason)):
        await provider.sign(SignRequest(URL))


async def test_a_peer_signers_error_message_is_quoted(make_remote: MakeRemote) -> None:
    """Another tiktok-signer's error JSON ({"error": {"message"}}) surfaces with its message."""
    error = {"status": "error", "error": {"code": "invalid_url", "message": "bad URL"}}

    async def handle(_request: web.Request) -> web.StreamResponse:
        return web.json_response(error, status=400)

    provider = await make_remote(serving("carcabot", handle))
    with pytest.raises(UpstreamError, match="HTTP 400: bad URL"):
        await provider.sign(SignRequest(URL))


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_oversized_answer_is_refused(make_remote: MakeRemote, declared: bool) -> None:
    """An answer past the size limit is refused, declared or streamed."""

    async def huge(request: web.Request) -> web.StreamResponse:
        chunk = b" " * 65536
        response = web.StreamResponse()
        if declared:
            response.content_length = MAX_RESPONSE_BYTES + len(chunk)
        await response.prepare(request)
        for _ in range(MAX_RESPONSE_BYTES // len(chunk) + 1):
            await response.write(chunk)
        return response

    provider = await make_remote(serving("signtok", huge))
    with pytest.raises(UpstreamError, match="more than 256 KiB"):
        await provider.sign(SignRequest(URL))


async def test_redirect_to_another_host_is_not_followed(
    make_remote: MakeRemote, serve_fake: ServeFake
) -> None:
    """A 307 to another host is refused; the other host never sees the key."""
    elsewhere = await serve_fake(Upstream("signtok"))
    port = upstream_port(elsewhere.origin)

    async def redirect(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(f"http://localhost:{port}/signature")

    provider = await make_remote(serving("signtok", redirect))
    with pytest.raises(UpstreamError, match=r"redirected to another host \(localhost\)"):
        await provider.sign(SignRequest(URL))
    assert elsewhere.seen == []


@pytest.mark.parametrize(
    ("status", "location", "reason"),
    [
        (302, "/v2/signature", "HTTP 302 (redirect not followed)"),
        (307, "/signature", "redirected more than 3 times"),
    ],
    ids=["302", "loop"],
)
async def test_other_redirects_are_not_followed(
    make_remote: MakeRemote, status: int, location: str, reason: str
) -> None:
    """Redirects that would change the method, and redirect loops, end in an error."""

    async def redirect(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    provider = await make_remote(serving("signtok", redirect))
    with pytest.raises(UpstreamError, match=re.escape(reason)):
        await provider.sign(SignRequest(URL))


async def test_redirect_within_the_host_is_followed(make_remote: MakeRemote) -> None:
    """A 307 to another path of the same host is followed with the same body and key."""

    async def moved(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/v2/signature")

    upstream = serving("signtok", moved)
    provider = await make_remote(upstream)
    result = await provider.sign(SignRequest(URL))
    assert result.signature == SIGNATURE
    [redirected, seen] = upstream.seen
    assert redirected.path == "/signature"
    assert (seen.path, seen.body, seen.headers["X-Api-Key"]) == ("/v2/signature", URL, KEY)


# -- the API key stays secret


async def test_wrong_euler_key_is_401_without_the_key(make_remote: MakeRemote) -> None:
    """A refused key surfaces as HTTP 401, with the echoed key blanked out."""
    wrong = "wrong_k3y_c2VjcmV0"
    provider = await make_remote(Upstream("euler"), api_key=wrong)
    with pytest.raises(UpstreamError) as caught:
        await provider.sign(SignRequest(URL))
    message = caught.value.message
    assert "HTTP 401: Invalid API key '***'" in message
    assert wrong not in message
    assert wrong not in str(provider.health())


@pytest.mark.parametrize("padding", [0, 230, 240, 5000])
async def test_no_part_of_an_echoed_key_survives(make_remote: MakeRemote, padding: int) -> None:
    """However long the upstream's message, neither the key nor a piece of it is quoted."""

    async def echo(request: web.Request) -> web.StreamResponse:
        text = "x" * padding + request.headers["X-Api-Key"] + "\n trailer"
        return web.json_response({"code": 403, "message": text}, status=403)

    provider = await make_remote(serving("euler", echo))
    with pytest.raises(UpstreamError) as caught:
        await provider.sign(SignRequest(URL))
    message = caught.value.message
    assert message.startswith("remote up (http://127.0.0.1:")
    assert len(message) <= 303
    assert KEY[:6] not in message
    assert "\n" not in message


async def test_api_key_never_reaches_the_logs(make_remote: MakeRemote) -> None:
    """Neither a success nor a refused key logs the key."""
    wrong = "wrong_k3y_c2VjcmV0"
    with structlog.testing.capture_logs() as logs:
        good = await make_remote(Upstream("euler"))
        await good.sign(SignRequest(URL))
        bad = await make_remote(Upstream("euler"), api_key=wrong)
        with pytest.raises(UpstreamError):
            await bad.sign(SignRequest(URL))
    assert [entry["event"] for entry in logs] == ["remote_ready", "remote_ready", "remote_failed"]
    assert "HTTP 401" in logs[-1]["reason"]
    assert KEY not in repr(logs)
    assert wrong not in repr(logs)


# -- lifecycle and health


async def test_sign_before_start_is_unavailable(make_remote: MakeRemote) -> None:
    """Signing before start() is ProviderUnavailable, not a crash."""
    provider = await make_remote(Upstream("signtok"), start=False)
    with pytest.raises(ProviderUnavailable, match="not started"):
        await provider.sign(SignRequest(URL))


async def test_health_follows_the_lifecycle(make_remote: MakeRemote) -> None:
    """Stopped before start, ready after it, stopped again after aclose."""
    provider = await make_remote(Upstream("signtok"), start=False)
    assert provider.health().state == "stopped"
    await provider.start()
    assert provider.health().state == "ready"
    await provider.aclose()
    assert provider.health().state == "stopped"


async def test_health_counts_and_shows_only_the_origin(make_remote: MakeRemote) -> None:
    """Details: format, the URL without its path, requests and failures; the last error."""
    upstream = Upstream("signtok")
    provider = await make_remote(upstream, path="/private-prefix-x1")
    await provider.sign(SignRequest(URL))
    with pytest.raises(ProviderError):
        await provider.sign(SignRequest("http://www.tiktok.com/api/?a=1"))
    health = provider.health()
    assert upstream.seen[0].path == "/private-prefix-x1/signature"
    port = upstream_port(health.details["url"])
    assert health.details == {
        "format": "signtok",
        "url": f"http://127.0.0.1:{port}",
        "requests": 2,
        "failures": 1,
    }
    assert "private" not in str(health)
    assert health.last_error is not None
    assert "answered an error" in health.last_error


# -- several remotes


async def test_two_remotes_from_the_registry_both_sign(serve_fake: ServeFake) -> None:
    """Two remotes configured by name are built, started and sign each through its upstream."""
    signtok = await serve_fake(Upstream("signtok"))
    carcabot = await serve_fake(Upstream("carcabot"))
    settings = Settings(
        providers=("up1", "up2", "native"),
        remotes={
            "up1": RemoteConfig(url=signtok.origin, format="signtok"),
            "up2": RemoteConfig(url=carcabot.origin, format="carcabot", api_key=KEY),
        },
    )
    providers = registry.build(settings.providers, provider_context(settings, Metrics()))
    assert [provider.name for provider in providers] == ["up1", "up2", "native"]
    for provider in providers:
        await provider.start()
    try:
        first = await providers[0].sign(SignRequest(URL))
        second = await providers[1].sign(SignRequest(URL))
    finally:
        for provider in providers:
            await provider.aclose()
    assert (first.provider, first.signature) == ("up1", SIGNATURE)
    assert (second.provider, second.ms_token) == ("up2", CARCABOT_TOKEN)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@signer.example:8443/k3y/path", "https://signer.example:8443"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
        ("https://signer.example", "https://signer.example"),
    ],
)
def test_origin_shows_no_path_or_userinfo(url: str, shown: str) -> None:
    """What health and messages show of a remote's URL: scheme, host and port only."""
    assert origin(url) == shown


@pytest.mark.parametrize("fmt", ["signtok", "carcabot"])
async def test_our_own_service_is_a_usable_upstream(
    make_client: MakeClient, metrics: Metrics, fmt: Format
) -> None:
    """A peer tiktok-signer (native provider) answers in a format the remote accepts."""
    peer = await make_client(SETTINGS)
    config = RemoteConfig(url=str(peer.make_url("")), format=fmt)
    provider = RemoteProvider(
        "peer", config, provider_context(SETTINGS, metrics, PersonaStore(PERSONA))
    )
    await provider.start()
    try:
        result = await provider.sign(SignRequest(URL, ms_token="peer-token"))
    finally:
        await provider.aclose()
    assert result.ms_token == "peer-token"
    assert result.x_gnarly is not None
    assert result.navigator == PERSONA.navigator(PERSONA.user_agent)
    # The peer signs like TikTok's 2026 SDK (its default build): X-Dynosaur is passed on.
    assert result.x_bogus == "1"
    assert result.x_dynosaur is not None
    assert f"&X-Dynosaur={result.x_dynosaur}&msToken=peer-token&X-Bogus=1&" in result.signed_url
    assert result.sdk_version == "1.0.0.417"


def euler_2026_answer(url: str, user_agent: str) -> dict[str, Any]:
    """An Euler answer signed like TikTok's 1.0.0.417 SDK (by our native provider)."""
    native = NativeProvider(PersonaStore(persona_from(Settings())))
    signed = native.sign_now(SignRequest(url, user_agent=user_agent, ms_token=EULER_TOKEN))
    return {
        "code": 200,
        "message": "ok",
        "response": {
            "signedUrl": signed.signed_url,
            "userAgent": user_agent,
            "tokens": {
                "msToken": EULER_TOKEN,
                "X-Bogus": signed.x_bogus,
                "X-Gnarly": signed.x_gnarly,
                "X-Dynosaur": signed.x_dynosaur,
            },
        },
    }


async def test_a_2026_upstreams_x_dynosaur_is_passed_through(make_remote: MakeRemote) -> None:
    """An upstream signing like the 2026 SDK: its X-Dynosaur is checked and passed on."""
    answer = euler_2026_answer(URL, PERSONA.user_agent)
    provider = await make_remote(Upstream("euler", answer=answer))
    result = await provider.sign(SignRequest(URL))
    tokens = answer["response"]["tokens"]
    assert (result.x_bogus, result.x_gnarly, result.x_dynosaur) == (
        "1",
        tokens["X-Gnarly"],
        tokens["X-Dynosaur"],
    )
    assert result.sdk_version == "1.0.0.417"
    assert result.signed_url == answer["response"]["signedUrl"]


async def test_a_2026_upstreams_tampered_x_dynosaur_is_refused(make_remote: MakeRemote) -> None:
    """An X-Dynosaur that is not the signed URL's, or that hashes another query, is refused."""
    answer = euler_2026_answer(URL, PERSONA.user_agent)
    answer["response"]["tokens"]["X-Dynosaur"] = euler_2026_answer(
        URL + "&n=1", PERSONA.user_agent
    )["response"]["tokens"]["X-Dynosaur"]
    provider = await make_remote(Upstream("euler", answer=answer))
    with pytest.raises(SelfCheckFailed, match="X-Dynosaur is not the signed URL's"):
        await provider.sign(SignRequest(URL))
    other = euler_2026_answer(URL + "&n=1", PERSONA.user_agent)
    swapped = euler_2026_answer(URL, PERSONA.user_agent)
    mine = swapped["response"]
    foreign = other["response"]["tokens"]["X-Dynosaur"]
    mine["signedUrl"] = mine["signedUrl"].replace(mine["tokens"]["X-Dynosaur"], foreign)
    del mine["tokens"]["X-Dynosaur"]
    provider = await make_remote(Upstream("euler", answer=swapped))
    with pytest.raises(SelfCheckFailed, match="remote up"):
        await provider.sign(SignRequest(URL))

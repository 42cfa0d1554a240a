"""The public routes through the production app factory, on loopback."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import structlog

from providers import selfcheck, xttparams
from providers.errors import SelfCheckFailed
from providers.fake import FakeProvider
from providers.urls import parse_signed
from signer.settings import Settings

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from providers.typing import Persona
    from tests.conftest import MakeClient

    Client = TestClient[Any, Any]

URL = (
    "https://www.tiktok.com/api/post/item_list/?aid=1988&app_name=tiktok_web"
    "&count=35&cursor=0&secUid=MS4wLjABAAAAtest"
)


def signed_params(signed_url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(signed_url).query, keep_blank_values=True)


def verified(data: dict[str, Any], body: str = "") -> selfcheck.Verified:
    """The answer's tokens checked as TikTok's 1.0.0.417 SDK writes them (the default build)."""
    signed = parse_signed(data["signed_url"])
    assert signed is not None
    assert (signed.x_bogus, signed.x_gnarly, signed.x_dynosaur) == (
        data["X-Bogus"],
        data["X-Gnarly"],
        data["X-Dynosaur"],
    )
    result = selfcheck.verify_http(signed, body, data["navigator"]["user_agent"])
    assert result.build == data["sdk_version"] == "1.0.0.417"
    return result


def signed_query_of(data: dict[str, Any]) -> str:
    """What X-Gnarly field 3 hashes: the query up to ``&X-Bogus=``."""
    return str(data["signed_url"].split("?", 1)[1].split("&X-Bogus=", 1)[0])


async def test_health_reports_each_provider(client: Client) -> None:
    """/health lists the configured providers and is ok when all are ready."""
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert [p["name"] for p in body["providers"]] == ["native"]
    assert body["providers"][0]["state"] == "ready"
    assert body["maintenance"] is False
    assert body["uptime_s"] >= 0


async def test_signature_text_plain_signs_the_url(client: Client) -> None:
    """SignTok form: a text/plain URL gives the default build's tokens over its query."""
    response = await client.post("/signature", data=URL, headers={"Content-Type": "text/plain"})
    assert response.status == 200
    body = await response.json()
    data = body["data"]
    assert body["status"] == "ok"
    assert data["X-Bogus"] == data["x-bogus"] == "1"
    assert data["X-Gnarly"] == data["x-gnarly"]
    assert data["X-Dynosaur"] == data["x-dynosaur"]
    signed_query = signed_query_of(data)
    assert signed_query.endswith("&msToken=")
    token = verified(data).x_gnarly
    assert token is not None
    assert token.get(3) == hashlib.md5(signed_query.encode()).hexdigest()
    assert data["signature"] is None
    assert isinstance(body["response_time_ms"], float)


async def test_signed_url_keeps_the_query_and_appends_in_sdk_order(client: Client) -> None:
    """The signed URL is the original query + X-Dynosaur, msToken, X-Bogus, X-Gnarly."""
    response = await client.post("/signature", data=URL, headers={"Content-Type": "text/plain"})
    data = (await response.json())["data"]
    params = signed_params(data["signed_url"])
    original = parse_qsl(urlsplit(URL).query)
    assert params[: len(original)] == original
    appended = [name for name, _ in params[len(original) :]]
    assert appended == ["X-Dynosaur", "msToken", "X-Bogus", "X-Gnarly"]
    assert data["signed_url"].startswith("https://www.tiktok.com/api/post/item_list/?")


async def test_signature_json_carcabot_form_uses_given_user_agent(client: Client) -> None:
    """The carcabot form: JSON {url, userAgent}; the navigator and hashes use that UA."""
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"
    response = await client.post("/signature", json={"url": URL, "userAgent": ua})
    data = (await response.json())["data"]
    assert data["navigator"]["user_agent"] == ua
    assert data["navigator"]["browser_version"] == ua.removeprefix("Mozilla/")
    token = verified(data).x_gnarly
    assert token is not None
    assert token.get(5) == hashlib.md5(ua.encode()).hexdigest()


async def test_ms_token_in_url_is_appended_again(client: Client) -> None:
    """As the SDK does: the URL's msToken is re-appended, and it is what's returned."""
    response = await client.post(
        "/signature", data=URL + "&msToken=abc", headers={"Content-Type": "text/plain"}
    )
    data = (await response.json())["data"]
    assert data["msToken"] == "abc"
    assert "&msToken=abc&X-Dynosaur=" in data["signed_url"]
    assert "&msToken=abc&X-Bogus=1&X-Gnarly=" in data["signed_url"]


async def test_sign_post_with_body_and_explicit_token(client: Client) -> None:
    """/sign: the body is hashed into both tokens and the given msToken is appended."""
    body = '{"aweme_id":"7300000000000000000","type":1}'
    response = await client.post(
        "/sign",
        json={"url": URL, "method": "post", "body": body, "ms_token": "tok_1"},
    )
    assert response.status == 200
    data = (await response.json())["data"]
    assert signed_query_of(data).endswith("&msToken=tok_1")
    token = verified(data, body).x_gnarly
    assert token is not None
    assert token.get(4) == hashlib.md5(body.encode()).hexdigest()
    with pytest.raises(SelfCheckFailed):
        verified(data, "")


async def test_sign_room_url(client: Client) -> None:
    """/sign takes {room_url} as the URL to sign."""
    room = "https://webcast.tiktok.com/webcast/room/info/?aid=1988&room_id=7300000000000000001"
    response = await client.post("/sign", json={"room_url": room})
    data = (await response.json())["data"]
    assert data["signed_url"].startswith(room + "&X-Dynosaur=")
    assert "&msToken=&X-Bogus=1&X-Gnarly=" in data["signed_url"]
    verified(data)


async def test_sign_non_ascii_query_is_percent_encoded_like_a_browser(client: Client) -> None:
    """A raw non-ASCII query is signed as Chromium sends it (UTF-8 percent-encoded)."""
    response = await client.post(
        "/sign", json={"url": "https://www.tiktok.com/api/search/?aid=1988&keyword=café"}
    )
    data = (await response.json())["data"]
    assert "keyword=caf%C3%A9&X-Dynosaur=" in data["signed_url"]
    verified(data)


async def test_navigator_matches_the_persona(client: Client, persona: Persona) -> None:
    """The navigator object carries the persona the signatures were made with."""
    response = await client.post("/sign", json={"url": URL})
    navigator = (await response.json())["data"]["navigator"]
    assert navigator == {
        "deviceScaleFactor": persona.device_scale_factor,
        "user_agent": persona.user_agent,
        "browser_language": persona.language,
        "browser_platform": persona.platform,
        "browser_name": "Mozilla",
        "browser_version": persona.user_agent.removeprefix("Mozilla/"),
        "os": persona.os,
        "screen_width": persona.screen_width,
        "screen_height": persona.screen_height,
    }
    response = await client.post("/sign", json={"url": URL})
    result = verified((await response.json())["data"])
    assert (result.flags, result.canvas) == (persona.flags, persona.canvas)


async def test_request_id_is_echoed_and_generated(client: Client) -> None:
    """A valid X-Request-Id comes back; without one, one is generated."""
    response = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    generated = (await client.get("/health")).headers["X-Request-Id"]
    assert len(generated) == 24
    assert generated != (await client.get("/health")).headers["X-Request-Id"]
    replaced = await client.get("/health", headers={"X-Request-Id": "bad id\twith space"})
    assert replaced.headers["X-Request-Id"] != "bad id\twith space"


async def test_one_log_line_per_sign_request(client: Client) -> None:
    """Each request logs one 'request' event with its id, route, status and provider."""
    with structlog.testing.capture_logs() as logs:
        await client.post("/sign", json={"url": URL}, headers={"X-Request-Id": "rid-1"})
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "rid-1"
    assert line["route"] == "/sign"
    assert line["status"] == 200
    assert line["provider"] == "native"
    assert line["attempts"] == 1
    assert "failed" not in line
    assert "msToken" not in repr(logs)


async def test_metrics_count_requests_and_signatures(client: Client) -> None:
    """/metrics exposes request counts, sign latency and provider state."""
    await client.post("/sign", json={"url": URL})
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert 'signer_http_requests_total{method="POST",route="/sign",status="200"} 1.0' in text
    assert 'signer_sign_duration_seconds_count{kind="http",provider="native"} 1.0' in text
    assert 'signer_provider_state{provider="native",state="ready"} 1.0' in text
    assert "signer_build_info{version=" in text


async def test_each_app_has_its_own_registry(make_client: MakeClient) -> None:
    """Two apps in one process do not share counters."""
    first = await make_client()
    second = await make_client()
    await first.post("/sign", json={"url": URL})
    text = await (await second.get("/metrics")).text()
    assert 'route="/sign"' not in text


async def test_x_tt_params_is_the_signed_query_up_to_x_bogus(client: Client) -> None:
    """x-tt-params decrypts to the query as signed, X-Dynosaur to X-Bogus included."""
    response = await client.post("/sign", json={"url": URL, "ms_token": "t"})
    data = (await response.json())["data"]
    query = urlsplit(URL).query
    assert xttparams.decrypt(data["x-tt-params"]) == (
        f"{query}&X-Dynosaur={data['X-Dynosaur']}&msToken=t&X-Bogus=1&is_encryption=1"
    )


async def test_x_tt_params_comes_with_any_provider(
    make_client: MakeClient, persona: Persona
) -> None:
    """A provider that computes no x-tt-params (the fake) still gets it in the answer."""
    client = await make_client(Settings(), [FakeProvider("only", persona)])
    response = await client.post("/sign", json={"url": URL})
    data = (await response.json())["data"]
    assert data["provider"] == "only"
    assert xttparams.decrypt(data["x-tt-params"]) == (
        f"{urlsplit(URL).query}&msToken=&X-Bogus={data['x-bogus']}&is_encryption=1"
    )


async def test_provider_override_signs_with_that_provider(
    make_client: MakeClient, persona: Persona
) -> None:
    """/sign {"provider"} uses that provider alone, even when an earlier one works."""
    providers = [FakeProvider("first", persona), FakeProvider("second", persona)]
    client = await make_client(Settings(), providers)
    response = await client.post("/sign", json={"url": URL, "provider": "second"})
    assert (await response.json())["data"]["provider"] == "second"
    assert (providers[0].calls, providers[1].calls) == (0, 1)


async def test_failing_provider_falls_back_to_next(
    make_client: MakeClient, persona: Persona
) -> None:
    """A provider that raises is skipped; the next one answers and the log says why."""
    providers = [FakeProvider("broken", persona, "fail"), FakeProvider("spare", persona)]
    client = await make_client(Settings(), providers)
    with structlog.testing.capture_logs() as logs:
        response = await client.post("/sign", json={"url": URL})
    assert (await response.json())["data"]["provider"] == "spare"
    line = next(entry for entry in logs if entry["event"] == "request")
    assert line["attempts"] == 2
    (first,) = line["failed"]
    assert (first.provider, first.ok, first.code) == ("broken", False, "provider_error")
    assert first.cause == "broken was told to fail"


async def test_all_providers_failing_gives_503_with_causes(
    make_client: MakeClient, persona: Persona
) -> None:
    """When every provider fails the answer is 503 listing each provider's cause."""
    providers = [
        FakeProvider("broken", persona, "fail"),
        FakeProvider("crashy", persona, "crash"),
        FakeProvider("stuck", persona, "hang"),
    ]
    client = await make_client(Settings(sign_timeout_s=0.05), providers)
    response = await client.post("/sign", json={"url": URL})
    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "all_providers_failed"
    assert [(c["provider"], c["code"]) for c in error["causes"]] == [
        ("broken", "provider_error"),
        ("crashy", "crash"),
        ("stuck", "timeout"),
    ]


async def test_health_is_down_when_no_provider_can_sign(
    make_client: MakeClient, persona: Persona
) -> None:
    """/health answers 503 "down" when no provider is ready."""
    client = await make_client(Settings(), [FakeProvider("broken", persona, "fail")])
    response = await client.get("/health")
    assert response.status == 503
    assert (await response.json())["status"] == "down"


async def test_providers_start_and_stop_with_the_app(
    make_client: MakeClient, persona: Persona
) -> None:
    """Providers are started before serving and closed on shutdown (cleanup_ctx)."""
    provider = FakeProvider("only", persona)
    client = await make_client(Settings(), [provider])
    assert provider.started
    await client.close()
    assert provider.closed

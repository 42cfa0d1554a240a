"""The operator API and maintenance mode, through the production app factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import structlog

from providers.config import RemoteConfig
from providers.fake import FakeProvider
from signer.settings import Settings
from tests.fakes.upstreams import Upstream

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from providers.typing import Persona
    from tests.conftest import MakeClient, ServeFake

    Client = TestClient[Any, Any]

ADMIN_KEY = "admin-secret-123"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
URL = "https://www.tiktok.com/api/post/item_list/?aid=1988"
SETTINGS = Settings(providers=("native",), admin_key=ADMIN_KEY)


@pytest.fixture
def fakes(persona: Persona) -> list[FakeProvider]:
    return [FakeProvider("first", persona), FakeProvider("second", persona)]


@pytest.fixture
async def admin_client(make_client: MakeClient, fakes: list[FakeProvider]) -> Client:
    """The app with the admin key set and two fake providers."""
    return await make_client(SETTINGS, fakes)


async def test_admin_routes_absent_without_admin_key(client: Client) -> None:
    """Without SIGNER_ADMIN_KEY, /admin does not exist (404)."""
    response = await client.get("/admin/state", headers=ADMIN)
    assert response.status == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Admin-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"X-Api-Key": ADMIN_KEY}],
)
async def test_admin_needs_the_admin_key(admin_client: Client, headers: dict[str, str]) -> None:
    """No key, a wrong key, or the key in the client-key header: 401."""
    response = await admin_client.get("/admin/state", headers=headers)
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "invalid_admin_key"
    assert ADMIN_KEY not in await response.text()


async def test_bearer_admin_key_works(admin_client: Client) -> None:
    """Authorization: Bearer <admin key> is accepted."""
    response = await admin_client.get(
        "/admin/state", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert response.status == 200
    state = await response.json()
    assert [p["name"] for p in state["providers"]] == ["first", "second"]
    assert state["providers"][0]["breaker"]["state"] == "closed"


async def test_maintenance_mode_answers_503_with_retry_after(admin_client: Client) -> None:
    """Maintenance on: sign routes 503 + Retry-After, /health says so; off: signing again."""
    response = await admin_client.post(
        "/admin/maintenance",
        json={"enabled": True, "reason": "TikTok changed X-Gnarly", "retry_after_s": 120},
        headers=ADMIN,
    )
    assert response.status == 200
    signed = await admin_client.post("/sign", json={"url": URL})
    assert signed.status == 503
    assert signed.headers["Retry-After"] == "120"
    error = (await signed.json())["error"]
    assert error["code"] == "maintenance"
    assert "TikTok changed X-Gnarly" in error["message"]
    health = await (await admin_client.get("/health")).json()
    assert health["maintenance"] is True
    assert health["changes"][-1]["action"] == "maintenance"
    metrics = await (await admin_client.get("/metrics")).text()
    assert "signer_maintenance 1.0" in metrics
    await admin_client.post("/admin/maintenance", json={"enabled": False}, headers=ADMIN)
    assert (await admin_client.post("/sign", json={"url": URL})).status == 200


async def test_reorder_and_disable_at_run_time(admin_client: Client) -> None:
    """A new order takes effect on the next request and is shown in /health."""
    response = await admin_client.post(
        "/admin/providers", json={"order": ["second", "first"]}, headers=ADMIN
    )
    assert response.status == 200
    signed = await (await admin_client.post("/sign", json={"url": URL})).json()
    assert signed["data"]["provider"] == "second"
    await admin_client.post(
        "/admin/providers",
        json={"order": ["second", "first"], "disabled": ["second"]},
        headers=ADMIN,
    )
    signed = await (await admin_client.post("/sign", json={"url": URL})).json()
    assert signed["data"]["provider"] == "first"
    health = await (await admin_client.get("/health")).json()
    assert [(p["name"], p["enabled"]) for p in health["providers"]] == [
        ("second", False),
        ("first", True),
    ]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"order": ["nope"]}, "not configured"),
        ({"order": "first"}, "'order' must be a list"),
        ({"order": ["first", "first"]}, "listed twice"),
        ({"order": [], "disabled": ["first", "second"]}, "at least one provider"),
    ],
)
async def test_bad_provider_changes_are_400(
    admin_client: Client, payload: dict[str, Any], fragment: str
) -> None:
    """Unknown names and impossible changes are refused with a clear 400."""
    response = await admin_client.post("/admin/providers", json=payload, headers=ADMIN)
    assert response.status == 400
    assert fragment in (await response.json())["error"]["message"]


async def test_restart_a_provider(admin_client: Client, fakes: list[FakeProvider]) -> None:
    """Restart closes and starts the provider again, and the change is recorded."""
    fakes[0].closed = False
    with structlog.testing.capture_logs() as logs:
        response = await admin_client.post("/admin/providers/first/restart", headers=ADMIN)
    assert response.status == 200
    assert fakes[0].closed
    assert fakes[0].started
    state = await response.json()
    assert state["changes"][-1] == {
        **state["changes"][-1],
        "action": "restart",
        "provider": "first",
    }
    change = next(e for e in logs if e["event"] == "operator_change")
    assert change["action"] == "restart"
    assert ADMIN_KEY not in repr(logs)
    missing = await admin_client.post("/admin/providers/nope/restart", headers=ADMIN)
    assert missing.status == 400


@pytest.mark.parametrize(
    "payload",
    [{"enabled": "yes"}, {"enabled": True, "retry_after_s": 0}, {"enabled": True, "reason": 5}],
)
async def test_bad_maintenance_payload_is_400(
    admin_client: Client, payload: dict[str, Any]
) -> None:
    """Maintenance settings of the wrong type or range are refused."""
    response = await admin_client.post("/admin/maintenance", json=payload, headers=ADMIN)
    assert response.status == 400


async def test_a_remote_not_in_the_order_is_a_standby(
    make_client: MakeClient, serve_fake: ServeFake
) -> None:
    """A remote SIGNER_PROVIDERS leaves out is built but off, until an operator orders it in."""
    upstream = await serve_fake(Upstream("carcabot"))
    settings = Settings(
        providers=("native",),
        admin_key=ADMIN_KEY,
        remotes={"backup": RemoteConfig(url=upstream.url(), format="carcabot")},
    )
    client = await make_client(settings)
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok"
    assert [(p["name"], p["enabled"]) for p in health["providers"]] == [
        ("native", True),
        ("backup", False),
    ]
    assert (await (await client.post("/sign", json={"url": URL})).json())["data"][
        "provider"
    ] == "native"
    ordered = await client.post(
        "/admin/providers", json={"order": ["backup", "native"]}, headers=ADMIN
    )
    assert ordered.status == 200
    signed = await client.post("/sign", json={"url": URL})
    assert (await signed.json())["data"]["provider"] == "backup"
    assert upstream.paths == ["/signature"]

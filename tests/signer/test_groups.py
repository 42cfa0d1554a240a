"""Route groups: each registers itself, with its own error envelope, behind the one guard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from signer.app import make_app
from signer.errors import BadRequest
from signer.groups import RouteGroup
from signer.settings import Settings
from tests.signer.conftest import OPERATOR_KEY

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aiohttp.test_utils import TestClient

    Client = TestClient[Any, Any]

ADMIN_KEY = "an-admin-key-of-24-chars"
URL = "https://www.tiktok.com/api/post/item_list/?aid=1988"


def euler_envelope(status: int, _code: str, message: str, _details: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"code": status, "message": message})


euler_routes = web.RouteTableDef()


@euler_routes.get("/webcast/thing")
async def thing(request: web.Request) -> web.Response:
    if request.query.get("bad"):
        raise BadRequest("bad thing")
    return web.json_response({"code": 200})


async def serve(aiohttp_client: Any, settings: Settings) -> Client:
    app = make_app(settings)
    RouteGroup("euler", euler_routes, guarded=True, envelope=euler_envelope).register(app)
    client: Client = await aiohttp_client(app)
    return client


async def test_a_group_answers_errors_in_its_envelope(aiohttp_client: Any) -> None:
    """A handler's error, the guard's 429 and a wrong method use the group's envelope."""
    settings = Settings(providers=("native",), rate_limit_rps=0.01, rate_limit_burst=1)
    client = await serve(aiohttp_client, settings)
    bad = await client.get("/webcast/thing", params={"bad": "1"})
    assert (bad.status, await bad.json()) == (400, {"code": 400, "message": "bad thing"})
    limited = await client.get("/webcast/thing")
    assert limited.status == 429
    assert set(await limited.json()) == {"code", "message"}
    assert "Retry-After" in limited.headers
    other = await client.post("/sign", data=b"{}", headers={"Content-Type": "application/json"})
    assert (await other.json())["status"] == "error"


async def test_the_admin_key_passes_the_guard(aiohttp_client: Any) -> None:
    """With client keys, a limit and maintenance on, X-Admin-Key still signs, unlimited."""
    settings = Settings(
        providers=("native",),
        admin_key=ADMIN_KEY,
        api_keys=("alice:" + "0" * 64,),
        rate_limit_rps=0.01,
        rate_limit_burst=1,
    )
    client = await serve(aiohttp_client, settings)
    admin = {"X-Admin-Key": ADMIN_KEY}
    on = await client.post("/admin/maintenance", json={"enabled": True}, headers=admin)
    assert on.status == 200
    assert (await client.post("/sign", json={"url": URL})).status == 401
    answers = [await client.post("/sign", json={"url": URL}, headers=admin) for _ in range(3)]
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert "RateLimit-Limit" not in answers[0].headers
    wrong = await client.post("/sign", json={"url": URL}, headers={"X-Admin-Key": "wrong"})
    assert wrong.status == 401


async def test_health_admin_state_and_metrics_share_one_view(operated: Client) -> None:
    """A switch and maintenance set through /admin show alike in /health, state and metrics."""
    client = operated
    admin = {"X-Admin-Key": OPERATOR_KEY}
    await client.post(
        "/admin/providers", json={"order": ["two"], "disabled": ["one"]}, headers=admin
    )
    await client.post("/admin/maintenance", json={"enabled": True}, headers=admin)
    health = await (await client.get("/health")).json()
    state = await (await client.get("/admin/state", headers=admin)).json()
    shown = [(p["name"], p["enabled"]) for p in health["providers"]]
    assert shown == [(p["name"], p["enabled"]) for p in state["providers"]]
    assert shown == [("two", True), ("one", False)]
    assert health["maintenance"] is state["maintenance"]["enabled"] is True
    metrics = await (await client.get("/metrics")).text()
    assert "signer_maintenance 1.0" in metrics
    assert 'signer_breaker_state{provider="one",state="closed"} 1.0' in metrics

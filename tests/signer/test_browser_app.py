"""The service with its default chain (browser, then native) on real Chromium."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from providers import xttparams
from signer.app import make_app
from signer.settings import Settings
from tests.support import REPO

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.conftest import MakeClient

    Client = TestClient[Any, Any]

pytestmark = pytest.mark.chromium

URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=35&secUid=MS4wLjABAAAA"
DEFAULTS = Settings(sdk_cache_dir=REPO / "data" / "sdk")


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    """The app on embedded defaults: the browser provider first, native behind it."""
    assert DEFAULTS.providers == ("browser", "native")
    return await make_client(DEFAULTS)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_client() -> AsyncIterator[Client]:
    """Like ``client``, shared by the tests that leave the app as they found it."""
    async with TestClient(TestServer(make_app(DEFAULTS))) as client:
        yield client


#: The tests on ``shared_client`` run in the module's event loop, where it was started.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@in_module_loop
async def test_default_chain_signs_with_the_browser(shared_client: Client) -> None:
    """On embedded defaults /signature is answered by TikTok's SDK in Chromium."""
    response = await shared_client.post(
        "/signature", data=URL, headers={"Content-Type": "text/plain"}
    )
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["provider"] == "browser"
    # The default build (1.0.0.417): X-Dynosaur, then msToken, the literal X-Bogus, X-Gnarly.
    assert data["signed_url"].startswith(URL + "&X-Dynosaur=")
    assert f"&X-Dynosaur={data['x-dynosaur']}&msToken=&X-Bogus=1&X-Gnarly=" in data["signed_url"]
    assert data["x-gnarly"]
    assert data["sdk_version"] == "1.0.0.417"


@in_module_loop
async def test_browser_answer_carries_x_tt_params(shared_client: Client) -> None:
    """x-tt-params comes with the browser's signature: its signed query up to X-Bogus."""
    response = await shared_client.post(
        "/signature", data=URL, headers={"Content-Type": "text/plain"}
    )
    data = (await response.json())["data"]
    assert data["provider"] == "browser"
    signed_query = data["signed_url"].split("?", 1)[1].rsplit("&X-Gnarly=", 1)[0]
    assert signed_query.endswith(f"&X-Bogus={data['x-bogus']}")
    assert xttparams.decrypt(data["x-tt-params"]) == signed_query + "&is_encryption=1"


@in_module_loop
async def test_health_and_metrics_show_the_pool(shared_client: Client) -> None:
    """/health lists both providers ready; /metrics has the pool gauges."""
    health = await (await shared_client.get("/health")).json()
    assert health["status"] == "ok"
    browser, native = health["providers"]
    assert (browser["name"], browser["state"], native["name"]) == ("browser", "ready", "native")
    assert (browser["pages_ready"], browser["queue_max"]) == (2, 1000)
    text = await (await shared_client.get("/metrics")).text()
    assert 'signer_browser_pages{state="ready"} 2.0' in text
    assert 'signer_browser_pages{state="total"} 2.0' in text
    assert "signer_browser_queue_depth 0.0" in text


@in_module_loop
async def test_request_the_browser_declines_goes_to_native(shared_client: Client) -> None:
    """An msToken the page does not hold is signed by the native provider instead."""
    response = await shared_client.post("/sign", json={"url": URL, "ms_token": "mine"})
    data = (await response.json())["data"]
    assert data["provider"] == "native"
    assert data["msToken"] == "mine"


async def test_killed_chromium_every_request_answered(client: Client) -> None:
    """Chromium killed under load: every request gets a 200 from browser or native."""
    health = await (await client.get("/health")).json()
    pid = health["providers"][0]["browser_pid"]

    async def sign(index: int) -> str:
        response = await client.post("/sign", json={"url": f"{URL}&n={index}"})
        assert response.status == 200
        return str((await response.json())["data"]["provider"])

    tasks = [asyncio.ensure_future(sign(i)) for i in range(200)]
    await asyncio.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    providers = await asyncio.gather(*tasks)
    assert set(providers) <= {"browser", "native"}
    while True:
        health = await (await client.get("/health")).json()
        if health["status"] == "ok":
            break
        assert time.monotonic() - killed_at < 5
        await asyncio.sleep(0.05)
    assert health["providers"][0]["browser_pid"] != pid


async def test_burst_past_the_browser_queue_goes_to_native(make_client: MakeClient) -> None:
    """A full browser queue declines at once: native answers, the browser's breaker stays shut."""
    settings = DEFAULTS.model_copy(update={"browser_pages": 1, "browser_queue_max": 1})
    client = await make_client(settings)

    async def sign(index: int) -> str:
        response = await client.post("/sign", json={"url": f"{URL}&n={index}"})
        assert response.status == 200
        return str((await response.json())["data"]["provider"])

    providers = await asyncio.gather(*(sign(i) for i in range(64)))
    assert {"browser", "native"} <= set(providers)
    health = await (await client.get("/health")).json()
    browser = health["providers"][0]
    assert (browser["queue_max"], browser["breaker"], browser["last_error"]) == (1, "closed", None)

"""Fixtures of the LIVE API tests: the small TikTok on loopback and the app pointed at it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from signer.settings import Settings
from tests.signer.live.tiny_tiktok import TinyTikTok

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp.test_utils import TestClient

    from tests.conftest import MakeClient, ServeFake

    Live = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def tiktok(serve_fake: ServeFake) -> TinyTikTok:
    """The small TikTok, started."""
    return await serve_fake(TinyTikTok())


def live_settings(tiktok: TinyTikTok, **changes: Any) -> Settings:
    """Settings with the native provider and every TikTok origin on ``tiktok``."""
    values: dict[str, Any] = {
        "providers": ("native",),
        "tiktok_www_url": tiktok.origin,
        "tiktok_webcast_url": tiktok.origin,
        "tiktok_ws_url": tiktok.ws_origin,
        "sign_timeout_s": 2.0,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def live(make_client: MakeClient, tiktok: TinyTikTok) -> Live:
    """Start the app against the small TikTok, with settings changed as given."""

    async def _live(**changes: Any) -> TestClient[Any, Any]:
        return await make_client(live_settings(tiktok, **changes))

    return _live

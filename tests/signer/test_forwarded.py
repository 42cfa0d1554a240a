"""The client behind a trusted proxy: X-Forwarded-For believed from listed peers only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from signer.access.forwarded import client_of, networks
from signer.app import make_app
from signer.settings import Settings

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

PROXY = networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),  # HAProxy on loopback
        ("10.1.2.3", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the proxy's own entry wins
        ("10.1.2.3", "203.0.113.7, 10.9.9.9", "203.0.113.7"),  # a chain of trusted proxies
        ("10.1.2.3", "[2001:db8::1]:4711", "2001:db8::1"),
        ("10.1.2.3", "203.0.113.7:51000", "203.0.113.7"),
        ("10.1.2.3", "::ffff:203.0.113.7", "203.0.113.7"),
        ("10.1.2.3", "unknown, 203.0.113.7", "203.0.113.7"),
        ("10.1.2.3", "203.0.113.7, not-an-address", "10.1.2.3"),  # garbage: keep the peer
        ("10.1.2.3", "", "10.1.2.3"),
        ("192.0.2.50", "203.0.113.7", "192.0.2.50"),  # an untrusted peer's header is ignored
        (None, "203.0.113.7", None),
    ],
)
def test_client_of(peer: str | None, header: str, client: str | None) -> None:
    """Right to left, the first address that is not a trusted proxy."""
    assert client_of(peer, header, PROXY) == client


def test_bad_proxy_entries_are_refused() -> None:
    """A setting that is not an address or CIDR stops start-up, naming the entry."""
    with pytest.raises(ValidationError, match="proxy-host"):
        Settings(trusted_proxies=("10.0.0.0/8", "proxy-host"))


async def test_rate_limit_counts_the_client_behind_the_proxy(aiohttp_client: Any) -> None:
    """Two clients behind one trusted proxy have a bucket each; an untrusted header is ignored."""
    url = {"url": "https://www.tiktok.com/api/post/item_list/?aid=1988"}

    async def statuses(settings: Settings) -> list[int]:
        client: TestClient[Any, Any] = await aiohttp_client(make_app(settings))
        found = []
        for address in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
            response = await client.post("/sign", json=url, headers={"X-Forwarded-For": address})
            found.append(response.status)
        return found

    limited = {"providers": ("native",), "rate_limit_rps": 0.001, "rate_limit_burst": 1}
    behind = await statuses(Settings(**limited, trusted_proxies=("127.0.0.1",)))
    assert behind == [200, 200, 429]
    untrusted = await statuses(Settings(**limited))
    assert untrusted == [200, 429, 429]

"""The client's address behind a trusted proxy (HAProxy): from ``X-Forwarded-For``.

Only a peer listed in ``SIGNER_TRUSTED_PROXIES`` is believed. Its ``X-Forwarded-For`` is read
from the right (the entry the proxy itself appended) and the first address that is not a
trusted proxy is the client's; an entry that is not an IP address ends the walk (the peer
stays the address). Everything after this middleware (rate limits per address, the guessing
throttle, the log line) sees that address as ``request.remote``.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiohttp.typedefs import Middleware

    from signer.middleware import Handler

    Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Sequence[str]) -> list[Network]:
    """The trusted proxies as networks (an address is a /32 or /128); ValueError if bad."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_of(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The client's address, or ``peer`` when it is not a trusted proxy (or says nothing)."""
    if peer is None or not forwarded_for or not trusted:
        return peer
    address = _address(peer)
    if address is None or not any(address in network for network in trusted):
        return peer
    client = peer
    for entry in reversed(forwarded_for.split(",")):
        hop = _address(entry)
        if hop is None:
            break
        client = str(hop)
        if not any(hop in network for network in trusted):
            break
    return client


def make_forwarded_middleware(entries: Sequence[str]) -> Middleware | None:
    """The middleware that sets ``request.remote`` from a trusted proxy's header; None if none."""
    trusted = networks(entries)
    if not trusted:
        return None

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        remote = request.remote
        client = client_of(remote, request.headers.get("X-Forwarded-For"), trusted)
        if client is not None and client != remote:
            request = request.clone(remote=client)
        return await handler(request)

    return forwarded

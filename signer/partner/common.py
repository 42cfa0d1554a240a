"""What every partner route module uses: JSON in and out, the named integration, the account."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import aiohttp
import orjson
from aiohttp import web

from signer.app_keys import SETTINGS
from signer.errors import (
    AccountNotFound,
    BadRequest,
    IntegrationNotFound,
    ReauthorizationNeeded,
    TikTokTimeout,
    TikTokUnavailable,
    WrongIntegrationKind,
)
from signer.inputs import parse_json_object, read_body
from signer.middleware import LOG_FIELDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from signer.partner.runtime import Partner
    from signer.store import Account, Integration, IntegrationKind, Store

#: Shorter values are not cut out of text by :func:`redact` (they would match anything).
MIN_REDACTED = 4
#: An integration id: what names it in routes and URLs.
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def json_response(payload: dict[str, Any], status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, within the body limit and the read timeout."""
    settings = request.config_dict[SETTINGS]
    return parse_json_object(
        await read_body(request, settings.max_body_bytes, settings.read_timeout_s)
    )


def log_fields(request: web.Request, **fields: Any) -> None:
    """Add fields to the request's canonical log line (never a secret)."""
    request[LOG_FIELDS] = {**request.get(LOG_FIELDS, {}), **fields}


def text_field(data: dict[str, Any], name: str, *, required: bool = True, limit: int = 256) -> str:
    """The string ``data[name]`` (non-empty, at most ``limit``); "" when optional and absent."""
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequest(f"{name!r} must be a non-empty string of at most {limit} characters")
    return value


async def integration_of(
    partner: Partner, integration_id: Any, kind: IntegrationKind
) -> Integration:
    """The integration named in a request, checked to be of ``kind``."""
    if not isinstance(integration_id, str) or not ID.fullmatch(integration_id):
        raise BadRequest("'integration' must name an integration (letters, digits, _ . -)")
    store = await partner.store()
    integration = await store.get_integration(integration_id)
    if integration is None:
        raise IntegrationNotFound(f"no integration {integration_id!r}")
    if integration.kind != kind:
        raise WrongIntegrationKind(
            f"integration {integration_id!r} is a {integration.kind} integration, not {kind}"
        )
    return integration


async def usable_account(store: Store, integration: Integration, shop_id: str) -> Account:
    """The seller's account, refused when it needs the authorization again."""
    account = await store.get_account(integration.id, shop_id)
    if account is None:
        raise AccountNotFound(f"integration {integration.id!r} has no account for that shop")
    if account.state != "active":
        raise ReauthorizationNeeded(
            "the seller must authorize the app again (GET /partner/shop/oauth/authorize)"
        )
    return account


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (and its URL-encoded form) cut out."""
    for secret in secrets:
        if len(secret) >= MIN_REDACTED:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, "[redacted]")
    return text


@dataclass(frozen=True, slots=True)
class ShopReply:
    """What TikTok Shop answered: its status, body and the headers worth passing on."""

    status: int
    body: bytes
    headers: dict[str, str]


async def call_shop(
    partner: Partner,
    method: str,
    url: str,
    what: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    keep_headers: Iterable[str] = (),
) -> ShopReply:
    """One call to TikTok Shop (the Open API or its token endpoints) within its timeout.

    Transport failures become :class:`TikTokTimeout` / :class:`TikTokUnavailable` whose
    messages never quote the URL (token URLs carry the app secret).
    """
    timeout_s = partner.settings.shop_timeout_s
    try:
        async with partner.http.request(
            method,
            url,
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as reply:
            body = await reply.read()
            kept = {name: reply.headers[name] for name in keep_headers if name in reply.headers}
            return ShopReply(reply.status, body, kept)
    except TimeoutError:
        raise TikTokTimeout(f"TikTok Shop's {what} did not answer within {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise TikTokUnavailable(
            f"TikTok Shop's {what} could not be reached ({type(exc).__name__})"
        ) from None

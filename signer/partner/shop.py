"""TikTok Shop Open API: the request ``sign``, what ``POST /partner/shop/sign`` answers, OAuth URLs.

The sign (API 202309 and the legacy one before it) is lowercase hex
``HMAC-SHA256(app_secret, app_secret + path + k1v1k2v2... [+ body] + app_secret)``: query keys
other than ``sign`` and ``access_token`` (and ``x-tts-access-token``, which EcomPHP drops),
sorted in code point order (``Z`` < ``_`` < ``a``; the same as UTF-8 byte order), decoded
values, an empty value contributing its key alone. 202309 appends the body bytes exactly as
sent unless the content type is ``multipart/form-data``; an empty body appends nothing and
``{}`` two bytes. Legacy never appends the body.

OAuth: the authorize URL (current ``service_id`` form, legacy ``app_key`` form), the unsigned
``token/get`` and ``token/refresh`` URLs (the secret travels in their query), and the parser of
TikTok's ``{"code", "message", "request_id", "data"}`` envelope: ``code != 0`` is an error even
on HTTP 200, and codes ``105xxx``/``360xxx`` mean the seller must authorize again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlencode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

#: The Shop Open API (202309 and later; the sandbox no longer works since 202309).
API_BASE_URL = "https://open-api.tiktokglobalshop.com"
#: Where sellers authorize an app today (``service_id`` form); the US has its own host.
AUTHORIZE_URL = "https://services.tiktokshop.com/open/authorize"
AUTHORIZE_URL_US = "https://services.us.tiktokshop.com/open/authorize"
#: Partner authorization, also with ``service_id``.
PARTNER_AUTHORIZE_URL = "https://partner.tiktokshop.com/open/authorize"
PARTNER_AUTHORIZE_URL_US = "https://partner.us.tiktokshop.com/open/authorize"
#: The legacy authorize URL (``app_key`` form) and the token endpoints' host.
LEGACY_AUTHORIZE_URL = "https://auth.tiktok-shops.com/oauth/authorize"
AUTH_BASE_URL = "https://auth.tiktok-shops.com"

#: Query keys never signed.
UNSIGNED_KEYS = frozenset({"sign", "access_token", "x-tts-access-token"})
#: The header that carries the access token since 202309.
ACCESS_TOKEN_HEADER = "x-tts-access-token"  # noqa: S105 - a header name
#: The first API version whose sign covers the body.
BODY_SIGNED_SINCE = 202309

_NO_SHOP_CIPHER = re.compile(
    r"^/(?:product/\d{6}/(?:global_products|compliance|files/upload|images/upload)"
    r"|(?:authorization|seller)/\d{6}/)"
)
_NO_SHOP_CIPHER_ON_POST = re.compile(r"^/product/\d{6}/brands")

Pairs = list[tuple[str, str]]


class ShopSignError(ValueError):
    """A request that cannot be signed (malformed query, path or body); says which part."""


def normalize_query(query: Mapping[str, Any] | Iterable[Any] | None) -> Pairs:
    """``{k: v}`` or ``[[k, v], ...]`` as ordered ``(key, value)`` string pairs.

    Values may be strings or integers (JSON numbers); anything else is refused rather than
    guessed at, since the sign covers the exact text sent.
    """
    if query is None:
        return []
    items: Iterable[Any] = query.items() if isinstance(query, dict) else query
    pairs: Pairs = []
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ShopSignError("query must be an object or a list of [key, value] pairs")
        key, value = item
        if not isinstance(key, str) or not key:
            raise ShopSignError("query keys must be non-empty strings")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ShopSignError(f"query value of {key!r} must be a string or an integer")
        pairs.append((key, str(value)))
    return pairs


def is_multipart(content_type: str | None) -> bool:
    """Whether a content type is ``multipart/form-data`` (whose body is never signed)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


def is_legacy(path: str, query: Pairs) -> bool:
    """Whether a request is pre-202309: a path under ``/api/``, or ``version`` < 202309."""
    if path.startswith("/api/"):
        return True
    versions = [value for key, value in query if key == "version"]
    if versions and versions[-1].isdigit():
        return int(versions[-1]) < BODY_SIGNED_SINCE
    return False


def string_to_sign(
    path: str,
    query: Pairs,
    app_secret: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    legacy: bool = False,
) -> bytes:
    """The exact bytes HMAC'ed: ``app_secret + path + sorted k+v + [body] + app_secret``."""
    if not path.startswith("/") or "?" in path:
        raise ShopSignError("path must start with '/' and carry no query")
    signed = sorted((pair for pair in query if pair[0] not in UNSIGNED_KEYS), key=lambda p: p[0])
    text = path + "".join(key + value for key, value in signed)
    message = text.encode()
    if not legacy and body and not is_multipart(content_type):
        message += body
    secret = app_secret.encode()
    return secret + message + secret


def sign(
    path: str,
    query: Pairs,
    app_secret: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    legacy: bool = False,
) -> str:
    """The request's ``sign``: lowercase hex HMAC-SHA256 keyed with the app secret."""
    message = string_to_sign(
        path, query, app_secret, body=body, content_type=content_type, legacy=legacy
    )
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def sends_shop_cipher(method: str, path: str) -> bool:
    """Whether ``shop_cipher`` may be sent: not to authorization, seller and some product APIs."""
    if _NO_SHOP_CIPHER.match(path):
        return False
    return not (method.upper() == "POST" and _NO_SHOP_CIPHER_ON_POST.match(path))


@dataclass(frozen=True)
class SignedRequest:
    """What ``POST /partner/shop/sign`` answers: the sign and the request ready to send."""

    sign: str
    timestamp: int
    signed_url: str
    headers: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return {
            "sign": self.sign,
            "timestamp": self.timestamp,
            "signed_url": self.signed_url,
            "headers": dict(self.headers),
        }


def sign_request(  # noqa: PLR0913 - the request's parts and the integration's, all keyword
    *,
    app_key: str,
    app_secret: str,
    method: str,
    path: str,
    query: Mapping[str, Any] | Iterable[Any] | None = None,
    content_type: str | None = None,
    body: str | bytes | None = None,
    access_token: str | None = None,
    shop_cipher: str | None = None,
    shop_id: str | None = None,
    base_url: str = API_BASE_URL,
    clock: Callable[[], float] = time.time,
) -> SignedRequest:
    """Complete and sign one Shop API request as ``POST /partner/shop/sign`` describes.

    ``app_key`` is set from the integration; a ``timestamp`` in the query is kept, else the
    current second (``clock``) is added. ``shop_cipher`` (the account's) is added unless the
    query has one, and removed for the APIs that refuse it. The access token goes in the
    ``x-tts-access-token`` header (202309) or, for legacy requests, in the query with
    ``shop_id``. A string body is signed as its UTF-8 bytes: send exactly those.
    """
    pairs = [pair for pair in normalize_query(query) if pair[0] not in {"sign", "app_key"}]
    pairs.insert(0, ("app_key", app_key))
    legacy = is_legacy(path, pairs)
    stamps = [value for key, value in pairs if key == "timestamp"]
    if stamps:
        if not stamps[-1].isdigit():
            raise ShopSignError("timestamp must be Unix seconds")
        timestamp = int(stamps[-1])
    else:
        timestamp = int(clock())
        pairs.append(("timestamp", str(timestamp)))
    keys = {key for key, _ in pairs}
    if shop_cipher and "shop_cipher" not in keys:
        pairs.append(("shop_cipher", shop_cipher))
    if not sends_shop_cipher(method, path):
        pairs = [pair for pair in pairs if pair[0] != "shop_cipher"]
    headers: dict[str, str] = {}
    tokens = [value for key, value in pairs if key in {"access_token", ACCESS_TOKEN_HEADER}]
    token = access_token or (tokens[-1] if tokens else None)
    pairs = [pair for pair in pairs if pair[0] not in {"access_token", ACCESS_TOKEN_HEADER}]
    if legacy and shop_id and "shop_id" not in keys:
        pairs.append(("shop_id", shop_id))
    raw = body.encode() if isinstance(body, str) else body
    signature = sign(path, pairs, app_secret, body=raw, content_type=content_type, legacy=legacy)
    sent = [*pairs, ("sign", signature)]
    if token and legacy:
        sent.append(("access_token", token))
    elif token:
        headers[ACCESS_TOKEN_HEADER] = token
    return SignedRequest(
        sign=signature,
        timestamp=timestamp,
        signed_url=f"{base_url.rstrip('/')}{path}?{urlencode(sent)}",
        headers=headers,
    )


def authorize_url(service_id: str, state: str, *, base_url: str = AUTHORIZE_URL) -> str:
    """The current seller authorization URL (``service_id`` form; hosts are the constants)."""
    return f"{base_url}?{urlencode({'service_id': service_id, 'state': state})}"


def legacy_authorize_url(app_key: str, state: str, *, base_url: str = LEGACY_AUTHORIZE_URL) -> str:
    """The legacy authorization URL (``app_key`` form)."""
    return f"{base_url}?{urlencode({'app_key': app_key, 'state': state})}"


def _token_url(base_url: str, path: str, app_key: str, app_secret: str, **grant: str) -> str:
    """An unsigned token endpoint URL; it carries the secret: never log it."""
    query = {"app_key": app_key, "app_secret": app_secret, **grant}
    return f"{base_url.rstrip('/')}/api/v2/token/{path}?{urlencode(query)}"


def token_get_url(
    app_key: str, app_secret: str, auth_code: str, *, base_url: str = AUTH_BASE_URL
) -> str:
    """The unsigned ``GET`` exchanging an auth code; it carries the secret: never log it."""
    return _token_url(
        base_url, "get", app_key, app_secret, auth_code=auth_code, grant_type="authorized_code"
    )


def token_refresh_url(
    app_key: str, app_secret: str, refresh_token: str, *, base_url: str = AUTH_BASE_URL
) -> str:
    """The unsigned ``GET`` refreshing a token pair; it carries the secret: never log it."""
    return _token_url(
        base_url,
        "refresh",
        app_key,
        app_secret,
        refresh_token=refresh_token,
        grant_type="refresh_token",
    )


def needs_reauthorization(code: int) -> bool:
    """Whether an error code means a bad or expired token or grant (``105xxx``, ``360xxx``)."""
    return 105000 <= code <= 105999 or 360000 <= code <= 360999


class ShopApiError(Exception):
    """TikTok answered an error (``code != 0``), or something that is not its envelope.

    ``code`` is ``-1`` for a reply that is not the JSON envelope. The message is TikTok's
    ``message``; neither carries a secret of ours.
    """

    def __init__(self, code: int, message: str, request_id: str | None = None) -> None:
        super().__init__(f"TikTok Shop error {code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def needs_reauthorization(self) -> bool:
        """Whether the seller must authorize the app again."""
        return needs_reauthorization(self.code)


def parse_envelope(body: bytes | str) -> dict[str, Any]:
    """The ``data`` of a ``{"code": 0, ...}`` reply; :class:`ShopApiError` for anything else."""
    try:
        reply = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ShopApiError(-1, "reply is not JSON") from None
    if not isinstance(reply, dict) or isinstance(reply.get("code"), bool):
        raise ShopApiError(-1, "reply is not the TikTok Shop envelope")
    code = reply.get("code")
    request_id = reply.get("request_id") if isinstance(reply.get("request_id"), str) else None
    if not isinstance(code, int):
        raise ShopApiError(-1, "reply has no integer code", request_id)
    if code != 0:
        message = reply.get("message")
        raise ShopApiError(code, message if isinstance(message, str) else "", request_id)
    data = reply.get("data")
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class TokenSet:
    """A token pair from ``token/get`` or ``token/refresh``; expiries are absolute Unix seconds."""

    access_token: str = field(repr=False)
    access_token_expires_at: int
    refresh_token: str = field(repr=False)
    refresh_token_expires_at: int
    open_id: str = ""
    seller_name: str = ""
    seller_base_region: str = ""
    user_type: int = 0
    granted_scopes: tuple[str, ...] = ()


def _is_int(value: object) -> TypeGuard[int]:
    """Whether a JSON value is an integer (``true`` is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def parse_token_reply(body: bytes | str) -> TokenSet:
    """Read a token reply; :class:`ShopApiError` on an error code or missing fields."""
    data = parse_envelope(body)
    access, refresh = data.get("access_token"), data.get("refresh_token")
    access_at, refresh_at = data.get("access_token_expire_in"), data.get("refresh_token_expire_in")
    if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
        raise ShopApiError(-1, "token reply lacks a token")
    if not (_is_int(access_at) and _is_int(refresh_at)):
        raise ShopApiError(-1, "token reply lacks an expiry")
    scopes = data.get("granted_scopes")
    user_type = data.get("user_type")
    return TokenSet(
        access_token=access,
        access_token_expires_at=int(access_at),
        refresh_token=refresh,
        refresh_token_expires_at=int(refresh_at),
        open_id=str(data.get("open_id") or ""),
        seller_name=str(data.get("seller_name") or ""),
        seller_base_region=str(data.get("seller_base_region") or ""),
        user_type=user_type if _is_int(user_type) else 0,
        granted_scopes=tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
    )

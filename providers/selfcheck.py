"""Check signatures with the native codecs: they must sign exactly what was asked.

Used by the browser and remote providers on every result, and by the chain on the
results of providers that do not check their own (``Provider.checked``).

The rules follow the SDK build the tokens name (``shared/DESIGN.md``, "TikTok's SDK builds
and profiles"):

* 2025 shape (a 28-character X-Bogus, no X-Dynosaur): the X-Bogus re-encodes from the
  signed query, body and UA; X-Gnarly fields 3, 4, 5 are their MD5s.
* 2026 shape (X-Dynosaur present): X-Bogus is the build's literal; X-Gnarly and
  X-Dynosaur decode with their checksums; X-Gnarly 3, 4, 5 are the MD5s of the signed
  query, body and UA, X-Dynosaur 0x2b, 0x2e, 0x30 the :func:`~providers.xdynosaur.fnv`
  of body, base query and UA; X-Gnarly 6 and X-Dynosaur 0x27 are the same second; the
  environment (envcode, ubcode, canvas, version strings) agrees between the two.
* Socket URLs: X-Gnarly 3 hashes the query as signed, 4 the empty stub, 5 the UA.

Tokens of an unknown build are checked by field id whatever their count and come back
with ``profile`` None: callers serve them and flag the build. Failure messages are short
and never quote a URL, query or token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from providers import profiles, xbogus, xdynosaur, xgnarly
from providers._hash import md5_hex
from providers.errors import SelfCheckFailed, TokenDecodeError
from providers.urls import parse_signed, parse_socket

if TYPE_CHECKING:
    from providers.profiles import Profile
    from providers.typing import SignResult
    from providers.urls import SignedUrl

__all__ = ["Verified", "problem", "verify_http", "verify_ws"]

_EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
#: X-Gnarly field and X-Dynosaur record that hold the same environment value.
_SHARED_ENVIRONMENT = ((1, 0x26), (2, 0x36), (7, 0x2C), (9, 0x2A), (10, 0x31), (6, 0x27))
#: The SDK reads the clock for each token separately: a signature made across a second's
#: edge has X-Gnarly field 6 one second after X-Dynosaur 0x27 (about 1 in 240 in Chromium).
_CLOCK_SKEW_S = 1


@dataclass(frozen=True, slots=True)
class Verified:
    """What checked tokens say about the SDK that made them."""

    #: None: a build without a profile (tokens decoded with the newest known envelope).
    profile: Profile | None
    #: The build the tokens name (X-Gnarly field 10 / X-Dynosaur 0x31).
    build: str | None
    #: X-Gnarly field 9.
    gnarly_version: str | None
    envcode: int | None
    ubcode: int | None
    canvas: int | None
    #: ``(envcode >> 8, envcode & 255, ubcode)``; for 2025 tokens from X-Bogus.
    flags: tuple[int, int, int] | None
    x_gnarly: xgnarly.XGnarlyToken | None
    x_dynosaur: xdynosaur.XDynosaurToken | None

    @property
    def known(self) -> bool:
        """Whether the tokens come from a build with a profile."""
        return self.profile is not None


def _decode_gnarly(token: str) -> xgnarly.XGnarlyToken:
    try:
        return xgnarly.decode(token)
    except TokenDecodeError as exc:
        raise SelfCheckFailed(f"X-Gnarly does not decode: {exc}") from None


def _decode_dynosaur(token: str) -> xdynosaur.XDynosaurToken:
    try:
        return xdynosaur.decode(token)
    except TokenDecodeError as exc:
        raise SelfCheckFailed(f"X-Dynosaur does not decode: {exc}") from None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _flags(envcode: int | None, ubcode: int | None) -> tuple[int, int, int] | None:
    if envcode is None or ubcode is None or envcode > 0xFFFF or ubcode > 0xFF:
        return None
    return (envcode >> 8, envcode & 0xFF, ubcode)


def _profile_of(record: xgnarly.XGnarlyToken) -> Profile | None:
    return profiles.by_gnarly_version(record.get(9), record.get(10))


def _check_field_set(record: xgnarly.XGnarlyToken, profile: Profile | None) -> None:
    if profile is not None and sorted(f.id for f in record.fields) != sorted(profile.gnarly_fields):
        raise SelfCheckFailed(f"X-Gnarly does not have the fields of build {profile.build}")


def _check_gnarly_hashes(
    record: xgnarly.XGnarlyToken, query: str, body: str, user_agent: str, what: str
) -> None:
    if (record.get(3), record.get(4), record.get(5)) != (
        md5_hex(query),
        md5_hex(body) if body else _EMPTY_MD5,
        md5_hex(user_agent),
    ):
        raise SelfCheckFailed(f"X-Gnarly does not hash the {what}, body and UA")
    if not isinstance(record.get(6), int):
        raise SelfCheckFailed("X-Gnarly carries no time (field 6)")


def _verify_2025(signed: SignedUrl, body: str, user_agent: str) -> Verified:
    try:
        fields = xbogus.decode(signed.x_bogus)
    except TokenDecodeError as exc:
        raise SelfCheckFailed(f"X-Bogus does not decode: {exc}") from None
    if not xbogus.verify(signed.x_bogus, signed.signed_query, body, user_agent):
        raise SelfCheckFailed("X-Bogus does not re-encode from the signed query, body and UA")
    record = None
    if signed.x_gnarly is not None:
        record = _decode_gnarly(signed.x_gnarly)
        _check_gnarly_hashes(record, signed.signed_query, body, user_agent, "signed query")
    profile = _profile_of(record) if record is not None else None
    if profile is not None and profile.line != 2025:
        raise SelfCheckFailed(f"build {profile.build} writes X-Dynosaur; the URL has none")
    if record is not None:
        _check_field_set(record, profile)
    f1, f2, f3 = fields.flags
    return Verified(
        profile=profile,
        build=_str_or_none(record.get(10)) if record is not None else None,
        gnarly_version=_str_or_none(record.get(9)) if record is not None else None,
        envcode=(f1 << 8) | f2,
        ubcode=f3,
        canvas=fields.canvas,
        flags=fields.flags,
        x_gnarly=record,
        x_dynosaur=None,
    )


def _check_dynosaur_hashes(
    dynosaur: xdynosaur.XDynosaurToken, base_query: str, body: str, user_agent: str
) -> None:
    if (dynosaur.get(0x2B), dynosaur.get(0x2E), dynosaur.get(0x30)) != (
        xdynosaur.fnv(body),
        xdynosaur.fnv(base_query),
        xdynosaur.fnv(user_agent),
    ):
        raise SelfCheckFailed("X-Dynosaur does not hash the body, base query and UA")
    if dynosaur.get(0x27) is None:
        raise SelfCheckFailed("X-Dynosaur carries no time (record 0x27)")


def _check_environment(
    record: xgnarly.XGnarlyToken, dynosaur: xdynosaur.XDynosaurToken, *, known: bool
) -> None:
    """Time, envcode, ubcode, canvas and versions: the same in both tokens."""
    for field_id, tag in _SHARED_ENVIRONMENT:
        gnarly_value, dynosaur_value = record.get(field_id), dynosaur.get(tag)
        if gnarly_value is None or dynosaur_value is None:
            if not known:
                continue  # another build may have dropped one; its hashes were checked
            raise SelfCheckFailed(f"X-Gnarly field {field_id} or X-Dynosaur {tag:#x} is missing")
        if field_id == 6 and _seconds_apart(gnarly_value, dynosaur_value) <= _CLOCK_SKEW_S:
            continue
        if str(gnarly_value) != str(dynosaur_value):
            raise SelfCheckFailed(f"X-Gnarly field {field_id} and X-Dynosaur {tag:#x} disagree")


def _seconds_apart(gnarly: int | str, dynosaur: int | str) -> int:
    """How far apart the two tokens' times are (large when either is no number)."""
    try:
        return abs(int(gnarly) - int(dynosaur))
    except ValueError:
        return _CLOCK_SKEW_S + 1


def verify_http(signed: SignedUrl, body: str, user_agent: str) -> Verified:
    """Check the tokens of a signed fetch/XHR URL; SelfCheckFailed unless they all hold.

    ``signed`` is the URL as :func:`~providers.urls.parse_signed` reads it (its tokens
    included); ``body`` and ``user_agent`` are what will be sent with it.
    """
    if signed.x_dynosaur is None:
        return _verify_2025(signed, body, user_agent)
    if signed.x_gnarly is None:
        raise SelfCheckFailed("the signed URL has X-Dynosaur but no X-Gnarly")
    record = _decode_gnarly(signed.x_gnarly)
    dynosaur = _decode_dynosaur(signed.x_dynosaur)
    profile = _profile_of(record)
    # An unknown build is judged by the newest known line's rules.
    rules = profile if profile is not None else profiles.newest()
    if not rules.x_dynosaur:
        raise SelfCheckFailed(f"build {rules.build} writes no X-Dynosaur")
    if rules.x_bogus == "literal" and signed.x_bogus != rules.x_bogus_literal:
        raise SelfCheckFailed(f"X-Bogus is not the literal build {rules.build} appends")
    _check_field_set(record, profile)
    if profile is not None and [r.tag for r in dynosaur.records] != list(xdynosaur.TAGS):
        raise SelfCheckFailed(f"X-Dynosaur does not have the records of build {profile.build}")
    _check_gnarly_hashes(record, signed.signed_query, body, user_agent, "signed query")
    base_query = signed.base_query if signed.base_query is not None else signed.signed_query
    _check_dynosaur_hashes(dynosaur, base_query, body, user_agent)
    _check_environment(record, dynosaur, known=profile is not None)
    envcode = _int_or_none(record.get(1))
    ubcode = _int_or_none(record.get(2))
    return Verified(
        profile=profile,
        build=_str_or_none(record.get(10)) or _str_or_none(dynosaur.get(0x31)),
        gnarly_version=_str_or_none(record.get(9)),
        envcode=envcode,
        ubcode=ubcode,
        canvas=_int_or_none(record.get(7)),
        flags=_flags(envcode, ubcode),
        x_gnarly=record,
        x_dynosaur=dynosaur,
    )


def verify_ws(query: str, user_agent: str, x_gnarly: str) -> Verified:
    """Check a socket signature: X-Gnarly over ``query`` as signed, the empty stub, the UA.

    ``query`` is the raw query the socket signer signed (spaces as spaces). A known build
    must have a socket signer, and its counters (fields 12, 13) are 0.
    """
    record = _decode_gnarly(x_gnarly)
    profile = _profile_of(record)
    if profile is not None and not profile.socket_signer:
        raise SelfCheckFailed(f"build {profile.build} has no socket signer")
    _check_field_set(record, profile)
    _check_gnarly_hashes(record, query, "", user_agent, "socket query")
    if profile is not None and (record.get(12), record.get(13)) != (0, 0):
        raise SelfCheckFailed("a socket X-Gnarly counts requests (fields 12, 13 are not 0)")
    envcode = _int_or_none(record.get(1))
    ubcode = _int_or_none(record.get(2))
    return Verified(
        profile=profile,
        build=_str_or_none(record.get(10)),
        gnarly_version=_str_or_none(record.get(9)),
        envcode=envcode,
        ubcode=ubcode,
        canvas=_int_or_none(record.get(7)),
        flags=_flags(envcode, ubcode),
        x_gnarly=record,
        x_dynosaur=None,
    )


def problem(result: SignResult, body: str) -> str | None:
    """Why ``result`` cannot be trusted, or None when its signatures check out.

    A ``ws://``/``wss://`` URL is a socket signature (:func:`verify_ws` over
    :func:`~providers.urls.parse_socket`); anything else is a fetch/XHR URL whose tokens
    must cover its query as far as the last X-Bogus (:func:`verify_http` over
    :func:`~providers.urls.parse_signed`). Tokens the result names itself take precedence
    over the URL's.
    """
    url = result.signed_url
    try:
        if url.startswith(("wss://", "ws://")):
            socket = parse_socket(url)
            if socket is None:
                return "the socket URL carries no X-Gnarly"
            verify_ws(socket.query, result.user_agent, result.x_gnarly or socket.x_gnarly)
            return None
        signed = parse_signed(url)
        if signed is None:
            return "the signed URL carries no X-Bogus"
        signed = signed._replace(
            x_bogus=result.x_bogus or signed.x_bogus,
            x_gnarly=result.x_gnarly or signed.x_gnarly,
            x_dynosaur=result.x_dynosaur or signed.x_dynosaur,
        )
        verify_http(signed, body, result.user_agent)
    except SelfCheckFailed as exc:
        return exc.message
    return None

"""The baseline analyzer: a JSON snapshot of one TikTok SDK build, and what changed since one.

``snapshot`` reads an SDK file twice. Statically (cheap, from the text): its sha256 and
size, the version strings it holds, and obfuscation metrics (string-table size, function
count, identifier statistics, Shannon entropy). By running it: the SDK is served to
headless Chromium on the synthetic TikTok origin by the browser provider in ``file`` mode,
which signs a few canary requests (an HTTP GET, a POST with a body and, when the build has
a socket signer, a ``wss://`` URL); the tokens are decoded with the codecs and the
snapshot records what the build appends and in which order, the X-Bogus form, X-Gnarly's
magic, length, field ids and version fields 9/10, X-Dynosaur's records, the socket
signer's X-Gnarly, the environment the tokens carry (envcode, ubcode, canvas) and
``byted_acrawler``'s exported keys. A build without a profile is still observed: the page
is prepared as the newest known build prepares it and its tokens are decoded with the
newest envelope.

``analyze`` diffs two snapshots with :data:`RULES`: one :class:`Rule` per observed fact,
its severity and the operator's action. The JSON keys ``build``, ``file.sha256`` and
``file.size`` are read by the monitor too: keep them.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from monitoring.findings import Finding, Severity, worst
from providers import profiles, sdk, xbogus, xdynosaur, xgnarly
from providers.browser import BrowserProvider
from providers.config import BrowserConfig
from providers.errors import ProviderDeclined, TokenDecodeError
from providers.selfcheck import verify_http
from providers.typing import Persona, PersonaStore, SignRequest
from providers.urls import parse_signed
from providers.useragent import navigator_platform

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from providers.selfcheck import Verified
    from providers.typing import SignResult

__all__ = [
    "RULES",
    "Rule",
    "analyze",
    "load",
    "observe",
    "snapshot",
    "static_facts",
]

#: The version of the snapshot's JSON layout.
FORMAT = 1
#: The synthetic origin the SDK runs on (nothing leaves the machine).
ORIGIN = "https://www.tiktok.com"
#: The browser the canary requests come from when the caller names none.
CANARY_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
CANARY_GET = f"{ORIGIN}/api/post/item_list/?aid=1988&count=30&cursor=0&secUid=MS4wLjABAAAAcanary"
CANARY_POST = f"{ORIGIN}/api/commit/follow/user/?aid=1988&channel_id=0&type=1"
CANARY_BODY = '{"user_id":"6812345678901234567","from":18}'
#: The 2026 player's socket query parameter names, in the SDK's order (reference/sdk-2026.md;
#: ``version_code`` twice). A build with a socket signer is snapshotted with them.
PLAYER_SOCKET_PARAMS = (
    "version_code",
    "device_platform",
    "cookie_enabled",
    "screen_width",
    "screen_height",
    "browser_language",
    "browser_platform",
    "browser_name",
    "browser_version",
    "browser_online",
    "tz_name",
    "app_name",
    "sup_ws_ds_opt",
    "update_version_code",
    "compress",
    "webcast_language",
    "aid",
    "live_id",
    "version_code",
    "app_language",
    "ws_direct",
    "client_enter",
    "room_id",
    "identity",
    "last_rtt",
    "heartbeat_duration",
    "resp_content_type",
    "did_rule",
    "device_id",
)
_CANARY_SOCKET_VALUES = {
    "version_code": ("180800", "270000"),
    "screen_width": ("1920",),
    "screen_height": ("1080",),
    "browser_language": ("en-US",),
    "browser_platform": ("Win32",),
    "browser_name": ("Mozilla",),
    "tz_name": ("America/New_York",),
    "app_name": ("tiktok_web",),
    "device_platform": ("web",),
    "update_version_code": ("2.0.0",),
    "compress": ("gzip",),
    "webcast_language": ("en",),
    "app_language": ("en",),
    "aid": ("1988",),
    "live_id": ("12",),
    "room_id": ("7412345678901234567",),
    "identity": ("audience",),
    "last_rtt": ("-1",),
    "heartbeat_duration": ("10000",),
    "resp_content_type": ("protobuf",),
    "did_rule": ("3",),
    "device_id": ("7412345678901234000",),
}
CANARY_SOCKET_BASE = "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/"

_VERSION_STRING = re.compile(
    r"""["'](\d{1,3}\.\d{1,3}\.\d{1,4}(?:\.\d{1,4})?(?:-[A-Za-z]+)?)["']"""
)
_STRING_LITERAL = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'""")
_FUNCTION = re.compile(r"\bfunction\b|=>")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
_BUILD_IN_NAME = re.compile(r"webmssdk_(.+)\.js$")
#: Relative change of an obfuscation metric that is worth a MEDIUM finding.
OBFUSCATION_DRIFT = 0.25
#: Lists longer than this are shown by their length and ends in a finding's detail.
LIST_SHOWN = 12


class BaselineError(Exception):
    """The snapshot could not be taken or read; ``usage`` is True when the input is at fault."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


# -- the static part


def _entropy(data: bytes) -> float:
    """Shannon entropy of ``data`` in bits per byte."""
    if not data:
        return 0.0
    total = len(data)
    counts = collections.Counter(data)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def static_facts(path: Path) -> dict[str, Any]:
    """What the file says without running it: hash, size, version strings, obfuscation."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8", errors="replace")
    without_strings = _STRING_LITERAL.sub('""', text)
    strings = _STRING_LITERAL.findall(text)
    identifiers = _IDENTIFIER.findall(without_strings)
    unique = set(identifiers)
    pinned = next((build for build, pin in sdk.PINS.items() if pin.sha256 == digest), None)
    named = _BUILD_IN_NAME.search(path.name)
    return {
        "file": {
            "name": path.name,
            "sha256": digest,
            "size": len(data),
            # The pinned build whose sha256 this is (None: not a pinned file).
            "pinned_as": pinned,
        },
        "file_build": pinned or (named.group(1) if named else None),
        "file_version_strings": sorted(set(_VERSION_STRING.findall(text))),
        "obfuscation": {
            "string_table_size": len(strings),
            "unique_strings": len(set(strings)),
            "function_count": len(_FUNCTION.findall(without_strings)),
            "identifiers": {
                "count": len(identifiers),
                "unique": len(unique),
                "mean_length": round(sum(map(len, unique)) / len(unique), 3) if unique else 0.0,
                "short_share": (
                    round(sum(1 for name in unique if len(name) <= 2) / len(unique), 4)
                    if unique
                    else 0.0
                ),
            },
            "entropy_bits_per_byte": round(_entropy(data), 4),
        },
    }


# -- running it


def canary_persona(user_agent: str = CANARY_USER_AGENT) -> Persona:
    """The browser the canaries come from: a Chrome on the platform its UA names."""
    profile = profiles.newest()
    return Persona(
        user_agent=user_agent,
        platform=navigator_platform(user_agent) or "Win32",
        language="en-US",
        screen_width=1920,
        screen_height=1080,
        device_scale_factor=1.0,
        os="windows",
        flags=profile.flags,
        canvas=profile.canvas,
    )


def canary_socket_query() -> str:
    """The socket canary: the player's parameters in order, raw, ``version_code`` twice."""
    used: dict[str, int] = collections.defaultdict(int)
    pairs = []
    for name in PLAYER_SOCKET_PARAMS:
        values = _CANARY_SOCKET_VALUES.get(name, ("true",) if "_" in name else ("1",))
        if name == "browser_version":
            values = (CANARY_USER_AGENT.removeprefix("Mozilla/"),)
        pairs.append(f"{name}={values[min(used[name], len(values) - 1)]}")
        used[name] += 1
    return "&".join(pairs)


def _names(query: str) -> list[str]:
    return [name for name, _ in parse_qsl(query, keep_blank_values=True)]


def _appended(requested: str, signed: str) -> list[str]:
    """The parameter names the SDK added after the requested query, in order."""
    before = _names(urlsplit(requested).query)
    after = _names(urlsplit(signed).query)
    return after[len(before) :] if after[: len(before)] == before else after


def _x_bogus(token: str | None) -> dict[str, Any]:
    if token is None:
        return {"form": None, "length": None, "literal": None}
    try:
        xbogus.decode(token)
    except TokenDecodeError:
        return {"form": "literal", "length": len(token), "literal": token}
    return {"form": "hash", "length": len(token), "literal": None}


def _gnarly(token: str | None) -> dict[str, Any] | None:
    if token is None:
        return None
    try:
        record = xgnarly.decode(token, verify_checksum=False)
    except TokenDecodeError as exc:
        return {"length": len(token), "decodes": False, "error": str(exc)}
    ids = sorted(field.id for field in record.fields)
    return {
        "length": len(token),
        "decodes": True,
        "magic": xgnarly.MAGIC,
        "field_count": len(ids),
        "field_ids": ids,
        "version": record.get(9),
        "build": record.get(10),
    }


def _dynosaur(token: str | None) -> dict[str, Any]:
    if token is None:
        return {"present": False, "length": None, "record_tags": None}
    try:
        record = xdynosaur.decode(token, verify_checksum=False)
    except TokenDecodeError as exc:
        return {"present": True, "length": len(token), "record_tags": None, "error": str(exc)}
    return {
        "present": True,
        "length": len(token),
        "record_tags": [f"0x{entry.tag:02x}" for entry in record.records],
        "version": record.get(0x2A),
        "build": record.get(0x31),
    }


def _verified_http(result: SignResult, body: str) -> Verified | None:
    parsed = parse_signed(result.signed_url)
    if parsed is None:
        return None
    return verify_http(parsed, body, result.user_agent)


async def observe(
    sdk_file: Path,
    chromium_path: Path,
    *,
    build: str | None = None,
    persona: Persona | None = None,
    start_timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Run the SDK in Chromium and record what its signatures look like.

    ``build`` is the profile the page is prepared as (default: the file's pinned build, else
    the newest known). Raises the browser provider's errors: ProviderConfigError when there
    is no Chromium at ``chromium_path``, ProviderStartFailed when it will not launch.
    """
    known = build if build in profiles.PROFILES else None
    prepared = known or profiles.newest().build
    persona = persona or canary_persona()
    config = BrowserConfig(
        chromium_path=chromium_path,
        origin=ORIGIN,
        sdk_file=sdk_file,
        sdk_version=prepared,
        pages=1,
        start_timeout_s=start_timeout_s,
    )
    provider = BrowserProvider(config, PersonaStore(persona))
    await provider.start()
    try:
        facts = await provider.page_facts()
        get = await provider.sign(SignRequest(CANARY_GET))
        post = await provider.sign(SignRequest(CANARY_POST, method="POST", body=CANARY_BODY))
        socket: SignResult | None = None
        if facts["socket_signer"]:
            try:
                socket = await provider.sign(
                    SignRequest(f"{CANARY_SOCKET_BASE}?{canary_socket_query()}", kind="ws")
                )
            except ProviderDeclined:
                socket = None
    finally:
        await provider.aclose()
    verified = _verified_http(get, "")
    parsed = parse_signed(get.signed_url)
    dynosaur = _dynosaur(parsed.x_dynosaur if parsed else None)
    gnarly = _gnarly(get.x_gnarly)
    socket_gnarly = None
    if socket is not None and socket.x_gnarly is not None:
        socket_gnarly = _gnarly(socket.x_gnarly)
    return {
        "build": get.sdk_version or (verified.build if verified else None),
        "known_build": verified is not None and verified.known,
        "prepared_as": prepared,
        "token_version_strings": {
            "x_gnarly_version": gnarly and gnarly.get("version"),
            "x_gnarly_build": gnarly and gnarly.get("build"),
            "x_dynosaur_version": dynosaur.get("version"),
            "x_dynosaur_build": dynosaur.get("build"),
        },
        "exports": facts["exports"],
        "exports_after_init": facts["exports_after_init"],
        "init_throws": facts["init_error"] is not None,
        "signature": {
            "appended": _appended(CANARY_GET, get.signed_url),
            "post_appended": _appended(CANARY_POST, post.signed_url),
            "x_bogus": _x_bogus(get.x_bogus),
            "x_gnarly": gnarly,
            "x_dynosaur": dynosaur,
        },
        "socket_signer": {
            "exists": bool(facts["socket_signer"]),
            "x_gnarly": socket_gnarly,
        },
        "navigator_fields": {
            "envcode": verified.envcode if verified else None,
            "ubcode": verified.ubcode if verified else None,
            "canvas": verified.canvas if verified else None,
        },
        "socket_params": list(PLAYER_SOCKET_PARAMS) if facts["socket_signer"] else [],
    }


def snapshot(
    sdk_file: Path,
    chromium_path: Path,
    *,
    persona: Persona | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The whole snapshot of ``sdk_file`` (runs Chromium; see :func:`observe`)."""
    return asyncio.run(snapshot_async(sdk_file, chromium_path, persona=persona, now=now))


async def snapshot_async(
    sdk_file: Path,
    chromium_path: Path,
    *,
    persona: Persona | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """:func:`snapshot` inside a running event loop."""
    static = await asyncio.to_thread(_read_static, sdk_file)
    observed = await observe(sdk_file, chromium_path, build=static["file_build"], persona=persona)
    tokens = observed.pop("token_version_strings")
    created = now or dt.datetime.now(dt.UTC)
    return {
        "format": FORMAT,
        "build": observed.pop("build") or static["file_build"],
        "file": static["file"],
        "version_strings": {
            "file": static["file_version_strings"],
            "tokens": tokens,
        },
        **observed,
        "obfuscation": static["obfuscation"],
        "created_at": created.isoformat(timespec="seconds"),
    }


def _read_static(sdk_file: Path) -> dict[str, Any]:
    if not sdk_file.is_file():
        raise BaselineError(f"no SDK file at {sdk_file}", usage=True)
    return static_facts(sdk_file)


def load(path: Path) -> dict[str, Any]:
    """A baseline file; BaselineError (usage) when it is missing or not a snapshot."""
    if not path.is_file():
        raise BaselineError(
            f"no baseline at {path}: create one with `tiktok-signer baseline create -o {path}`",
            usage=True,
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"the baseline {path} is not readable JSON: {exc}", usage=True) from exc
    if not isinstance(data, dict) or "build" not in data or "signature" not in data:
        raise BaselineError(f"{path} is not a baseline snapshot (no build/signature)", usage=True)
    return data


# -- the analysis

Kind = Literal["value", "presence", "drift"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One fact of the snapshot compared between the baseline and now.

    ``path`` names the fact (dotted keys). ``kind``: ``value`` (any difference is a
    finding ``name``), ``presence`` (a boolean: ``name`` + ``_appeared`` or
    ``_disappeared``), ``drift`` (a number: ``severity`` past :data:`OBFUSCATION_DRIFT`
    relative change, INFO below). ``action`` may name ``{build}`` (the current build),
    ``{baseline_build}`` and ``{profile_step}`` (select the build's profile when one
    exists, else add one). ``unknown_severity``: the severity instead when the current
    build has no profile.
    """

    path: str
    name: str
    kind: Kind
    severity: Severity
    what: str
    action: str
    unknown_severity: Severity | None = None
    #: Compared only when this fact is the same on both sides (a finding of its own
    #: covers the rest: no record tags to compare when X-Dynosaur just appeared).
    only_if_same: str | None = None


_SWITCH = (
    "until then order a provider that signs the new form first "
    "(POST /admin/providers: browser first in live mode, or a remote)"
)

#: The rules, worst first. Documented in the module docstring; the README lists them.
RULES: tuple[Rule, ...] = (
    Rule(
        "signature.x_bogus.form",
        "x_bogus_form_changed",
        "value",
        Severity.CRITICAL,
        "X-Bogus form",
        "{profile_step}; the native provider's X-Bogus no longer matches: " + _SWITCH,
    ),
    Rule(
        "signature.x_bogus.length",
        "x_bogus_length_changed",
        "value",
        Severity.CRITICAL,
        "X-Bogus length",
        "{profile_step}; check providers/xbogus.py against the new tokens",
        only_if_same="signature.x_bogus.form",
    ),
    Rule(
        "signature.x_dynosaur.present",
        "x_dynosaur",
        "presence",
        Severity.CRITICAL,
        "X-Dynosaur",
        "{profile_step} (x_dynosaur flag and its records); " + _SWITCH,
    ),
    Rule(
        "socket_signer.exists",
        "socket_signer",
        "presence",
        Severity.CRITICAL,
        "socket signer (registerWsSigner)",
        "{profile_step} (socket_signer flag); SIGNER_LIVE_TRANSPORT=auto then picks direct "
        "for a build with a socket signer, fetch without one",
    ),
    Rule(
        "signature.appended",
        "appended_order_changed",
        "value",
        Severity.CRITICAL,
        "parameters appended to a signed request, in order",
        "{profile_step} (appended); clients that read tokens by position must be told",
    ),
    Rule(
        "signature.x_gnarly.magic",
        "x_gnarly_magic_changed",
        "value",
        Severity.CRITICAL,
        "X-Gnarly magic byte",
        "the envelope changed: update providers/xgnarly.py from the new build's tokens; " + _SWITCH,
    ),
    Rule(
        "signature.x_gnarly.decodes",
        "x_gnarly_undecodable",
        "value",
        Severity.CRITICAL,
        "X-Gnarly decodes with the known envelope",
        "the envelope changed: update providers/xgnarly.py; " + _SWITCH,
    ),
    Rule(
        "signature.x_gnarly.field_ids",
        "x_gnarly_fields_changed",
        "value",
        Severity.CRITICAL,
        "X-Gnarly field ids",
        "{profile_step} (gnarly_fields) and teach providers/xgnarly.py the new fields; " + _SWITCH,
    ),
    Rule(
        "signature.x_dynosaur.record_tags",
        "x_dynosaur_records_changed",
        "value",
        Severity.CRITICAL,
        "X-Dynosaur record tags",
        "update providers/xdynosaur.py (TAGS) and the vectors; " + _SWITCH,
        only_if_same="signature.x_dynosaur.present",
    ),
    Rule(
        "socket_signer.x_gnarly.field_ids",
        "socket_gnarly_fields_changed",
        "value",
        Severity.HIGH,
        "socket X-Gnarly field ids",
        "{profile_step}; check the socket vectors (shared/vectors/sdk-*-ws.json)",
        only_if_same="socket_signer.exists",
    ),
    Rule(
        "exports",
        "exports_changed",
        "value",
        Severity.HIGH,
        "byted_acrawler's exported keys",
        "check init and registerWsSigner in providers/browser_capture.js against the new keys",
    ),
    Rule(
        "socket_params",
        "socket_params_changed",
        "value",
        Severity.HIGH,
        "the player's socket query parameters",
        "update the player query in signer/live/transport.py (player_query)",
        only_if_same="socket_signer.exists",
    ),
    Rule(
        "version_strings.tokens.x_gnarly_version",
        "x_gnarly_version_changed",
        "value",
        Severity.MEDIUM,
        "X-Gnarly version (field 9)",
        "{profile_step}",
        unknown_severity=Severity.HIGH,
    ),
    Rule(
        "version_strings.tokens.x_gnarly_build",
        "x_gnarly_build_changed",
        "value",
        Severity.MEDIUM,
        "X-Gnarly build (field 10)",
        "{profile_step}",
        unknown_severity=Severity.HIGH,
    ),
    Rule(
        "build",
        "build_changed",
        "value",
        Severity.MEDIUM,
        "SDK build",
        "{profile_step}; then `tiktok-signer baseline create` to take the new baseline",
        unknown_severity=Severity.HIGH,
    ),
    Rule(
        "init_throws",
        "init_behaviour_changed",
        "value",
        Severity.MEDIUM,
        "byted_acrawler.init throws offline",
        "{profile_step} (init_throws)",
    ),
    Rule(
        "navigator_fields",
        "navigator_fields_changed",
        "value",
        Severity.MEDIUM,
        "environment in the tokens (envcode, ubcode, canvas)",
        "check the persona (SIGNER_SDK_FLAGS, SIGNER_SDK_CANVAS, SIGNER_BROWSER_PLATFORM) "
        "and the profile's flags/canvas",
    ),
    Rule(
        "signature.x_gnarly.length",
        "x_gnarly_length_changed",
        "value",
        Severity.MEDIUM,
        "X-Gnarly length",
        "compare the field set and value widths with the profile",
    ),
    Rule(
        "version_strings.file",
        "file_version_strings_changed",
        "value",
        Severity.MEDIUM,
        "version strings in the file",
        "{profile_step}",
    ),
    Rule(
        "obfuscation.function_count",
        "obfuscation_functions_drift",
        "drift",
        Severity.MEDIUM,
        "function count",
        "a re-obfuscation or new code: watch the next signature checks",
    ),
    Rule(
        "obfuscation.string_table_size",
        "obfuscation_strings_drift",
        "drift",
        Severity.MEDIUM,
        "string-table size",
        "a re-obfuscation or new code: watch the next signature checks",
    ),
    Rule(
        "obfuscation.identifiers.unique",
        "obfuscation_identifiers_drift",
        "drift",
        Severity.MEDIUM,
        "unique identifiers",
        "a re-obfuscation or new code: watch the next signature checks",
    ),
    Rule(
        "obfuscation.entropy_bits_per_byte",
        "obfuscation_entropy_drift",
        "drift",
        Severity.MEDIUM,
        "Shannon entropy",
        "a re-obfuscation or new code: watch the next signature checks",
    ),
    Rule(
        "file.sha256",
        "file_changed",
        "value",
        Severity.INFO,
        "SDK file sha256",
        "none while the signature facts hold; take a new baseline once reviewed",
    ),
    Rule(
        "file.size",
        "file_size_changed",
        "value",
        Severity.INFO,
        "SDK file size",
        "none while the signature facts hold",
    ),
)


def _get(snapshot: Mapping[str, Any], path: str) -> Any:
    value: Any = snapshot
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _show(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return f"{len(value)} ({_ranges(value)})"
    if isinstance(value, list) and len(value) > LIST_SHOWN:
        return f"{len(value)} ({value[0]} .. {value[-1]})"
    if isinstance(value, list):
        return ",".join(map(str, value)) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "none" if value is None else str(value)


def _ranges(ids: Sequence[int]) -> str:
    """``0-15`` for a run of ids, ``0-3,5`` otherwise."""
    parts: list[str] = []
    ordered = sorted(ids)
    start = prev = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ",".join(parts)


def _difference(rule: Rule, old: Any, new: Any) -> str:
    if isinstance(old, list) and isinstance(new, list) and rule.path == "exports":
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        return (
            f"{rule.what}: added {_show(added)}; removed {_show(removed)}"
            if added or removed
            else f"{rule.what}: order {_show(old)} -> {_show(new)}"
        )
    return f"{rule.what}: {_show(old)} -> {_show(new)}"


def _profile_step(build: str) -> str:
    if build in profiles.PROFILES:
        return (
            f"select SIGNER_SDK_VERSION={build} (its profile exists) so the browser serves and "
            "native imitates it"
        )
    return (
        f"add a profile entry for build {build} in providers/profiles.py, its pin in "
        "providers/sdk.py and vectors in shared/vectors, then SIGNER_SDK_VERSION=" + build
    )


def _judge(rule: Rule, old: Any, new: Any, *, known: bool) -> tuple[Severity, str] | None:
    """The severity and kind of a difference under ``rule``, or None when there is none."""
    if rule.kind == "drift":
        if not isinstance(old, int | float) or not isinstance(new, int | float) or old == new:
            return None
        relative = abs(new - old) / abs(old) if old else 1.0
        severity = rule.severity if relative > OBFUSCATION_DRIFT else Severity.INFO
        return severity, rule.name
    if old == new:
        return None
    severity = rule.severity
    if not known and rule.unknown_severity is not None:
        severity = max(severity, rule.unknown_severity)
    if rule.kind == "presence":
        return severity, f"{rule.name}_{'appeared' if new else 'disappeared'}"
    return severity, rule.name


def analyze(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> list[Finding]:
    """The findings of ``current`` against ``baseline``, worst first; INFO ``no_change`` if none."""
    build = str(current.get("build") or "unknown")
    baseline_build = str(baseline.get("build") or "unknown")
    known = build in profiles.PROFILES
    values = {
        "build": build,
        "baseline_build": baseline_build,
        "profile_step": _profile_step(build),
    }
    findings: list[Finding] = []
    for rule in RULES:
        if rule.only_if_same is not None and _get(baseline, rule.only_if_same) != _get(
            current, rule.only_if_same
        ):
            continue
        old, new = _get(baseline, rule.path), _get(current, rule.path)
        judged = _judge(rule, old, new, known=known)
        if judged is None:
            continue
        severity, kind = judged
        detail = _difference(rule, old, new)
        if rule.kind == "presence":
            detail = f"{rule.what} {'appeared' if new else 'disappeared'} (build {build})"
        findings.append(Finding(severity, kind, detail, rule.action.format(**values)))
    if not known:
        findings.append(
            Finding(
                Severity.HIGH,
                "unknown_build",
                f"build {build} has no profile (its tokens were decoded with the envelope "
                f"of {profiles.newest().build})",
                _profile_step(build),
            )
        )
    if not findings:
        findings.append(
            Finding(
                Severity.INFO,
                "no_change",
                f"build {build} matches the baseline of {baseline.get('created_at', '?')}",
                "none",
            )
        )
    findings.sort(key=lambda finding: -finding.severity)
    return findings


def verdict(findings: Sequence[Finding]) -> Severity:
    """The worst severity of ``findings``."""
    return worst(list(findings))


def dumps(snapshot: Mapping[str, Any]) -> str:
    """The snapshot as the baseline file holds it."""
    return json.dumps(snapshot, indent=2, sort_keys=False) + "\n"

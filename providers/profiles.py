"""TikTok's web SDK builds as data: one :class:`Profile` per known build.

TikTok changes its web SDK (``webmssdk``) every two to four months. What a build appends
to a signed request, in which order, what its X-Bogus looks like, which X-Gnarly version
strings and fields it writes, whether it writes X-Dynosaur, whether it can sign the LIVE
socket URL and which paths it signs are facts of that build; they live here, and the
codecs, the providers and the self-check read them. Adding the next build is one entry
here plus its vectors (``shared/reference/sdk-2026.md``, ``shared/DESIGN.md``).

A profile also supplies the environment defaults of a persona that imitates the build
(flags, canvas); the service's persona settings override them only when set explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_BUILD",
    "PROFILES",
    "Profile",
    "by_gnarly_version",
    "envcode",
    "get",
    "newest",
]

XBogusForm = Literal["hash", "literal"]

#: The build the service imitates unless ``SIGNER_SDK_VERSION`` says otherwise.
DEFAULT_BUILD = "1.0.0.417"


@dataclass(frozen=True, slots=True)
class Profile:
    """What one SDK build does to a request it signs.

    ``flags`` are the environment bytes ``(f1, f2, ubcode)``: the envcode is
    ``f1 << 8 | f2`` (X-Gnarly field 1, X-Dynosaur 0x26), ``ubcode`` is X-Gnarly field 2.
    They are what the build reports in headless Chromium whose ``navigator.platform``
    agrees with the user agent; a platform that disagrees sets bit ``0x400`` of the
    envcode (``platform_mismatch_bit``).
    """

    #: The SDK file's version (its ``scmVersion`` for 2026 builds): the key of PROFILES.
    build: str
    #: 2025 or 2026: the token layout family.
    line: Literal[2025, 2026]
    #: Parameters the SDK appends to a signed fetch/XHR, in order.
    appended: tuple[str, ...]
    #: ``hash``: a 28-character X-Bogus over the query; ``literal``: ``x_bogus_literal``.
    x_bogus: XBogusForm
    x_bogus_literal: str | None
    #: X-Gnarly field 9 (the SDK version string) and field 10 (None: the field is absent).
    gnarly_version: str
    gnarly_build: str | None
    #: Every X-Gnarly field id the build writes.
    gnarly_fields: tuple[int, ...]
    #: Whether the build appends X-Dynosaur, and can sign the LIVE socket URL.
    x_dynosaur: bool
    socket_signer: bool
    #: ``init``'s ``enablePathList``: path prefixes whose requests the SDK signs.
    signed_paths: tuple[str, ...]
    #: Paths TikTok's own pages do not sign with this build: never asked of it.
    unsigned_paths: tuple[str, ...]
    #: Whether ``byted_acrawler.init`` throws offline (harmless, the interceptor is set).
    init_throws: bool
    #: Whether the SDK percent-encodes the page's URL before signing when it has no ``%``.
    rewrites_url: bool
    #: Environment defaults (see the class docstring) and the canvas fingerprint.
    flags: tuple[int, int, int]
    canvas: int
    platform_mismatch_bit: int = 0x400

    @property
    def envcode(self) -> int:
        """The envcode the build writes in a consistent environment."""
        return envcode(self.flags)

    def signs_path(self, path: str) -> bool:
        """Whether the build signs a request to ``path`` (an absolute URL path)."""
        if any(path.startswith(prefix) for prefix in self.unsigned_paths):
            return False
        return any(path.startswith(prefix) for prefix in self.signed_paths)


def envcode(flags: tuple[int, int, int]) -> int:
    """The envcode of environment bytes ``(f1, f2, ubcode)``: ``f1 << 8 | f2``."""
    return (flags[0] << 8) | flags[1]


_2025_APPENDED = ("msToken", "X-Bogus", "X-Gnarly")
_2026_APPENDED = ("X-Dynosaur", "msToken", "X-Bogus", "X-Gnarly")
_2025_GNARLY_FIELDS = tuple(range(16))
_2026_GNARLY_FIELDS = tuple(range(17))
_SIGNED_PATHS = ("/api/", "/webcast/")
_CANVAS = 3666844619


def _2025(build: str, gnarly_version: str, gnarly_build: str) -> Profile:
    return Profile(
        build=build,
        line=2025,
        appended=_2025_APPENDED,
        x_bogus="hash",
        x_bogus_literal=None,
        gnarly_version=gnarly_version,
        gnarly_build=gnarly_build,
        gnarly_fields=_2025_GNARLY_FIELDS,
        x_dynosaur=False,
        socket_signer=False,
        signed_paths=_SIGNED_PATHS,
        unsigned_paths=(),
        init_throws=True,
        rewrites_url=False,
        # Measured in Chromium 156 (as for 1.0.0.417): a platform that agrees with the UA
        # gives envcode 65; (4, 65, 14), what the service signed with before, was a Windows
        # UA left on Chromium's Linux platform (bit 0x400).
        flags=(0, 65, 14),
        canvas=_CANVAS,
    )


#: Every known build, oldest first.
PROFILES: Mapping[str, Profile] = {
    "1.0.0.368": _2025("1.0.0.368", "5.1.3-ZTCA", "1.0.0.368"),
    "2.0.0.485": _2025("2.0.0.485", "5.1.3-ZTCA", "2.0.0.485"),
    "5.1.3": _2025("5.1.3", "5.1.3", "1.0.0.328"),
    "1.0.0.417": Profile(
        build="1.0.0.417",
        line=2026,
        appended=_2026_APPENDED,
        x_bogus="literal",
        x_bogus_literal="1",
        gnarly_version="5.3.2",
        gnarly_build="1.0.0.417",
        gnarly_fields=_2026_GNARLY_FIELDS,
        x_dynosaur=True,
        socket_signer=True,
        signed_paths=_SIGNED_PATHS,
        # TikTok's pages do not sign the LIVE fetch with 2026 builds (sdk-2026.md).
        unsigned_paths=("/webcast/im/fetch",),
        init_throws=False,
        rewrites_url=True,
        # Measured with the browser provider (Debian Chromium 156, headless, stealth): a
        # Windows (Win32), macOS (MacIntel) or Linux (Linux x86_64) Chrome UA on the
        # platform a real browser of that UA reports writes envcode 65, ubcode 14, for
        # HTTP and socket signatures alike; the same UA left on Chromium's Linux platform
        # writes 1089 (0x400). The SDK reads navigator.platform, navigator.plugins and
        # navigator.webdriver on every signature and the user agent once, at load; it does
        # not read navigator.userAgentData. Other bits seen: 0x08 navigator.webdriver, 0x12
        # a plugins list that is not Chromium's own (e.g. empty). 0x40 and 0x01 stayed set
        # under every change tried (window.chrome, WebGL renderer, plugins, outer size,
        # Notification, connection, cookies, history, focus, call stack, init options): a
        # real browser's value for them could not be measured offline.
        flags=(0, 65, 14),
        canvas=_CANVAS,
    ),
}


def get(build: str) -> Profile:
    """The profile of ``build``; KeyError naming the known builds when there is none."""
    try:
        return PROFILES[build]
    except KeyError:
        raise KeyError(
            f"no profile for SDK build {build!r} (known: {', '.join(PROFILES)})"
        ) from None


def by_gnarly_version(version: object, build: object) -> Profile | None:
    """The profile whose X-Gnarly fields 9 and 10 are ``version`` and ``build``, or None."""
    for profile in PROFILES.values():
        if profile.gnarly_version == version and profile.gnarly_build == build:
            return profile
    return None


def newest() -> Profile:
    """The newest known build: its envelope decodes the tokens of an unknown build."""
    return list(PROFILES.values())[-1]

"""TikTok's SDK files, pinned: fetched once from an npm package, verified on every use.

The browser provider serves one of these files to Chromium (``SIGNER_SDK_SOURCE=file``).
They are TikTok's code, so they are never committed: ``tiktok-signer sdk fetch`` (which
``scripts/setup`` runs) takes them out of the pinned package ``tiktok-signature@4.3.6``
with ``npm pack``, checks the sha256 of the tarball and of every file, and keeps them in
``SIGNER_SDK_CACHE_DIR``. The pins come from ``shared/reference/web-signing.md`` §11.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from providers.errors import ProviderConfigError, SdkFetchFailed, SdkMissing

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    #: Leaves the package's tarball in the given directory and returns its path.
    Packer = Callable[[Path], Path]

PACKAGE = "tiktok-signature@4.3.6"
TARBALL_SHA256 = "079b88f611c7074111def9bf4ec7c796aca48a26b62877d6b75f7139485e2f49"
NPM_TIMEOUT_S = 120.0
FETCH_HINT = "run `tiktok-signer sdk fetch`"
MISSING = "missing"
_CHUNK_BYTES = 1 << 16

Status = Literal["ok", "missing", "mismatch"]


@dataclass(frozen=True, slots=True)
class Pin:
    """One pinned file of the package: its path in the tarball, its size and sha256."""

    member: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        """Refuse a member path that cannot name a file inside the staging directory."""
        path = PurePosixPath(self.member)
        if path.is_absolute() or path.name in {"", ".", ".."}:
            raise ValueError(f"a pin names a relative path to a file, not {self.member!r}")

    @property
    def name(self) -> str:
        """The file's name in the cache directory."""
        return PurePosixPath(self.member).name


PINS: Mapping[str, Pin] = {
    "1.0.0.368": Pin(
        "package/javascript/webmssdk_1.0.0.368.js",
        245612,
        "c7524c795ee08c1d2d4465fdfca1102bbf3bd1034fa4ae33f2a8984047b8a484",
    ),
    "2.0.0.485": Pin(
        "package/javascript/webmssdk_2.0.0.485.js",
        244948,
        "4c2fccf5a34b37474e8515412f7e30064e67864fb7f2c1c13b2e4844aa24f366",
    ),
    "5.1.3": Pin(
        "package/javascript/webmssdk_5.1.3.js",
        520253,
        "55923798d90ddd84a348cd38f25a34c8ea5afa9a7dda2528a3c9360bd21674d2",
    ),
}


@dataclass(frozen=True, slots=True)
class SdkFile:
    """What the cache holds for one pinned version; ``size`` and ``sha256`` are on disk."""

    version: str
    path: Path
    size: int | None
    sha256: str | None
    ok: bool
    problem: str | None

    @property
    def status(self) -> Status:
        """``ok``, ``missing`` (nothing readable there) or ``mismatch`` (not the pinned file)."""
        if self.ok:
            return "ok"
        return "missing" if self.size is None else "mismatch"


def sdk_path(cache_dir: Path, version: str, *, pins: Mapping[str, Pin] | None = None) -> Path:
    """The verified file of SDK ``version`` in ``cache_dir``.

    Raises :class:`SdkMissing` when the file is absent or does not match its pin, and
    :class:`ProviderConfigError` for a version that is not pinned.
    """
    pins = PINS if pins is None else pins
    pin = pins.get(version)
    if pin is None:
        raise ProviderConfigError(
            f"invalid setting sdk_version: no pinned SDK {version!r} (pinned: {', '.join(pins)})"
        )
    found = _inspect(version, pin, cache_dir / pin.name)
    if found.ok:
        return found.path
    if found.problem == MISSING:
        raise SdkMissing(
            f"TikTok's SDK {version} ({pin.name}) is not in {cache_dir}: {FETCH_HINT}",
            path=str(found.path),
        )
    what = "does not match its pin" if found.status == "mismatch" else "cannot be read"
    raise SdkMissing(
        f"TikTok's SDK file {found.path} {what} ({found.problem}): {FETCH_HINT} to replace it",
        path=str(found.path),
    )


def list_files(cache_dir: Path, *, pins: Mapping[str, Pin] | None = None) -> list[SdkFile]:
    """Each pinned version as the cache holds it: present and matching, missing, or not."""
    pins = PINS if pins is None else pins
    return [_inspect(version, pin, cache_dir / pin.name) for version, pin in pins.items()]


def fetch(
    cache_dir: Path,
    *,
    pack: Packer | None = None,
    pins: Mapping[str, Pin] | None = None,
    tarball_sha256: str | None = None,
) -> list[SdkFile]:
    """Put every pinned file into ``cache_dir``, verified; do nothing when all already are.

    ``pack`` gets the package's tarball: by default :func:`npm_pack`, whose tarball must
    hash to :data:`TARBALL_SHA256`. An injected packer (tests) brings its own tarball, its
    ``pins`` and optionally the ``tarball_sha256`` to check. Only the pinned members are
    read out of it, each must match its pin, and the cache changes only when all of them do.
    Raises :class:`SdkFetchFailed` saying what went wrong.
    """
    pins = PINS if pins is None else pins
    files = list_files(cache_dir, pins=pins)
    if all(file.ok for file in files):
        return files
    if pack is None:
        pack, tarball_sha256 = npm_pack, TARBALL_SHA256
    with tempfile.TemporaryDirectory(prefix="tiktok-signer-pack-") as packed:
        tarball = pack(Path(packed))
        if tarball_sha256 is not None:
            _check_tarball(tarball, tarball_sha256)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            # Staged inside the cache, so that the final rename is atomic (same file system).
            with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as staging:
                staged = _copy_pinned(tarball, pins, Path(staging))
                for pin, path in staged:
                    path.replace(cache_dir / pin.name)
        except OSError as exc:
            raise SdkFetchFailed(f"cannot write the SDK files to {cache_dir}: {exc}") from None
    return list_files(cache_dir, pins=pins)


def npm_pack(directory: Path) -> Path:
    """Run ``npm pack`` of :data:`PACKAGE` into ``directory``: the default packer."""
    npm = shutil.which("npm")
    if npm is None:
        raise SdkFetchFailed(
            f"npm is not installed, so {PACKAGE} cannot be fetched "
            "(scripts/setup installs Debian's nodejs and npm)"
        )
    command = [npm, "pack", PACKAGE, "--pack-destination", str(directory), "--ignore-scripts"]
    try:
        result = subprocess.run(  # noqa: S603 - a fixed command: npm from PATH, pinned package
            command,
            cwd=directory,  # away from any project's .npmrc
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SdkFetchFailed(
            f"`npm pack {PACKAGE}` did not finish within {NPM_TIMEOUT_S:g} s"
        ) from None
    except OSError as exc:
        raise SdkFetchFailed(f"cannot run {npm}: {exc}") from None
    if result.returncode != 0:
        raise SdkFetchFailed(
            f"`npm pack {PACKAGE}` failed with exit code {result.returncode}:\n"
            f"{_tail(result.stderr)}"
        )
    tarballs = sorted(directory.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SdkFetchFailed(f"`npm pack {PACKAGE}` left {len(tarballs)} tarballs instead of one")
    return tarballs[0]


def _tail(text: str, lines: int = 10) -> str:
    """The last lines of a tool's error output, which say what went wrong."""
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)[-2000:] or "(no error output)"


def _check_tarball(tarball: Path, expected: str) -> None:
    with tarball.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != expected:
        raise SdkFetchFailed(
            f"the tarball {tarball.name} has sha256 {digest}, pinned {expected}: "
            "the package changed or the download is corrupt; nothing was written"
        )


def _copy_pinned(tarball: Path, pins: Mapping[str, Pin], staging: Path) -> list[tuple[Pin, Path]]:
    """Copy and verify every pinned member into ``staging``; nothing else leaves the tarball."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            return [
                (pin, _copy_member(tar, version, pin, staging)) for version, pin in pins.items()
            ]
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SdkFetchFailed(f"cannot read the tarball {tarball.name}: {exc}") from None


def _copy_member(tar: tarfile.TarFile, version: str, pin: Pin, staging: Path) -> Path:
    """Copy one pinned member's bytes to ``staging / pin.name``, hashing them on the way.

    The member is read, never extracted: no path from the tarball is used to write, so
    nothing depends on ``tarfile``'s extraction filters (Python 3.11.4+, while Debian 12
    has 3.11.2). Climbing or absolute names, links and other non-regular members are
    still refused: a package that holds them at a pinned path is not the pinned package.
    """
    try:
        member = tar.getmember(pin.member)
    except KeyError:
        raise SdkFetchFailed(f"the tarball has no {pin.member} (SDK {version})") from None
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise SdkFetchFailed(
            f"{pin.member} in the tarball is unsafe (an absolute path or one with '..'); refused"
        )
    source = tar.extractfile(member) if member.isreg() else None
    if source is None:
        raise SdkFetchFailed(f"{pin.member} in the tarball is not a regular file; refused")
    if member.size != pin.size:  # before reading: a member of any other size is not the pin
        raise SdkFetchFailed(
            f"{pin.member} (SDK {version}) in the tarball does not match its pin: "
            f"{member.size} bytes, pinned {pin.size}; nothing was written"
        )
    path = staging / pin.name
    digest = hashlib.sha256()
    with source, path.open("xb") as target:
        while chunk := source.read(_CHUNK_BYTES):
            digest.update(chunk)
            target.write(chunk)
    problem = _mismatch(pin, path.stat().st_size, digest.hexdigest())
    if problem is not None:
        raise SdkFetchFailed(
            f"{pin.member} (SDK {version}) in the tarball does not match its pin: {problem}; "
            "nothing was written"
        )
    return path


def _mismatch(pin: Pin, size: int, digest: str) -> str | None:
    problems = []
    if size != pin.size:
        problems.append(f"{size} bytes, pinned {pin.size}")
    if digest != pin.sha256:
        problems.append(f"sha256 {digest[:12]}..., pinned {pin.sha256[:12]}...")
    return "; ".join(problems) or None


#: Hashes by absolute path, valid while (inode, size, mtime, ctime) stay the same: a server
#: that checks its SDK file on every page start hashes it once. The inode changes when the
#: file is replaced, the ctime on a rewrite that restores the mtime (tar, ``touch -d``).
_hashed: dict[Path, tuple[tuple[int, int, int, int], str]] = {}


def _inspect(version: str, pin: Pin, path: Path) -> SdkFile:
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            key = path.absolute()
            known = _hashed.get(key)
            if known is not None and known[0] == stamp:
                digest = known[1]
            else:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
                _hashed[key] = (stamp, digest)
    except FileNotFoundError:
        return SdkFile(version, path, None, None, ok=False, problem=MISSING)
    except OSError as exc:
        return SdkFile(version, path, None, None, ok=False, problem=f"unreadable: {exc}")
    problem = _mismatch(pin, info.st_size, digest)
    return SdkFile(version, path, info.st_size, digest, ok=problem is None, problem=problem)

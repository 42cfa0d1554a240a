"""TikTok's SDK files, pinned: fetched once from pinned packages, verified on every use.

The browser provider serves one of these files to Chromium (``SIGNER_SDK_SOURCE=file``).
They are TikTok's code, so they are never committed: ``tiktok-signer sdk fetch`` (which
``scripts/setup`` runs) takes each pinned build out of the package it is pinned to, checks
the sha256 of the package's archive and the size and sha256 of the file, and keeps it in
``SIGNER_SDK_CACHE_DIR``. Two sources:

* the npm package ``tiktok-signature@4.3.6`` (``npm pack``, a gzipped tarball) for
  1.0.0.368, 2.0.0.485 and 5.1.3: pins from ``shared/reference/web-signing.md`` section 11;
* the PyPI wheel ``tiktok-forge==1.1.0`` (``pip download`` of the wheel alone, read with
  ``zipfile``) for 1.0.0.417: pins from ``shared/reference/sdk-2026.md``. Only its data
  file is used: the package is never installed, imported or built.

Adding a build is adding its :class:`Pin` to :data:`PINS`; every caller takes the list of
versions from there.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Literal

from providers.errors import ProviderConfigError, SdkFetchFailed, SdkMissing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    #: Leaves the source's archive (npm's tarball, PyPI's wheel) in the given directory and
    #: returns its path; :func:`fetch_archive` by default, a fake in tests.
    Fetcher = Callable[["Source", Path], Path]

PACKAGE = "tiktok-signature@4.3.6"
TARBALL_SHA256 = "079b88f611c7074111def9bf4ec7c796aca48a26b62877d6b75f7139485e2f49"
WHEEL_PACKAGE = "tiktok-forge==1.1.0"
WHEEL_SHA256 = "4da7656dd50c93cd7cb0bc7daf27acf86834d61271dc8996f3761346868a8bfd"
NPM_TIMEOUT_S = 120.0
PIP_TIMEOUT_S = 120.0
#: The interpreter whose pip downloads the wheel: the one running this code (the
#: virtualenv's in ``scripts/setup``, the image's in the Dockerfile).
PYTHON = sys.executable
FETCH_HINT = "run `tiktok-signer sdk fetch`"
MISSING = "missing"
_CHUNK_BYTES = 1 << 16

Status = Literal["ok", "missing", "mismatch"]
SourceKind = Literal["npm", "pypi"]

#: What each kind of source comes as.
ARCHIVES: Mapping[SourceKind, str] = {"npm": "tarball", "pypi": "wheel"}


@dataclass(frozen=True, slots=True)
class Source:
    """A pinned package that ships SDK files, and the sha256 of the archive it comes as.

    ``kind`` says how it is fetched and read: ``npm`` (``npm pack``, a gzipped tarball) or
    ``pypi`` (``pip download`` of its wheel, a zip file). ``package`` is the pinned package
    as that client writes it (``name@version``, ``name==version``).
    """

    kind: SourceKind
    package: str
    sha256: str

    def __str__(self) -> str:
        """``kind:package``, as ``sdk list`` shows it: ``pypi:tiktok-forge==1.1.0``."""
        return f"{self.kind}:{self.package}"

    @property
    def archive(self) -> str:
        """``tarball`` or ``wheel``."""
        return ARCHIVES[self.kind]


NPM_SOURCE = Source("npm", PACKAGE, TARBALL_SHA256)
WHEEL_SOURCE = Source("pypi", WHEEL_PACKAGE, WHEEL_SHA256)


@dataclass(frozen=True, slots=True)
class Pin:
    """One pinned SDK file: its source, its path in the source's archive, size and sha256.

    ``file`` is its name in the cache directory, by default the member's own name.
    """

    source: Source
    member: str
    size: int
    sha256: str
    file: str | None = None

    def __post_init__(self) -> None:
        """Refuse a member path or file name that cannot name a file in the cache."""
        path = PurePosixPath(self.member)
        if path.is_absolute() or path.name in {"", ".", ".."}:
            raise ValueError(f"a pin names a relative path to a file, not {self.member!r}")
        if self.file is not None and (
            self.file in {"", ".", ".."} or PurePosixPath(self.file).name != self.file
        ):
            raise ValueError(f"a pin's file is a plain file name, not {self.file!r}")

    @property
    def name(self) -> str:
        """The file's name in the cache directory."""
        return self.file or PurePosixPath(self.member).name


PINS: Mapping[str, Pin] = {
    "1.0.0.368": Pin(
        NPM_SOURCE,
        "package/javascript/webmssdk_1.0.0.368.js",
        245612,
        "c7524c795ee08c1d2d4465fdfca1102bbf3bd1034fa4ae33f2a8984047b8a484",
    ),
    "1.0.0.417": Pin(
        WHEEL_SOURCE,
        "tiktokforge/js/webmssdk.js",
        243702,
        "6625c4fd90012eb2b6166002b278ac99ba2a2495325590f8eda9071544a814c8",
        file="webmssdk_1.0.0.417.js",
    ),
    "2.0.0.485": Pin(
        NPM_SOURCE,
        "package/javascript/webmssdk_2.0.0.485.js",
        244948,
        "4c2fccf5a34b37474e8515412f7e30064e67864fb7f2c1c13b2e4844aa24f366",
    ),
    "5.1.3": Pin(
        NPM_SOURCE,
        "package/javascript/webmssdk_5.1.3.js",
        520253,
        "55923798d90ddd84a348cd38f25a34c8ea5afa9a7dda2528a3c9360bd21674d2",
    ),
}


def sources(pins: Iterable[Pin] | None = None) -> list[Source]:
    """The sources of ``pins`` (by default every pin), each once, in the pins' order."""
    pins = PINS.values() if pins is None else pins
    return list(dict.fromkeys(pin.source for pin in pins))


def stale_sources(files: Iterable[SdkFile]) -> list[Source]:
    """The sources of the files that are missing or altered: what a fetch must fetch."""
    stale = {file.source for file in files if not file.ok}
    return [source for source in dict.fromkeys(file.source for file in files) if source in stale]


@dataclass(frozen=True, slots=True)
class SdkFile:
    """What the cache holds for one pinned version; ``size`` and ``sha256`` are on disk."""

    version: str
    source: Source
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
    fetcher: Fetcher | None = None,
    pins: Mapping[str, Pin] | None = None,
) -> list[SdkFile]:
    """Put every pinned file into ``cache_dir``, verified; do nothing when all already are.

    Each source with a file missing or altered is fetched, by ``fetcher`` (by default
    :func:`fetch_archive`: ``npm pack`` or ``pip download``), and its archive must hash to
    the source's sha256. Only the pinned members are read out of it, each must match its
    pin, and the cache changes only when all of that source's files do. A source that fails
    does not stop the others. Raises :class:`SdkFetchFailed` saying what went wrong, one
    line for each source that failed, after the others were fetched.
    """
    pins = PINS if pins is None else pins
    files = list_files(cache_dir, pins=pins)
    fetcher = fetch_archive if fetcher is None else fetcher
    failures = []
    for source in stale_sources(files):
        own = {version: pin for version, pin in pins.items() if pin.source == source}
        try:
            _fetch_source(cache_dir, source, own, fetcher)
        except SdkFetchFailed as exc:
            failures.append(exc.message)
    if failures:
        raise SdkFetchFailed("\n".join(failures))
    return list_files(cache_dir, pins=pins)


def _fetch_source(
    cache_dir: Path, source: Source, pins: Mapping[str, Pin], fetcher: Fetcher
) -> None:
    """Fetch one source's archive, check it, and write its pinned files, all or none."""
    with tempfile.TemporaryDirectory(prefix="tiktok-signer-fetch-") as fetched:
        archive = fetcher(source, Path(fetched))
        _check_archive(source, archive)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            # Staged inside the cache, so that the final rename is atomic (same file system).
            with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as staging:
                staged = _copy_pinned(source, archive, pins, Path(staging))
                for pin, path in staged:
                    path.replace(cache_dir / pin.name)
        except OSError as exc:
            raise SdkFetchFailed(f"cannot write the SDK files to {cache_dir}: {exc}") from None


def fetch_archive(source: Source, directory: Path) -> Path:
    """The default fetcher: :func:`npm_pack` or :func:`pip_download`, by the source's kind."""
    if source.kind == "npm":
        return npm_pack(source, directory)
    return pip_download(source, directory)


def npm_pack(source: Source, directory: Path) -> Path:
    """Run ``npm pack`` of the source's package into ``directory``; return the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise SdkFetchFailed(
            f"npm is not installed, so {source.package} cannot be fetched "
            "(scripts/setup installs Debian's nodejs and npm)"
        )
    command = [
        npm,
        "pack",
        source.package,
        "--pack-destination",
        str(directory),
        "--ignore-scripts",
    ]
    _run(command, f"npm pack {source.package}", directory, NPM_TIMEOUT_S)
    return _one_archive(directory, "*.tgz", f"npm pack {source.package}")


def pip_download(source: Source, directory: Path) -> Path:
    """Run ``pip download`` of the source's wheel alone into ``directory``; return the wheel.

    ``--no-deps --only-binary=:all:``: one wheel, and never a source distribution, whose
    build would run the package's code. pip's download neither installs nor imports what
    it downloads, and ``-I`` keeps the download directory off the interpreter's path.
    """
    if not PYTHON:
        raise SdkFetchFailed(
            f"no Python interpreter to run pip with, so {source.package} cannot be fetched"
        )
    command = [
        PYTHON,
        "-I",
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        source.package,
        "-d",
        str(directory),
    ]
    what = f"pip download {source.package}"
    _run(command, what, directory, PIP_TIMEOUT_S)
    return _one_archive(directory, "*.whl", what)


def _run(command: list[str], what: str, directory: Path, timeout_s: float) -> None:
    """Run a package client in ``directory``; raise :class:`SdkFetchFailed` when it fails."""
    try:
        result = subprocess.run(  # noqa: S603 - a fixed command: the client, a pinned package
            command,
            cwd=directory,  # away from any project's .npmrc
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SdkFetchFailed(f"`{what}` did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise SdkFetchFailed(f"cannot run {command[0]}: {exc}") from None
    if result.returncode != 0:
        raise SdkFetchFailed(
            f"`{what}` failed with exit code {result.returncode}:\n{_tail(result.stderr)}"
        )


def _one_archive(directory: Path, pattern: str, what: str) -> Path:
    archives = sorted(directory.glob(pattern))
    if len(archives) != 1:
        raise SdkFetchFailed(f"`{what}` left {len(archives)} {pattern} files instead of one")
    return archives[0]


def _tail(text: str, lines: int = 10) -> str:
    """The last lines of a tool's error output, which say what went wrong."""
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)[-2000:] or "(no error output)"


def _check_archive(source: Source, archive: Path) -> None:
    with archive.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != source.sha256:
        raise SdkFetchFailed(
            f"the {source.archive} {archive.name} of {source.package} has sha256 {digest}, "
            f"pinned {source.sha256}: the package changed or the download is corrupt; "
            "nothing was written"
        )


def _copy_pinned(
    source: Source, archive: Path, pins: Mapping[str, Pin], staging: Path
) -> list[tuple[Pin, Path]]:
    """Copy and verify every pinned member into ``staging``; nothing else leaves the archive.

    Members are read, never extracted: no path from the archive is used to write, so
    nothing depends on ``tarfile``'s extraction filters (Python 3.11.4+, while Debian 12
    has 3.11.2) or on ``zipfile``'s name sanitising. Climbing or absolute names, links and
    other non-regular members are still refused: an archive that holds them at a pinned
    path is not the pinned package.
    """
    where = f"the {source.archive} {archive.name}"
    try:
        if source.kind == "npm":
            with tarfile.open(archive, "r:gz") as tar:
                return [
                    _copy(_tar_member(tar, version, pin, where), version, pin, staging, where)
                    for version, pin in pins.items()
                ]
        with zipfile.ZipFile(archive) as wheel:
            return [
                _copy(_zip_member(wheel, version, pin, where), version, pin, staging, where)
                for version, pin in pins.items()
            ]
    except _UNREADABLE as exc:
        raise SdkFetchFailed(f"cannot read {where}: {exc}") from None


#: What reading a corrupt archive raises; zipfile also raises NotImplementedError for an
#: unknown compression and RuntimeError for an encrypted member.
_UNREADABLE = (
    tarfile.TarError,
    gzip.BadGzipFile,
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


def _refuse_unsafe(name: str, pin: Pin, where: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise SdkFetchFailed(
            f"{pin.member} in {where} is unsafe (an absolute path or one with '..'); refused"
        )


def _tar_member(tar: tarfile.TarFile, version: str, pin: Pin, where: str) -> IO[bytes]:
    """The pinned member of a tarball, open for reading, once it is safe and of its size."""
    try:
        member = tar.getmember(pin.member)
    except KeyError:
        raise SdkFetchFailed(f"{where} has no {pin.member} (SDK {version})") from None
    _refuse_unsafe(member.name, pin, where)
    source = tar.extractfile(member) if member.isreg() else None
    if source is None:
        raise SdkFetchFailed(f"{pin.member} in {where} is not a regular file; refused")
    _check_size(member.size, version, pin, where)
    return source


def _zip_member(wheel: zipfile.ZipFile, version: str, pin: Pin, where: str) -> IO[bytes]:
    """The pinned member of a wheel, open for reading, once it is safe and of its size."""
    members = [info for info in wheel.infolist() if info.filename == pin.member]
    if not members:
        raise SdkFetchFailed(f"{where} has no {pin.member} (SDK {version})")
    if len(members) > 1:  # which one zipfile reads is not what the pin says
        raise SdkFetchFailed(f"{where} holds {pin.member} {len(members)} times; refused")
    member = members[0]
    _refuse_unsafe(member.filename, pin, where)
    # The Unix mode, when the zip was written on Unix; many tools write its permission bits
    # alone (no file type), which is a file too.
    kind = stat.S_IFMT(member.external_attr >> 16)
    if member.is_dir() or kind not in {0, stat.S_IFREG}:
        raise SdkFetchFailed(f"{pin.member} in {where} is not a regular file; refused")
    _check_size(member.file_size, version, pin, where)
    return wheel.open(member)


def _check_size(size: int, version: str, pin: Pin, where: str) -> None:
    """Before reading: a member of any other size is not the pinned file."""
    if size != pin.size:
        raise SdkFetchFailed(
            f"{pin.member} (SDK {version}) in {where} does not match its pin: "
            f"{size} bytes, pinned {pin.size}; nothing was written"
        )


def _copy(source: IO[bytes], version: str, pin: Pin, staging: Path, where: str) -> tuple[Pin, Path]:
    """Copy a member's bytes to ``staging / pin.name``, hashing them on the way.

    Reading stops once more bytes than the pin's size have come: an archive whose header
    lies about a member's size cannot make the copy much larger.
    """
    path = staging / pin.name
    digest = hashlib.sha256()
    size = 0
    with source, path.open("xb") as target:
        while size <= pin.size and (chunk := source.read(_CHUNK_BYTES)):
            size += len(chunk)
            digest.update(chunk)
            target.write(chunk)
    problem = _mismatch(pin, size, digest.hexdigest())
    if problem is not None:
        raise SdkFetchFailed(
            f"{pin.member} (SDK {version}) in {where} does not match its pin: {problem}; "
            "nothing was written"
        )
    return pin, path


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
        return SdkFile(version, pin.source, path, None, None, ok=False, problem=MISSING)
    except OSError as exc:
        return SdkFile(
            version, pin.source, path, None, None, ok=False, problem=f"unreadable: {exc}"
        )
    problem = _mismatch(pin, info.st_size, digest)
    return SdkFile(
        version, pin.source, path, info.st_size, digest, ok=problem is None, problem=problem
    )

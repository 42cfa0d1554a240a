"""TikTok's pinned SDK files: fetch, verify, list, and the ``tiktok-signer sdk`` commands.

Every fetch here uses archives built by the test: an npm tarball and a PyPI wheel, brought by
an injected fetcher, or by a fake ``npm`` on PATH and a fake Python for ``pip download``.
Nothing reaches a registry; only the last test looks at the real files ``scripts/setup``
fetched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import stat
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from providers import sdk
from providers.errors import ProviderConfigError, SdkFetchFailed, SdkMissing
from providers.sdk import Pin, Source
from signer.cli import main
from signer.settings import Settings
from tests.support import REPO

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Stand-ins for the SDK builds: small, distinct, and the 5.1.3 one several KiB. 1.0.0.417
#: comes from the wheel, the others from the npm package.
FAKE_SDKS = {
    "1.0.0.368": b"window.__sdk1 = {fake: 368};\n",
    "1.0.0.417": b"window.__sdk4 = {fake: 417};\n" * 20,
    "2.0.0.485": b"window.__sdk2 = {fake: 485};\n",
    "5.1.3": b"/* fake 5.1.3 */\n" + b"var x = 1;\n" * 1000,
}
NPM_VERSIONS = ("1.0.0.368", "2.0.0.485", "5.1.3")
WHEEL_MEMBER = "tiktokforge/js/webmssdk.js"
#: The fake wheel's package raises when imported: a fetch must never import it.
IMPORT_TRAP = b"raise RuntimeError('the SDK fetch imported the wheel')\n"


def member(version: str) -> str:
    return f"package/javascript/webmssdk_{version}.js"


def make_tarball(
    files: Mapping[str, bytes],
    symlinks: Mapping[str, str] | None = None,
    others: Sequence[tarfile.TarInfo] = (),
) -> bytes:
    """A gzipped tar like ``npm pack`` writes: ``files``, ``symlinks``, then ``others``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
        for info in others:
            tar.addfile(info)
    return buffer.getvalue()


def make_wheel(
    files: Mapping[str, bytes], modes: Mapping[str, int] | None = None, *, duplicate: str = ""
) -> bytes:
    """A zip like a wheel: ``files`` with Unix ``modes`` (regular 0644 by default).

    ``duplicate`` names a file written twice, the second time with other bytes.
    """
    buffer = io.BytesIO()
    entries = [*files.items()]
    if duplicate:
        entries.append((duplicate, b"second copy"))
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as wheel:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 10, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (modes or {}).get(name, stat.S_IFREG | 0o644) << 16
            wheel.writestr(info, data)
    return buffer.getvalue()


def source_of(kind: sdk.SourceKind, archive: bytes, package: str) -> Source:
    """A source whose pinned sha256 is that of ``archive``."""
    return Source(kind, package, hashlib.sha256(archive).hexdigest())


def pin(source: Source, name: str, data: bytes, file: str | None = None) -> Pin:
    return Pin(source, name, len(data), hashlib.sha256(data).hexdigest(), file)


FAKE_TARBALL = make_tarball(
    {**{member(version): FAKE_SDKS[version] for version in NPM_VERSIONS}, "package/x.json": b"{}"}
)
#: What the fake wheel holds besides the pinned member, as the real one does.
WHEEL_FILES = {
    "tiktokforge/__init__.py": IMPORT_TRAP,
    "tiktokforge/js/shim.js": b"/* not pinned */\n",
    "tiktok_forge-1.1.0.dist-info/METADATA": b"Name: tiktok-forge\n",
}
FAKE_WHEEL = make_wheel({**WHEEL_FILES, WHEEL_MEMBER: FAKE_SDKS["1.0.0.417"]})
NPM = source_of("npm", FAKE_TARBALL, "fake-sdk@1.0.0")
WHEEL = source_of("pypi", FAKE_WHEEL, "fake-forge==1.0.0")
NPM_PINS = {version: pin(NPM, member(version), FAKE_SDKS[version]) for version in NPM_VERSIONS}
WHEEL_PINS = {
    "1.0.0.417": pin(WHEEL, WHEEL_MEMBER, FAKE_SDKS["1.0.0.417"], "webmssdk_1.0.0.417.js")
}
FAKE_PINS = {version: {**NPM_PINS, **WHEEL_PINS}[version] for version in FAKE_SDKS}
WHEEL_NAME = "tiktok_forge-1.1.0-py3-none-any.whl"


class Fetcher:
    """An injected fetcher: leaves each source's prepared archive, records the calls."""

    def __init__(self, archives: Mapping[Source, bytes]) -> None:
        self.archives = archives
        self.calls: list[Source] = []

    def __call__(self, source: Source, directory: Path) -> Path:
        """Write the source's archive into ``directory``, as ``npm pack`` or pip do."""
        self.calls.append(source)
        path = directory / ("package.tgz" if source.kind == "npm" else WHEEL_NAME)
        path.write_bytes(self.archives[source])
        return path


def tar_fetcher(archive: bytes, pins: Mapping[str, Pin]) -> tuple[Fetcher, dict[str, Pin]]:
    """A fetcher of ``archive`` as an npm source, and ``pins`` moved to that source."""
    source = source_of("npm", archive, "test@1")
    moved = {version: dataclasses.replace(pin, source=source) for version, pin in pins.items()}
    return Fetcher({source: archive}), moved


def wheel_fetcher(archive: bytes, pins: Mapping[str, Pin]) -> tuple[Fetcher, dict[str, Pin]]:
    """A fetcher of ``archive`` as a PyPI wheel, and ``pins`` moved to that source."""
    source = source_of("pypi", archive, "test==1")
    moved = {version: dataclasses.replace(pin, source=source) for version, pin in pins.items()}
    return Fetcher({source: archive}), moved


@pytest.fixture(autouse=True)
def no_real_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real pip here: the default wheel download would run a Python that is not there."""
    monkeypatch.setattr(sdk, "PYTHON", str(tmp_path / "no-python"))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def fetcher() -> Fetcher:
    return Fetcher({NPM: FAKE_TARBALL, WHEEL: FAKE_WHEEL})


def test_fetch_puts_every_pinned_file_in_the_cache_verified(cache: Path, fetcher: Fetcher) -> None:
    """Fetch takes each pinned member from its source, under its file name, verified."""
    files = sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    assert [(file.version, file.source, file.status) for file in files] == [
        ("1.0.0.368", NPM, "ok"),
        ("1.0.0.417", WHEEL, "ok"),
        ("2.0.0.485", NPM, "ok"),
        ("5.1.3", NPM, "ok"),
    ]
    assert fetcher.calls == [NPM, WHEEL]
    for version, data in FAKE_SDKS.items():
        assert (cache / f"webmssdk_{version}.js").read_bytes() == data
    assert sorted(path.name for path in cache.iterdir()) == [
        "webmssdk_1.0.0.368.js",
        "webmssdk_1.0.0.417.js",
        "webmssdk_2.0.0.485.js",
        "webmssdk_5.1.3.js",
    ]


def test_second_fetch_does_not_call_the_fetcher(cache: Path, fetcher: Fetcher) -> None:
    """With every file present and verified, fetch does nothing."""
    sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    files = sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    assert fetcher.calls == [NPM, WHEEL]
    assert all(file.ok for file in files)


@pytest.mark.parametrize(
    ("altered", "source"), [("5.1.3", NPM), ("1.0.0.417", WHEEL)], ids=["npm", "wheel"]
)
def test_fetch_replaces_a_modified_file_from_its_source_only(
    cache: Path, fetcher: Fetcher, altered: str, source: Source
) -> None:
    """A file that no longer matches its pin is fetched again, from its own source alone."""
    sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    (cache / f"webmssdk_{altered}.js").write_bytes(b"tampered")
    files = sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    assert fetcher.calls == [NPM, WHEEL, source]
    assert all(file.ok for file in files)
    assert (cache / f"webmssdk_{altered}.js").read_bytes() == FAKE_SDKS[altered]


def test_member_with_another_sha256_is_rejected_leaving_no_file(
    cache: Path, fetcher: Fetcher
) -> None:
    """A member that does not hash to its pin fails the fetch, and nothing is written."""
    pins = {**NPM_PINS, "5.1.3": dataclasses.replace(NPM_PINS["5.1.3"], sha256="0" * 64)}
    with pytest.raises(SdkFetchFailed, match=r"webmssdk_5\.1\.3\.js .* does not match its pin"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_a_failed_source_does_not_stop_the_others(cache: Path, fetcher: Fetcher) -> None:
    """The wheel's file is written although the npm source fails, and the fetch still fails."""
    pins = {**FAKE_PINS, "5.1.3": dataclasses.replace(NPM_PINS["5.1.3"], sha256="0" * 64)}
    with pytest.raises(SdkFetchFailed, match=r"webmssdk_5\.1\.3\.js .* does not match") as info:
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert "\n" not in info.value.message  # one line: the one source that failed
    assert fetcher.calls == [NPM, WHEEL]
    assert [path.name for path in cache.iterdir()] == ["webmssdk_1.0.0.417.js"]


def test_every_failed_source_is_named_one_line_each(cache: Path) -> None:
    """Two sources failing make two lines, in the pins' order."""
    fetcher = Fetcher({NPM: b"other tarball", WHEEL: b"other wheel"})
    with pytest.raises(SdkFetchFailed) as info:
        sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    lines = info.value.message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("the tarball package.tgz of fake-sdk@1.0.0 has sha256")
    assert lines[1].startswith(f"the wheel {WHEEL_NAME} of fake-forge==1.0.0 has sha256")
    assert not cache.exists()


def test_cache_that_cannot_be_written_fails_clearly(tmp_path: Path, fetcher: Fetcher) -> None:
    """A cache path that is a file fails the fetch naming it, not with a traceback."""
    cache = tmp_path / "cache"
    cache.write_bytes(b"")
    with pytest.raises(SdkFetchFailed, match=rf"cannot write the SDK files to {cache}: "):
        sdk.fetch(cache, fetcher=fetcher, pins=WHEEL_PINS)


def test_tarball_with_another_sha256_is_rejected(cache: Path, fetcher: Fetcher) -> None:
    """The tarball's sha256 is checked before anything is read out of it."""
    pins = {
        v: dataclasses.replace(p, source=Source("npm", "x@1", "1" * 64))
        for v, p in NPM_PINS.items()
    }
    fetcher = Fetcher({pins["5.1.3"].source: FAKE_TARBALL})
    with pytest.raises(SdkFetchFailed, match="the package changed or the download is corrupt"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert not cache.exists()


def test_traversal_member_cannot_write_outside_the_cache(tmp_path: Path, cache: Path) -> None:
    """A pinned member whose path climbs out of the staging directory is refused."""
    data = b"escaped"
    fetcher, pins = tar_fetcher(
        make_tarball({"../../escape.js": data}), {"9": pin(NPM, "../../escape.js", data)}
    )
    with pytest.raises(SdkFetchFailed, match="unsafe"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(tmp_path.rglob("escape.js")) == []
    assert list(cache.rglob("*")) == []


def test_symlink_member_is_refused(cache: Path) -> None:
    """A pinned member that is a link instead of a file is refused."""
    tarball = make_tarball({}, symlinks={member("5.1.3"): "../../../../escape.js"})
    fetcher, pins = tar_fetcher(tarball, {"5.1.3": NPM_PINS["5.1.3"]})
    with pytest.raises(SdkFetchFailed, match="not a regular file"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


@pytest.mark.parametrize(
    "kind",
    [tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE],
    ids=["hard link", "directory", "fifo"],
)
def test_non_regular_member_is_refused(cache: Path, kind: bytes) -> None:
    """A pinned member that is a hard link (even to the pinned bytes) or no file is refused."""
    special = tarfile.TarInfo(member("5.1.3"))
    special.type = kind
    special.linkname = "package/real.js" if kind == tarfile.LNKTYPE else ""
    tarball = make_tarball({"package/real.js": FAKE_SDKS["5.1.3"]}, others=[special])
    fetcher, pins = tar_fetcher(tarball, {"5.1.3": NPM_PINS["5.1.3"]})
    with pytest.raises(SdkFetchFailed, match="not a regular file"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_member_of_another_size_is_refused(cache: Path, fetcher: Fetcher) -> None:
    """A member whose size differs from its pin is refused, naming both sizes."""
    pinned = NPM_PINS["5.1.3"]
    pins = {"5.1.3": dataclasses.replace(pinned, size=pinned.size + 1)}
    with pytest.raises(SdkFetchFailed, match=rf"{pinned.size} bytes, pinned {pinned.size + 1}"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_fetch_reads_members_without_extracting_them(
    cache: Path, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetch works with a ``tarfile`` that has no extraction filters, as in Python 3.11.2."""

    def extract(*args: object, **kwargs: object) -> None:
        pytest.fail(f"the fetch extracted a member to disk: {args[1:]} {kwargs}")

    monkeypatch.delattr(tarfile, "data_filter")
    monkeypatch.delattr(tarfile, "FilterError")
    for archive in (tarfile.TarFile, zipfile.ZipFile):
        monkeypatch.setattr(archive, "extract", extract)
        monkeypatch.setattr(archive, "extractall", extract)
    files = sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    assert all(file.ok for file in files)
    for version, data in FAKE_SDKS.items():
        assert (cache / f"webmssdk_{version}.js").read_bytes() == data


def test_unpinned_members_are_never_extracted(tmp_path: Path, cache: Path) -> None:
    """Only pinned members leave the tarball, whatever else it holds."""
    files = {member("5.1.3"): FAKE_SDKS["5.1.3"], "../outside.js": b"x", "package/a.js": b"y"}
    fetcher, pins = tar_fetcher(make_tarball(files), {"5.1.3": NPM_PINS["5.1.3"]})
    sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert [path.name for path in cache.iterdir()] == ["webmssdk_5.1.3.js"]
    assert list(tmp_path.rglob("outside.js")) == []


def test_missing_member_names_it(cache: Path) -> None:
    """A tarball without a pinned member fails the fetch naming the member."""
    fetcher, pins = tar_fetcher(make_tarball({"package/x.json": b"{}"}), NPM_PINS)
    with pytest.raises(
        SdkFetchFailed, match=r"package\.tgz has no package/javascript/webmssdk_1\.0\.0\.368\.js"
    ):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)


def test_corrupt_tarball_fails_clearly(cache: Path) -> None:
    """Bytes that are not a gzipped tar fail the fetch, not with a traceback."""
    fetcher, pins = tar_fetcher(b"not a tarball", NPM_PINS)
    with pytest.raises(SdkFetchFailed, match=r"cannot read the tarball package\.tgz"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)


# -- the wheel


@pytest.mark.parametrize(
    "mode", [stat.S_IFREG | 0o644, 0o644, 0], ids=["regular file", "permissions only", "none"]
)
def test_wheel_member_goes_to_the_cache_under_its_pinned_name(cache: Path, mode: int) -> None:
    """The wheel's one pinned member is written as ``webmssdk_<version>.js``, nothing else.

    Zip tools record a member's Unix mode with or without its file type, or not at all.
    """
    wheel = make_wheel({**WHEEL_FILES, WHEEL_MEMBER: FAKE_SDKS["1.0.0.417"]}, {WHEEL_MEMBER: mode})
    fetcher, pins = wheel_fetcher(wheel, WHEEL_PINS)
    files = sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert [(file.version, file.status, file.path) for file in files] == [
        ("1.0.0.417", "ok", cache / "webmssdk_1.0.0.417.js")
    ]
    assert fetcher.calls == [pins["1.0.0.417"].source]
    assert [path.name for path in cache.iterdir()] == ["webmssdk_1.0.0.417.js"]
    assert (cache / "webmssdk_1.0.0.417.js").read_bytes() == FAKE_SDKS["1.0.0.417"]


def test_wheel_with_another_sha256_is_rejected(cache: Path) -> None:
    """A wheel that does not hash to its pin is refused before it is opened."""
    other = make_wheel({WHEEL_MEMBER: FAKE_SDKS["1.0.0.417"]})
    fetcher = Fetcher({WHEEL: other})
    with pytest.raises(
        SdkFetchFailed,
        match=rf"the wheel {WHEEL_NAME} of fake-forge==1\.0\.0 has sha256 "
        rf"{hashlib.sha256(other).hexdigest()}, pinned {WHEEL.sha256}: the package changed",
    ):
        sdk.fetch(cache, fetcher=fetcher, pins=WHEEL_PINS)
    assert not cache.exists()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sha256": "0" * 64}, r"sha256 [0-9a-f]{12}\.\.\., pinned 000000000000"),
        ({"size": 1}, rf"{len(FAKE_SDKS['1.0.0.417'])} bytes, pinned 1"),
    ],
    ids=["sha256", "size"],
)
def test_wheel_member_that_does_not_match_its_pin_is_refused(
    cache: Path, fetcher: Fetcher, change: dict[str, Any], problem: str
) -> None:
    """A wheel member of another sha256 or size fails the fetch, and nothing is written."""
    pins = {"1.0.0.417": dataclasses.replace(WHEEL_PINS["1.0.0.417"], **change)}
    with pytest.raises(
        SdkFetchFailed,
        match=rf"tiktokforge/js/webmssdk\.js \(SDK 1\.0\.0\.417\) in the wheel {WHEEL_NAME} "
        rf"does not match its pin: {problem}",
    ):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_wheel_without_the_member_names_it(cache: Path) -> None:
    """A wheel without the pinned member fails the fetch naming the member and the wheel."""
    fetcher, pins = wheel_fetcher(make_wheel({"tiktokforge/js/shim.js": b"x"}), WHEEL_PINS)
    with pytest.raises(SdkFetchFailed, match=rf"{WHEEL_NAME} has no tiktokforge/js/webmssdk\.js"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_wheel_member_path_that_escapes_is_refused(tmp_path: Path, cache: Path) -> None:
    """A pinned wheel member whose path climbs out is refused, and nothing lands anywhere."""
    data = b"escaped"
    fetcher, pins = wheel_fetcher(
        make_wheel({"../../escape.js": data}), {"9": pin(WHEEL, "../../escape.js", data)}
    )
    with pytest.raises(SdkFetchFailed, match=r"\.\./\.\./escape\.js in the wheel .* unsafe"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(tmp_path.rglob("escape.js")) == []
    assert list(cache.rglob("*")) == []


@pytest.mark.parametrize(
    "mode", [stat.S_IFLNK | 0o777, stat.S_IFDIR | 0o755], ids=["symlink", "directory"]
)
def test_wheel_member_that_is_not_a_file_is_refused(cache: Path, mode: int) -> None:
    """A pinned wheel member marked as a link or a directory is refused."""
    data = FAKE_SDKS["1.0.0.417"]
    wheel = make_wheel({WHEEL_MEMBER: data}, {WHEEL_MEMBER: mode})
    fetcher, pins = wheel_fetcher(wheel, WHEEL_PINS)
    with pytest.raises(SdkFetchFailed, match="not a regular file"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_wheel_holding_the_member_twice_is_refused(cache: Path) -> None:
    """Two entries of the pinned name: which one counts is ambiguous, so neither does."""
    wheel = make_wheel({WHEEL_MEMBER: FAKE_SDKS["1.0.0.417"]}, duplicate=WHEEL_MEMBER)
    fetcher, pins = wheel_fetcher(wheel, WHEEL_PINS)
    with pytest.raises(SdkFetchFailed, match=r"holds tiktokforge/js/webmssdk\.js 2 times"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda _: b"not a zip file",
        lambda wheel: wheel.replace(b"PK\x01\x02", b"PK\x09\x09"),  # central directory
    ],
    ids=["not a zip", "broken directory"],
)
def test_corrupt_wheel_fails_clearly(cache: Path, corrupt: Any) -> None:
    """Bytes that are not a readable zip fail the fetch, not with a traceback."""
    fetcher, pins = wheel_fetcher(corrupt(FAKE_WHEEL), WHEEL_PINS)
    with pytest.raises(SdkFetchFailed, match=rf"cannot read the wheel {WHEEL_NAME}"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_wheel_member_with_a_bad_crc_fails_clearly(cache: Path) -> None:
    """A member whose stored bytes were altered (its CRC fails) is unreadable, not a traceback."""
    data = FAKE_SDKS["1.0.0.417"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as wheel:
        wheel.writestr(WHEEL_MEMBER, data)
    altered = buffer.getvalue().replace(data[:8], b"WINDOW._", 1)
    fetcher, pins = wheel_fetcher(altered, WHEEL_PINS)
    with pytest.raises(SdkFetchFailed, match=r"cannot read the wheel .*CRC"):
        sdk.fetch(cache, fetcher=fetcher, pins=pins)
    assert list(cache.rglob("*")) == []


def test_the_wheel_is_never_imported_or_installed(
    tmp_path: Path, cache: Path, fetcher: Fetcher
) -> None:
    """Its package raises when imported: the fetch reads the data file and nothing else."""
    before = set(sys.modules)
    sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    assert "tiktokforge" not in sys.modules
    assert not {name for name in set(sys.modules) - before if "forge" in name}
    assert importlib.util.find_spec("tiktokforge") is None
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == sorted(
        f"webmssdk_{version}.js" for version in FAKE_SDKS
    )


# -- pins and look-ups


@pytest.mark.parametrize("path", ["/abs/webmssdk.js", "package/..", ""])
def test_pin_must_name_a_relative_file(path: str) -> None:
    """A pin cannot name an absolute path or a directory."""
    with pytest.raises(ValueError, match="relative path to a file"):
        Pin(NPM, path, 1, "0" * 64)


@pytest.mark.parametrize("file", ["", "..", "sub/webmssdk.js", "/webmssdk.js"])
def test_pin_file_must_be_a_plain_name(file: str) -> None:
    """A pin's cache file name cannot be empty or name another directory."""
    with pytest.raises(ValueError, match="plain file name"):
        Pin(WHEEL, WHEEL_MEMBER, 1, "0" * 64, file)


def test_sdk_path_returns_the_verified_file(cache: Path, fetcher: Fetcher) -> None:
    """After a fetch, ``sdk_path`` gives the pinned version's file, whatever its source."""
    sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    assert sdk.sdk_path(cache, "2.0.0.485", pins=FAKE_PINS) == cache / "webmssdk_2.0.0.485.js"
    assert sdk.sdk_path(cache, "1.0.0.417", pins=FAKE_PINS) == cache / "webmssdk_1.0.0.417.js"


def test_sdk_path_raises_sdk_missing_with_the_fetch_hint(cache: Path) -> None:
    """An absent file is a configuration error telling the operator what to run."""
    with pytest.raises(SdkMissing, match=r"SDK 5\.1\.3 .* run `tiktok-signer sdk fetch`") as info:
        sdk.sdk_path(cache, "5.1.3")
    assert isinstance(info.value, ProviderConfigError)
    assert info.value.details["path"] == str(cache / "webmssdk_5.1.3.js")


def test_sdk_path_detects_a_file_modified_after_fetch(cache: Path, fetcher: Fetcher) -> None:
    """Changing one byte of a verified file (same size) makes it unusable."""
    sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    path = sdk.sdk_path(cache, "5.1.3", pins=FAKE_PINS)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SdkMissing, match=r"does not match its pin .*sha256"):
        sdk.sdk_path(cache, "5.1.3", pins=FAKE_PINS)


def test_sdk_path_hashes_an_unchanged_file_once(
    cache: Path, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Look-ups of a file hash it once, and again only once its mtime changes."""
    sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    path = cache / "webmssdk_5.1.3.js"
    path.write_bytes(path.read_bytes())  # same bytes, mtime no longer the tarball's
    hashed: list[object] = []
    real = hashlib.file_digest

    def counting(handle: Any, digest: str) -> Any:
        hashed.append(handle)
        return real(handle, digest)

    monkeypatch.setattr(hashlib, "file_digest", counting)
    for _ in range(5):
        sdk.sdk_path(cache, "5.1.3", pins=FAKE_PINS)
    assert len(hashed) == 1
    os.utime(path, ns=(1, 1))
    sdk.sdk_path(cache, "5.1.3", pins=FAKE_PINS)
    assert len(hashed) == 2


def test_sdk_path_refuses_a_version_that_is_not_pinned(cache: Path) -> None:
    """An unknown version is a settings error listing the pinned ones."""
    with pytest.raises(ProviderConfigError, match=r"no pinned SDK '9\.9'.*1\.0\.0\.417.*5\.1\.3"):
        sdk.sdk_path(cache, "9.9")


def test_list_files_reports_ok_missing_and_mismatch(cache: Path, fetcher: Fetcher) -> None:
    """Each pinned version is listed with its source, state, sizes and hashes as on disk."""
    sdk.fetch(cache, fetcher=fetcher, pins=FAKE_PINS)
    (cache / "webmssdk_1.0.0.368.js").unlink()
    (cache / "webmssdk_2.0.0.485.js").write_bytes(b"other")
    files = sdk.list_files(cache, pins=FAKE_PINS)
    assert [(file.status, file.source) for file in files] == [
        ("missing", NPM),
        ("ok", WHEEL),
        ("mismatch", NPM),
        ("ok", NPM),
    ]
    missing, _, mismatch, ok = files
    assert (missing.size, missing.sha256, missing.problem) == (None, None, "missing")
    assert mismatch.size == 5
    assert mismatch.sha256 == hashlib.sha256(b"other").hexdigest()
    assert mismatch.problem is not None
    assert mismatch.problem.startswith(f"5 bytes, pinned {len(FAKE_SDKS['2.0.0.485'])}")
    assert (ok.size, ok.sha256, ok.problem) == (
        FAKE_PINS["5.1.3"].size,
        FAKE_PINS["5.1.3"].sha256,
        None,
    )
    assert sdk.stale_sources(files) == [NPM]


def test_real_pins_are_the_documented_ones() -> None:
    """The pins are web-signing.md section 11's (npm) and sdk-2026.md's (the wheel)."""
    npm = Source("npm", "tiktok-signature@4.3.6", sdk.TARBALL_SHA256)
    wheel = Source("pypi", "tiktok-forge==1.1.0", sdk.WHEEL_SHA256)
    assert sdk.TARBALL_SHA256.startswith("079b88f611c7")
    assert sdk.WHEEL_SHA256 == "4da7656dd50c93cd7cb0bc7daf27acf86834d61271dc8996f3761346868a8bfd"
    assert sdk.sources() == [npm, wheel]
    assert {
        version: (pin.source, pin.member, pin.name, pin.size) for version, pin in sdk.PINS.items()
    } == {
        "1.0.0.368": (npm, member("1.0.0.368"), "webmssdk_1.0.0.368.js", 245612),
        "1.0.0.417": (wheel, WHEEL_MEMBER, "webmssdk_1.0.0.417.js", 243702),
        "2.0.0.485": (npm, member("2.0.0.485"), "webmssdk_2.0.0.485.js", 244948),
        "5.1.3": (npm, member("5.1.3"), "webmssdk_5.1.3.js", 520253),
    }
    assert sdk.PINS["1.0.0.417"].sha256 == (
        "6625c4fd90012eb2b6166002b278ac99ba2a2495325590f8eda9071544a814c8"
    )


# -- the default fetcher: a fake `npm` on PATH, a fake Python for `pip download`


def fake_npm(bin_dir: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put an ``npm`` running ``script`` first on PATH; it logs its arguments to npm.log."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\necho "$@" >> "{bin_dir}/npm.log"\n{script}\n', encoding="utf-8")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir / "npm.log"


def fake_python(bin_dir: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``sdk.PYTHON`` a script running ``script``; it logs its arguments to python.log.

    ``$dest`` is the directory after ``-d``, where ``pip download`` leaves the wheel.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'for arg in "$@"; do echo "$arg" >> "{bin_dir}/python.log"; done\n'
        'dest=""; previous=""\n'
        'for arg in "$@"; do [ "$previous" = -d ] && dest=$arg; previous=$arg; done\n'
        f"{script}\n",
        encoding="utf-8",
    )
    python.chmod(0o755)
    monkeypatch.setattr(sdk, "PYTHON", str(python))
    return bin_dir / "python.log"


@pytest.fixture
def wheel_file(tmp_path: Path) -> Path:
    """The fake wheel on disk, for a fake pip to copy."""
    path = tmp_path / "src" / WHEEL_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(FAKE_WHEEL)
    return path


@pytest.fixture
def tarball_file(tmp_path: Path) -> Path:
    """The fake tarball on disk, for a fake npm to copy."""
    path = tmp_path / "src" / "package.tgz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(FAKE_TARBALL)
    return path


def test_default_fetcher_runs_npm_pack_and_checks_the_tarball(
    tmp_path: Path, cache: Path, tarball_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``npm pack`` runs with the pinned package, and its tarball must hash to the pin."""
    log = fake_npm(tmp_path / "bin", f'cp "{tarball_file}" "$4"', monkeypatch)
    pins = {v: dataclasses.replace(p, source=sdk.NPM_SOURCE) for v, p in NPM_PINS.items()}
    with pytest.raises(SdkFetchFailed, match=f"pinned {sdk.TARBALL_SHA256}"):
        sdk.fetch(cache, pins=pins)
    arguments = log.read_text(encoding="utf-8").split()
    assert arguments[:3] == ["pack", "tiktok-signature@4.3.6", "--pack-destination"]
    assert list(cache.rglob("*")) == []


def test_npm_failure_carries_its_error_output(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When npm fails, the error has its exit code and the tail of its stderr."""
    fake_npm(tmp_path / "bin", "echo 'npm error code E404' >&2\nexit 1", monkeypatch)
    with pytest.raises(SdkFetchFailed, match="exit code 1:\nnpm error code E404"):
        sdk.fetch(cache, pins=NPM_PINS)


def test_npm_that_hangs_is_stopped(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hanging npm is stopped after ``NPM_TIMEOUT_S`` and the fetch fails saying so."""
    fake_npm(tmp_path / "bin", "exec sleep 10", monkeypatch)
    monkeypatch.setattr(sdk, "NPM_TIMEOUT_S", 0.2)
    with pytest.raises(SdkFetchFailed, match=r"did not finish within 0\.2 s"):
        sdk.fetch(cache, pins=NPM_PINS)


def test_default_fetcher_downloads_the_wheel_alone_with_pip(
    tmp_path: Path, cache: Path, wheel_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pip download`` of the one wheel, no dependencies, no sdist, nothing installed."""
    log = fake_python(tmp_path / "bin", f'cp "{wheel_file}" "$dest"', monkeypatch)
    files = sdk.fetch(cache, pins=WHEEL_PINS)
    assert [(file.version, file.status) for file in files] == [("1.0.0.417", "ok")]
    arguments = log.read_text(encoding="utf-8").splitlines()
    assert arguments[:5] == ["-I", "-m", "pip", "download", "--no-deps"]
    assert "--only-binary=:all:" in arguments
    assert arguments[-3] == "fake-forge==1.0.0"
    assert arguments[-2] == "-d"
    assert "install" not in arguments
    assert not Path(arguments[-1]).exists()  # the download directory is gone
    assert "tiktokforge" not in sys.modules


def test_default_fetcher_checks_the_wheel_against_the_real_pin(
    tmp_path: Path, cache: Path, wheel_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real source asks pip for tiktok-forge==1.1.0, whose wheel must hash to its pin."""
    log = fake_python(tmp_path / "bin", f'cp "{wheel_file}" "$dest"', monkeypatch)
    pins = {v: dataclasses.replace(p, source=sdk.WHEEL_SOURCE) for v, p in WHEEL_PINS.items()}
    with pytest.raises(SdkFetchFailed, match=f"pinned {sdk.WHEEL_SHA256}"):
        sdk.fetch(cache, pins=pins)
    assert "tiktok-forge==1.1.0" in log.read_text(encoding="utf-8").splitlines()
    assert not cache.exists()


def test_pip_failure_carries_its_error_output(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When pip fails, the error has its exit code and the tail of its stderr."""
    error = "ERROR: No matching distribution found for fake-forge==1.0.0"
    fake_python(tmp_path / "bin", f"echo '{error}' >&2\nexit 1", monkeypatch)
    with pytest.raises(
        SdkFetchFailed, match=rf"`pip download fake-forge==1\.0\.0` failed .*1:\n{error}"
    ):
        sdk.fetch(cache, pins=WHEEL_PINS)


def test_pip_that_leaves_no_wheel_fails(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pip that exits 0 without a wheel (an sdist, say) fails the fetch."""
    fake_python(tmp_path / "bin", 'echo x > "$dest/fake-forge-1.0.0.tar.gz"', monkeypatch)
    with pytest.raises(SdkFetchFailed, match=r"left 0 \*\.whl files instead of one"):
        sdk.fetch(cache, pins=WHEEL_PINS)


def test_pip_that_hangs_is_stopped(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hanging pip is stopped after ``PIP_TIMEOUT_S`` and the fetch fails saying so."""
    fake_python(tmp_path / "bin", "exec sleep 10", monkeypatch)
    monkeypatch.setattr(sdk, "PIP_TIMEOUT_S", 0.2)
    with pytest.raises(SdkFetchFailed, match=r"`pip download .*` did not finish within 0\.2 s"):
        sdk.fetch(cache, pins=WHEEL_PINS)


def test_python_that_cannot_run_fails_clearly(tmp_path: Path, cache: Path) -> None:
    """An interpreter path that is not there fails the fetch naming it, not with a traceback."""
    with pytest.raises(SdkFetchFailed, match=rf"cannot run {tmp_path / 'no-python'}: "):
        sdk.fetch(cache, pins=WHEEL_PINS)


def test_no_python_to_run_pip_with(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an interpreter (an embedded Python), the wheel cannot be fetched, saying so."""
    monkeypatch.setattr(sdk, "PYTHON", "")
    with pytest.raises(SdkFetchFailed, match="no Python interpreter to run pip with"):
        sdk.fetch(cache, pins=WHEEL_PINS)


# -- the command line


@pytest.fixture
def cli_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's settings point at ``cache``, and the real pins are the fake ones."""
    monkeypatch.setenv("SIGNER_SDK_CACHE_DIR", str(cache))
    monkeypatch.setattr(sdk, "PINS", FAKE_PINS)
    return cache


def test_cli_sdk_list_json_reports_verified_files(
    cli_cache: Path, fetcher: Fetcher, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sdk list --json`` lists every source and pinned file, and exits 0 when all verify."""
    sdk.fetch(cli_cache, fetcher=fetcher)
    assert main(["sdk", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["directory"] == str(cli_cache)
    assert listing["ok"] is True
    assert listing["sources"] == [
        {
            "source": "npm:fake-sdk@1.0.0",
            "kind": "npm",
            "package": "fake-sdk@1.0.0",
            "archive": "tarball",
            "sha256": NPM.sha256,
        },
        {
            "source": "pypi:fake-forge==1.0.0",
            "kind": "pypi",
            "package": "fake-forge==1.0.0",
            "archive": "wheel",
            "sha256": WHEEL.sha256,
        },
    ]
    assert [(file["version"], file["source"], file["status"]) for file in listing["files"]] == [
        ("1.0.0.368", "npm:fake-sdk@1.0.0", "ok"),
        ("1.0.0.417", "pypi:fake-forge==1.0.0", "ok"),
        ("2.0.0.485", "npm:fake-sdk@1.0.0", "ok"),
        ("5.1.3", "npm:fake-sdk@1.0.0", "ok"),
    ]
    assert listing["files"][1] == {
        "version": "1.0.0.417",
        "source": "pypi:fake-forge==1.0.0",
        "status": "ok",
        "path": str(cli_cache / "webmssdk_1.0.0.417.js"),
        "size": FAKE_PINS["1.0.0.417"].size,
        "sha256": FAKE_PINS["1.0.0.417"].sha256,
        "problem": None,
    }


def test_cli_sdk_list_shows_each_build_its_source_and_state(
    cli_cache: Path, fetcher: Fetcher, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table has one row per pinned build: version, state, source, size, hash, path."""
    sdk.fetch(cli_cache, fetcher=fetcher)
    (cli_cache / "webmssdk_1.0.0.417.js").write_bytes(b"other")
    (cli_cache / "webmssdk_2.0.0.485.js").unlink()
    assert main(["sdk", "list"]) == 1
    out, err = capsys.readouterr()
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["version", "status", "source", "bytes", "sha256", "path"]
    assert [row[:4] for row in rows[1:]] == [
        ["1.0.0.368", "ok", "npm:fake-sdk@1.0.0", str(len(FAKE_SDKS["1.0.0.368"]))],
        ["1.0.0.417", "mismatch", "pypi:fake-forge==1.0.0", "5"],
        ["2.0.0.485", "missing", "npm:fake-sdk@1.0.0", "-"],
        ["5.1.3", "ok", "npm:fake-sdk@1.0.0", str(len(FAKE_SDKS["5.1.3"]))],
    ]
    assert f"{cli_cache / 'webmssdk_1.0.0.417.js'}: 5 bytes, pinned" in err
    assert f"{cli_cache / 'webmssdk_2.0.0.485.js'}: missing" in err


def test_cli_sdk_list_exits_1_naming_what_is_missing(
    cli_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an empty cache ``sdk list`` prints the table, names each file and the fix, exits 1."""
    assert main(["sdk", "list"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["version", "status", "source", "bytes", "sha256", "path"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["1.0.0.368", "missing"],
        ["1.0.0.417", "missing"],
        ["2.0.0.485", "missing"],
        ["5.1.3", "missing"],
    ]
    assert f"{cli_cache / 'webmssdk_5.1.3.js'}: missing" in err
    assert "run `tiktok-signer sdk fetch`" in err


def test_cli_sdk_list_takes_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--config`` names the settings file whose ``sdk_cache_dir`` is listed."""
    config = tmp_path / "signer.toml"
    config.write_text(f'sdk_cache_dir = "{tmp_path / "elsewhere"}"\n', encoding="utf-8")
    assert main(["sdk", "list", "--json", "--config", str(config)]) == 1
    assert json.loads(capsys.readouterr().out)["directory"] == str(tmp_path / "elsewhere")


def test_cli_sdk_with_a_bad_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config file that does not exist is a usage error, as for ``serve``."""
    assert main(["sdk", "fetch", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml does not exist" in capsys.readouterr().err


def test_cli_sdk_fetch_fetches_every_source(
    tmp_path: Path,
    cli_cache: Path,
    tarball_file: Path,
    wheel_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sdk fetch`` runs npm and pip, verifies both archives and every file, exits 0."""
    fake_npm(tmp_path / "bin", f'cp "{tarball_file}" "$4"', monkeypatch)
    fake_python(tmp_path / "bin", f'cp "{wheel_file}" "$dest"', monkeypatch)
    assert main(["sdk", "fetch"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "Fetched TikTok's SDK files from npm:fake-sdk@1.0.0, pypi:fake-forge==1.0.0 "
        f"into {cli_cache}:\n"
    )
    assert f"1.0.0.417  ok      pypi:fake-forge==1.0.0  {FAKE_PINS['1.0.0.417'].size}" in out
    for version, data in FAKE_SDKS.items():
        assert (cli_cache / f"webmssdk_{version}.js").read_bytes() == data


def test_cli_sdk_fetch_without_npm_exits_3_saying_so(
    tmp_path: Path,
    cli_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With no npm on PATH, ``sdk fetch`` could not run (exit 3) and says npm is missing."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["sdk", "fetch"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("tiktok-signer: sdk fetch failed: npm is not installed")
    assert not cli_cache.exists()


def test_cli_sdk_fetch_exits_3_when_the_wheel_cannot_be_fetched(
    tmp_path: Path,
    cli_cache: Path,
    tarball_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A wheel pip cannot fetch fails the command (exit 3) in one line; npm's files are kept."""
    fake_npm(tmp_path / "bin", f'cp "{tarball_file}" "$4"', monkeypatch)
    fake_python(tmp_path / "bin", "echo 'ERROR: no such wheel' >&2\nexit 1", monkeypatch)
    assert main(["sdk", "fetch"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "tiktok-signer: sdk fetch failed: `pip download fake-forge==1.0.0` failed with exit "
        "code 1:\nERROR: no such wheel\n"
    )
    assert sorted(path.name for path in cli_cache.iterdir()) == [
        f"webmssdk_{version}.js" for version in NPM_VERSIONS
    ]


def test_cli_sdk_fetch_is_quiet_when_files_are_present(
    tmp_path: Path,
    cli_cache: Path,
    fetcher: Fetcher,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sdk fetch --quiet`` on a verified cache prints nothing and runs neither npm nor pip."""
    sdk.fetch(cli_cache, fetcher=fetcher)
    npm_log = fake_npm(tmp_path / "bin", "exit 1", monkeypatch)
    pip_log = fake_python(tmp_path / "bin", "exit 1", monkeypatch)
    assert main(["sdk", "fetch", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert not npm_log.exists()
    assert not pip_log.exists()


def test_cli_sdk_fetch_shows_files_already_there(
    cli_cache: Path, fetcher: Fetcher, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``--quiet``, ``sdk fetch`` on a verified cache says so and shows the table."""
    sdk.fetch(cli_cache, fetcher=fetcher)
    assert main(["sdk", "fetch"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"TikTok's SDK files are already in {cli_cache}, verified:"
    assert [line.split()[:3] for line in lines[2:]] == [
        [version, "ok", str(FAKE_PINS[version].source)] for version in FAKE_SDKS
    ]


# -- the real files


def test_pinned_cache_from_setup_verifies() -> None:
    """The SDK files scripts/setup fetched into the repo's data/sdk match every pin."""
    cache = REPO / Settings().sdk_dir
    files = sdk.list_files(cache)
    if all(file.status == "missing" for file in files):
        if os.environ.get("CI"):
            pytest.fail(f"{cache} has no SDK files: CI runs scripts/setup, which fetches them")
        pytest.skip("TikTok's SDK files are not fetched: run scripts/setup")
    assert [(file.version, file.status) for file in files] == [
        ("1.0.0.368", "ok"),
        ("1.0.0.417", "ok"),
        ("2.0.0.485", "ok"),
        ("5.1.3", "ok"),
    ]

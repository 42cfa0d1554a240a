"""TikTok's pinned SDK files: fetch, verify, list, and the ``tiktok-signer sdk`` commands.

Every fetch here uses a tarball built by the test (an injected packer, or a fake ``npm`` on
PATH); only the last test looks at the real files ``scripts/setup`` fetched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from providers import sdk
from providers.errors import ProviderConfigError, SdkFetchFailed, SdkMissing
from providers.sdk import Pin
from signer.cli import main
from signer.settings import Settings
from tests.support import REPO

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Stand-ins for the three SDK builds: small, distinct, and the 5.1.3 one several KiB.
FAKE_SDKS = {
    "1.0.0.368": b"window.__sdk1 = {fake: 368};\n",
    "2.0.0.485": b"window.__sdk2 = {fake: 485};\n",
    "5.1.3": b"/* fake 5.1.3 */\n" + b"var x = 1;\n" * 1000,
}


def member(version: str) -> str:
    return f"package/javascript/webmssdk_{version}.js"


def pins_for(contents: Mapping[str, bytes]) -> dict[str, Pin]:
    return {
        version: Pin(member(version), len(data), hashlib.sha256(data).hexdigest())
        for version, data in contents.items()
    }


FAKE_PINS = pins_for(FAKE_SDKS)


def make_tarball(
    path: Path,
    files: Mapping[str, bytes],
    symlinks: Mapping[str, str] | None = None,
    others: Sequence[tarfile.TarInfo] = (),
) -> Path:
    """A gzipped tar like ``npm pack`` writes: ``files``, ``symlinks``, then ``others``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
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
    return path


def fake_package(path: Path) -> Path:
    """The fake package's tarball: the three fake SDKs plus a file that is not pinned."""
    files = {member(version): data for version, data in FAKE_SDKS.items()}
    return make_tarball(path, {**files, "package/package.json": b"{}"})


class Packer:
    """An injected packer: copies a prepared tarball into the directory, counts calls."""

    def __init__(self, tarball: Path) -> None:
        self.tarball = tarball
        self.calls = 0

    def __call__(self, directory: Path) -> Path:
        """Leave the tarball in ``directory``, as ``npm pack`` does."""
        self.calls += 1
        return Path(shutil.copy(self.tarball, directory))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def packer(tmp_path: Path) -> Packer:
    return Packer(fake_package(tmp_path / "src" / "package.tgz"))


def test_fetch_puts_every_pinned_file_in_the_cache_verified(cache: Path, packer: Packer) -> None:
    """Fetch extracts each pinned member under its file name and reports it verified."""
    files = sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    assert [(file.version, file.status) for file in files] == [
        ("1.0.0.368", "ok"),
        ("2.0.0.485", "ok"),
        ("5.1.3", "ok"),
    ]
    for version, data in FAKE_SDKS.items():
        assert (cache / f"webmssdk_{version}.js").read_bytes() == data
    assert sorted(path.name for path in cache.iterdir()) == [
        "webmssdk_1.0.0.368.js",
        "webmssdk_2.0.0.485.js",
        "webmssdk_5.1.3.js",
    ]


def test_second_fetch_does_not_call_the_packer(cache: Path, packer: Packer) -> None:
    """With every file present and verified, fetch does nothing."""
    sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    files = sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    assert packer.calls == 1
    assert all(file.ok for file in files)


def test_fetch_replaces_a_modified_file(cache: Path, packer: Packer) -> None:
    """A file that no longer matches its pin is fetched again."""
    sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    (cache / "webmssdk_5.1.3.js").write_bytes(b"tampered")
    files = sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    assert packer.calls == 2
    assert all(file.ok for file in files)
    assert (cache / "webmssdk_5.1.3.js").read_bytes() == FAKE_SDKS["5.1.3"]


def test_member_with_another_sha256_is_rejected_leaving_no_file(
    cache: Path, packer: Packer
) -> None:
    """A member that does not hash to its pin fails the fetch, and nothing is written."""
    pins = {**FAKE_PINS, "5.1.3": Pin(member("5.1.3"), len(FAKE_SDKS["5.1.3"]), "0" * 64)}
    with pytest.raises(SdkFetchFailed, match=r"webmssdk_5\.1\.3\.js .* does not match its pin"):
        sdk.fetch(cache, pack=packer, pins=pins)
    assert list(cache.rglob("*")) == []


def test_tarball_with_another_sha256_is_rejected(cache: Path, packer: Packer) -> None:
    """An expected tarball sha256 is checked before anything is extracted."""
    with pytest.raises(SdkFetchFailed, match="the package changed or the download is corrupt"):
        sdk.fetch(cache, pack=packer, pins=FAKE_PINS, tarball_sha256="1" * 64)
    assert not cache.exists()


def test_traversal_member_cannot_write_outside_the_cache(tmp_path: Path, cache: Path) -> None:
    """A pinned member whose path climbs out of the staging directory is refused."""
    data = b"escaped"
    tarball = make_tarball(tmp_path / "src" / "evil.tgz", {"../../escape.js": data})
    pins = {"9": Pin("../../escape.js", len(data), hashlib.sha256(data).hexdigest())}
    with pytest.raises(SdkFetchFailed, match="unsafe"):
        sdk.fetch(cache, pack=Packer(tarball), pins=pins)
    assert list(tmp_path.rglob("escape.js")) == []
    assert list(cache.rglob("*")) == []


def test_symlink_member_is_refused(tmp_path: Path, cache: Path) -> None:
    """A pinned member that is a link instead of a file is refused."""
    tarball = make_tarball(
        tmp_path / "src" / "link.tgz", {}, symlinks={member("5.1.3"): "../../../../escape.js"}
    )
    with pytest.raises(SdkFetchFailed, match="not a regular file"):
        sdk.fetch(cache, pack=Packer(tarball), pins={"5.1.3": FAKE_PINS["5.1.3"]})
    assert list(cache.rglob("*")) == []


@pytest.mark.parametrize(
    "kind",
    [tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE],
    ids=["hard link", "directory", "fifo"],
)
def test_non_regular_member_is_refused(tmp_path: Path, cache: Path, kind: bytes) -> None:
    """A pinned member that is a hard link (even to the pinned bytes) or no file is refused."""
    special = tarfile.TarInfo(member("5.1.3"))
    special.type = kind
    special.linkname = "package/real.js" if kind == tarfile.LNKTYPE else ""
    files = {"package/real.js": FAKE_SDKS["5.1.3"]}
    tarball = make_tarball(tmp_path / "src" / "special.tgz", files, others=[special])
    with pytest.raises(SdkFetchFailed, match="not a regular file"):
        sdk.fetch(cache, pack=Packer(tarball), pins={"5.1.3": FAKE_PINS["5.1.3"]})
    assert list(cache.rglob("*")) == []


def test_member_of_another_size_is_refused(cache: Path, packer: Packer) -> None:
    """A member whose size differs from its pin is refused, naming both sizes."""
    pin = FAKE_PINS["5.1.3"]
    pins = {"5.1.3": Pin(pin.member, pin.size + 1, pin.sha256)}
    with pytest.raises(SdkFetchFailed, match=rf"{pin.size} bytes, pinned {pin.size + 1}"):
        sdk.fetch(cache, pack=packer, pins=pins)
    assert list(cache.rglob("*")) == []


def test_fetch_reads_members_without_extracting_them(
    cache: Path, packer: Packer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetch works with a ``tarfile`` that has no extraction filters, as in Python 3.11.2."""

    def extract(*args: object, **kwargs: object) -> None:
        pytest.fail(f"the fetch extracted a member to disk: {args[1:]} {kwargs}")

    monkeypatch.delattr(tarfile, "data_filter")
    monkeypatch.delattr(tarfile, "FilterError")
    monkeypatch.setattr(tarfile.TarFile, "extract", extract)
    monkeypatch.setattr(tarfile.TarFile, "extractall", extract)
    files = sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    assert all(file.ok for file in files)
    for version, data in FAKE_SDKS.items():
        assert (cache / f"webmssdk_{version}.js").read_bytes() == data


def test_unpinned_members_are_never_extracted(tmp_path: Path, cache: Path) -> None:
    """Only pinned members leave the tarball, whatever else it holds."""
    files = {member("5.1.3"): FAKE_SDKS["5.1.3"], "../outside.js": b"x", "package/a.js": b"y"}
    tarball = make_tarball(tmp_path / "src" / "extra.tgz", files)
    sdk.fetch(cache, pack=Packer(tarball), pins={"5.1.3": FAKE_PINS["5.1.3"]})
    assert [path.name for path in cache.iterdir()] == ["webmssdk_5.1.3.js"]
    assert list(tmp_path.rglob("outside.js")) == []


def test_missing_member_names_it(tmp_path: Path, cache: Path) -> None:
    """A tarball without a pinned member fails the fetch naming the member."""
    tarball = make_tarball(tmp_path / "src" / "empty.tgz", {"package/package.json": b"{}"})
    with pytest.raises(SdkFetchFailed, match=r"has no package/javascript/webmssdk_5\.1\.3\.js"):
        sdk.fetch(cache, pack=Packer(tarball), pins={"5.1.3": FAKE_PINS["5.1.3"]})


def test_corrupt_tarball_fails_clearly(tmp_path: Path, cache: Path) -> None:
    """Bytes that are not a gzipped tar fail the fetch, not with a traceback."""
    tarball = tmp_path / "src" / "broken.tgz"
    tarball.parent.mkdir()
    tarball.write_bytes(b"not a tarball")
    with pytest.raises(SdkFetchFailed, match=r"cannot read the tarball broken\.tgz"):
        sdk.fetch(cache, pack=Packer(tarball), pins=FAKE_PINS)


@pytest.mark.parametrize("path", ["/abs/webmssdk.js", "package/..", ""])
def test_pin_must_name_a_relative_file(path: str) -> None:
    """A pin cannot name an absolute path or a directory."""
    with pytest.raises(ValueError, match="relative path to a file"):
        Pin(path, 1, "0" * 64)


def test_sdk_path_returns_the_verified_file(cache: Path, packer: Packer) -> None:
    """After a fetch, ``sdk_path`` gives the pinned version's file."""
    sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    path = sdk.sdk_path(cache, "2.0.0.485", pins=FAKE_PINS)
    assert path == cache / "webmssdk_2.0.0.485.js"


def test_sdk_path_raises_sdk_missing_with_the_fetch_hint(cache: Path) -> None:
    """An absent file is a configuration error telling the operator what to run."""
    with pytest.raises(SdkMissing, match=r"SDK 5\.1\.3 .* run `tiktok-signer sdk fetch`") as info:
        sdk.sdk_path(cache, "5.1.3")
    assert isinstance(info.value, ProviderConfigError)
    assert info.value.details["path"] == str(cache / "webmssdk_5.1.3.js")


def test_sdk_path_detects_a_file_modified_after_fetch(cache: Path, packer: Packer) -> None:
    """Changing one byte of a verified file (same size) makes it unusable."""
    sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    path = sdk.sdk_path(cache, "5.1.3", pins=FAKE_PINS)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SdkMissing, match=r"does not match its pin .*sha256"):
        sdk.sdk_path(cache, "5.1.3", pins=FAKE_PINS)


def test_sdk_path_hashes_an_unchanged_file_once(
    cache: Path, packer: Packer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Look-ups of a file hash it once, and again only once its mtime changes."""
    sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
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
    with pytest.raises(ProviderConfigError, match=r"no pinned SDK '9\.9'.*5\.1\.3"):
        sdk.sdk_path(cache, "9.9")


def test_list_files_reports_ok_missing_and_mismatch(cache: Path, packer: Packer) -> None:
    """Each pinned version is listed with its state, sizes and hashes as found on disk."""
    sdk.fetch(cache, pack=packer, pins=FAKE_PINS)
    (cache / "webmssdk_1.0.0.368.js").unlink()
    (cache / "webmssdk_2.0.0.485.js").write_bytes(b"other")
    files = sdk.list_files(cache, pins=FAKE_PINS)
    assert [file.status for file in files] == ["missing", "mismatch", "ok"]
    missing, mismatch, ok = files
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


def test_real_pins_are_the_documented_ones() -> None:
    """The pins are web-signing.md section 11's: tarball and three files."""
    assert sdk.PACKAGE == "tiktok-signature@4.3.6"
    assert sdk.TARBALL_SHA256.startswith("079b88f611c7")
    assert {version: (pin.name, pin.size) for version, pin in sdk.PINS.items()} == {
        "1.0.0.368": ("webmssdk_1.0.0.368.js", 245612),
        "2.0.0.485": ("webmssdk_2.0.0.485.js", 244948),
        "5.1.3": ("webmssdk_5.1.3.js", 520253),
    }


# -- the default packer, with a fake `npm` on PATH


def fake_npm(bin_dir: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put an ``npm`` running ``script`` first on PATH; it logs its arguments to npm.log."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\necho "$@" >> "{bin_dir}/npm.log"\n{script}\n', encoding="utf-8")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir / "npm.log"


def test_default_packer_runs_npm_pack_and_checks_the_tarball(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``npm pack`` runs with the pinned package, and its tarball must hash to the pin."""
    tarball = fake_package(tmp_path / "src" / "package.tgz")
    log = fake_npm(tmp_path / "bin", f'cp "{tarball}" "$4"', monkeypatch)
    with pytest.raises(SdkFetchFailed, match=f"pinned {sdk.TARBALL_SHA256}"):
        sdk.fetch(cache, pins=FAKE_PINS)
    arguments = log.read_text(encoding="utf-8").split()
    assert arguments[:3] == ["pack", "tiktok-signature@4.3.6", "--pack-destination"]
    assert list(cache.rglob("*")) == []


def test_npm_failure_carries_its_error_output(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When npm fails, the error has its exit code and the tail of its stderr."""
    fake_npm(tmp_path / "bin", "echo 'npm error code E404' >&2\nexit 1", monkeypatch)
    with pytest.raises(SdkFetchFailed, match="exit code 1:\nnpm error code E404"):
        sdk.fetch(cache)


def test_npm_that_hangs_is_stopped(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hanging npm is stopped after ``NPM_TIMEOUT_S`` and the fetch fails saying so."""
    fake_npm(tmp_path / "bin", "exec sleep 10", monkeypatch)
    monkeypatch.setattr(sdk, "NPM_TIMEOUT_S", 0.2)
    with pytest.raises(SdkFetchFailed, match=r"did not finish within 0\.2 s"):
        sdk.fetch(cache)


# -- the command line


@pytest.fixture
def cli_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's settings point at ``cache``, and the real pins are the fake ones."""
    monkeypatch.setenv("SIGNER_SDK_CACHE_DIR", str(cache))
    monkeypatch.setattr(sdk, "PINS", FAKE_PINS)
    return cache


def test_cli_sdk_list_json_reports_verified_files(
    cli_cache: Path, packer: Packer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sdk list --json`` lists every pinned file with its state, and exits 0 when all verify."""
    sdk.fetch(cli_cache, pack=packer)
    assert main(["sdk", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["package"] == "tiktok-signature@4.3.6"
    assert listing["directory"] == str(cli_cache)
    assert listing["ok"] is True
    assert [(file["version"], file["status"]) for file in listing["files"]] == [
        ("1.0.0.368", "ok"),
        ("2.0.0.485", "ok"),
        ("5.1.3", "ok"),
    ]
    assert listing["files"][2] == {
        "version": "5.1.3",
        "status": "ok",
        "path": str(cli_cache / "webmssdk_5.1.3.js"),
        "size": FAKE_PINS["5.1.3"].size,
        "sha256": FAKE_PINS["5.1.3"].sha256,
        "problem": None,
    }


def test_cli_sdk_list_exits_1_naming_what_is_missing(
    cli_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an empty cache ``sdk list`` prints the table, names each file and the fix, exits 1."""
    assert main(["sdk", "list"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["version", "status", "bytes", "sha256", "path"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["1.0.0.368", "missing"],
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


def test_cli_sdk_fetch_installs_from_npm(
    tmp_path: Path,
    cli_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sdk fetch`` runs npm, verifies the tarball and files, prints them, exits 0."""
    tarball = fake_package(tmp_path / "src" / "package.tgz")
    fake_npm(tmp_path / "bin", f'cp "{tarball}" "$4"', monkeypatch)
    monkeypatch.setattr(sdk, "TARBALL_SHA256", hashlib.sha256(tarball.read_bytes()).hexdigest())
    assert main(["sdk", "fetch"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"Fetched TikTok's SDK files from tiktok-signature@4.3.6 into {cli_cache}"
    )
    assert f"5.1.3      ok      {FAKE_PINS['5.1.3'].size}" in out
    assert (cli_cache / "webmssdk_5.1.3.js").read_bytes() == FAKE_SDKS["5.1.3"]


def test_cli_sdk_fetch_without_npm_exits_3_saying_so(
    tmp_path: Path,
    cli_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With no npm on PATH, ``sdk fetch`` could not run (exit 3) and says npm is missing."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["sdk", "fetch"]) == 3
    assert "sdk fetch failed: npm is not installed" in capsys.readouterr().err
    assert not cli_cache.exists()


def test_cli_sdk_fetch_is_quiet_when_files_are_present(
    tmp_path: Path,
    cli_cache: Path,
    packer: Packer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sdk fetch --quiet`` on a verified cache prints nothing and does not run npm."""
    sdk.fetch(cli_cache, pack=packer)
    log = fake_npm(tmp_path / "bin", "exit 1", monkeypatch)
    assert main(["sdk", "fetch", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert not log.exists()


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
        ("2.0.0.485", "ok"),
        ("5.1.3", "ok"),
    ]

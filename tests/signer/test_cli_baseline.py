"""``tiktok-signer baseline create|analyze``: files, output, exit codes (real SDK, Chromium)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from providers import sdk
from signer.cli import ExitCode, main
from tests.support import CHROMIUM, REPO

if TYPE_CHECKING:
    from pathlib import Path

SDK_DIR = REPO / "data" / "sdk"


def sdk_file(build: str) -> Path:
    path = SDK_DIR / sdk.PINS[build].name
    if not path.is_file():
        pytest.skip(f"{path} is missing: run `tiktok-signer sdk fetch`")
    return path


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A data dir of the test's own; the repo's SDK cache; Debian's Chromium."""
    monkeypatch.setenv("SIGNER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIGNER_SDK_CACHE_DIR", str(SDK_DIR))
    monkeypatch.setenv("SIGNER_CHROMIUM_PATH", str(CHROMIUM))
    monkeypatch.setenv("SIGNER_SDK_VERSION", "5.1.3")


@pytest.mark.chromium
def test_create_then_analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # create: the configured build from the SDK cache, into <data dir>/baseline.json.
    assert main(["baseline", "create"]) == ExitCode.OK
    written = tmp_path / "baseline.json"
    snapshot = json.loads(written.read_text())
    assert snapshot["build"] == "5.1.3"
    assert snapshot["file"]["sha256"] == sdk.PINS["5.1.3"].sha256
    assert snapshot["file"]["size"] == sdk.PINS["5.1.3"].size
    assert "5.1.3" in capsys.readouterr().out

    # analyze the 2026 build against it: CRITICAL, exit 1, JSON as DESIGN says, nothing else
    # on stdout (the provider's logs stay off it).
    code = main(["baseline", "analyze", "--sdk", str(sdk_file("1.0.0.417")), "--json"])
    assert code == ExitCode.DEGRADED
    report = json.loads(capsys.readouterr().out)
    findings = report["findings"]
    assert set(report) == {"findings"}
    assert all(set(f) == {"severity", "kind", "detail", "action"} for f in findings)
    assert findings[0]["severity"] == "CRITICAL"
    critical = {f["kind"] for f in findings if f["severity"] == "CRITICAL"}
    assert {"x_bogus_form_changed", "x_dynosaur_appeared", "socket_signer_appeared"} <= critical
    assert {f["severity"] for f in findings} <= {"CRITICAL", "HIGH", "MEDIUM", "INFO"}

    # the configured build against its own baseline: the human table, exit 0.
    assert main(["baseline", "analyze", "--against", str(written)]) == ExitCode.OK
    output = capsys.readouterr().out
    assert "no_change" in output
    assert "INFO" in output
    assert "CRITICAL" not in output


@pytest.mark.chromium
def test_create_to_a_named_file_and_human_analyze(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nested" / "b.json"
    assert main(["baseline", "create", "--sdk", str(sdk_file("1.0.0.368")), "-o", str(target)]) == 0
    capsys.readouterr()
    code = main(["baseline", "analyze", "--against", str(target), "--sdk", str(sdk_file("5.1.3"))])
    assert code == ExitCode.DEGRADED
    output = capsys.readouterr().out
    assert "x_gnarly_version_changed" in output
    assert "action:" in output


def test_missing_baseline_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["baseline", "analyze", "--against", str(tmp_path / "none.json")])
    assert code == ExitCode.USAGE
    assert "tiktok-signer baseline create" in capsys.readouterr().err


def test_missing_sdk_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["baseline", "create", "--sdk", str(tmp_path / "webmssdk_9.9.9.js")])
    assert code == ExitCode.USAGE
    assert "no SDK file" in capsys.readouterr().err
    assert not (tmp_path / "baseline.json").exists()


def test_missing_chromium_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIGNER_CHROMIUM_PATH", str(tmp_path / "no-chromium"))
    assert main(["baseline", "create", "--sdk", str(sdk_file("5.1.3"))]) == ExitCode.USAGE
    assert "chromium_path" in capsys.readouterr().err


def test_chromium_that_will_not_launch_is_could_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("SIGNER_CHROMIUM_PATH", str(broken))
    code = main(["baseline", "create", "--sdk", str(sdk_file("5.1.3"))])
    assert code == ExitCode.COULD_NOT_RUN
    assert "could not run" in capsys.readouterr().err


def test_usage_without_a_subcommand() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["baseline"])
    assert caught.value.code == ExitCode.USAGE

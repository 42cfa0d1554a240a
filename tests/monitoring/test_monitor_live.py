"""``monitor`` with SIGNER_MONITOR_LIVE: the live site's SDK against the baseline, a canary."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from signer.cli import main
from tests.fakes.tiktok_site import FakeTikTokSite
from tests.monitoring.conftest import ADMIN_KEY, start_fake, start_service

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.monitoring.conftest import Loop, Service


@pytest.fixture
def site(loop: Loop) -> Iterator[FakeTikTokSite]:
    """TikTok's live site on loopback."""
    server = FakeTikTokSite()
    start_fake(loop, server)
    yield server
    loop.run(server.aclose())


@pytest.fixture
def live_service(
    loop: Loop, site: FakeTikTokSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Service]:
    """The service signing for the fake site, and the monitor's environment (live on)."""
    started = start_service(loop, tiktok_www_url=site.origin)
    for name, value in {
        "SIGNER_DATA_DIR": str(tmp_path),
        "SIGNER_SERVICE_URL": started.url,
        "SIGNER_ADMIN_KEY": ADMIN_KEY,
        "SIGNER_TIKTOK_WWW_URL": site.origin,
        "SIGNER_MONITOR_LIVE": "true",
    }.items():
        monkeypatch.setenv(name, value)
    yield started
    loop.run(started.runner.cleanup())


def run_json(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["monitor", "--json"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith('{"verdict"'))
    result: dict[str, Any] = json.loads(line)
    return code, result


def baseline(tmp_path: Path, sdk: bytes) -> None:
    """What ``baseline create`` writes, as far as the monitor reads it."""
    file = {"sha256": hashlib.sha256(sdk).hexdigest(), "size": len(sdk)}
    (tmp_path / "baseline.json").write_text(json.dumps({"build": "1.0.0.999", "file": file}))


@pytest.mark.usefixtures("live_service")
def test_live_sdk_as_the_baseline_and_an_accepted_canary_are_healthy(
    capsys: pytest.CaptureFixture[str], site: FakeTikTokSite, tmp_path: Path
) -> None:
    baseline(tmp_path, site.sdk)
    code, report = run_json(capsys)
    assert (code, report["findings"]) == (0, [])
    assert report["live"]["sdk"]["size"] == len(site.sdk)
    assert report["live"]["canary"] == {"status": 200}
    api = [seen for seen in site.seen if seen.path.startswith("/api/")]
    assert len(api) == 1
    assert "X-Bogus=" in api[0].query


@pytest.mark.usefixtures("live_service")
def test_a_changed_sdk_a_missing_baseline_and_a_refused_canary_are_findings(
    capsys: pytest.CaptureFixture[str], site: FakeTikTokSite, tmp_path: Path
) -> None:
    code, report = run_json(capsys)
    assert code == 1
    assert [f["kind"] for f in report["findings"]] == ["baseline_missing"]
    baseline(tmp_path, b"/* the build before */")
    site.status_code = 10201
    code, report = run_json(capsys)
    assert code == 1
    assert [f["kind"] for f in report["findings"]] == ["live_sdk_changed", "live_canary_refused"]

"""The command line and the server process: start, serve, stop, exit codes, workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from signer.cli import main
from tests.support import REPO, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=35"


def get_json(url: str, data: bytes | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.load(response)
        return result


def call(
    url: str, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST ``payload`` as JSON (GET without one); the status and the JSON answer, errors too."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited with {process.returncode} before it was ready")
        try:
            get_json(f"{base}/health")
        except OSError:
            time.sleep(0.05)
        else:
            return
    pytest.fail("the service did not answer /health in time")


def wait_for_workers(base: str, count: int, timeout_s: float = 20.0) -> set[int]:
    """Ask /health until ``count`` different workers have answered; their pids."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(pids) < count and time.monotonic() < deadline:
        pids.add(get_json(f"{base}/health")["pid"])
    assert len(pids) == count
    return pids


class Service:
    """``python -m signer serve`` as a real process on a free loopback port."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "service.log"
        environ = {
            **os.environ,
            "SIGNER_PORT": str(self.port),
            "SIGNER_LOG_FORMAT": "json",
            "SIGNER_DATA_DIR": str(tmp_path / "data"),
            "SIGNER_PROVIDERS": "native",
            **env,
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "signer", "serve"],
                cwd=REPO,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> int:
        """SIGTERM the service and return its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def events(self) -> list[dict[str, Any]]:
        """Every JSON log line the service wrote."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = Service(tmp_path)
    try:
        wait_ready(running.base, running.process)
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_serve_signs_and_stops_gracefully_on_sigterm(service: Service) -> None:
    """The real process signs, logs JSON lines, and exits 0 on SIGTERM."""
    body = get_json(f"{service.base}/signature", URL.encode())
    assert body["data"]["x-bogus"] == "1"
    assert body["data"]["sdk_version"] == "1.0.0.417"
    assert body["data"]["x-dynosaur"]
    assert service.stop() == 0
    events = [event["event"] for event in service.events()]
    assert events.index("provider_started") < events.index("server_started")
    assert "request" in events
    assert events[-2:] == ["server_stopping", "provider_stopped"]


def test_request_log_line_is_json_with_request_id(service: Service) -> None:
    """Each request writes one JSON line carrying its request id and ISO timestamp."""
    request = urllib.request.Request(f"{service.base}/health", headers={"X-Request-Id": "cli-1"})
    with urllib.request.urlopen(request, timeout=5):
        pass
    get_json(f"{service.base}/signature", URL.encode())
    service.stop()
    events = service.events()
    line = next(e for e in events if e.get("request_id") == "cli-1")
    assert line["event"] == "request"
    assert line["route"] == "/health"
    assert line["timestamp"].endswith("Z")
    assert line["level"] == "info"
    signed = next(e for e in events if e.get("route") == "/signature")
    assert signed["provider"] == "native"
    assert signed["attempts"] == 1


def test_invalid_setting_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad setting stops start-up with exit code 2 and the setting's name."""
    os.environ["SIGNER_PORT"] = "not-a-port"
    try:
        assert main(["serve"]) == 2
    finally:
        del os.environ["SIGNER_PORT"]
    assert "invalid setting port (env SIGNER_PORT)" in capsys.readouterr().err


def serve_until_exit(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``serve`` expecting it to stop on its own (a start-up failure)."""
    return subprocess.run(
        [sys.executable, "-m", "signer", "serve", *args],
        cwd=REPO,
        env={**os.environ, "SIGNER_LOG_FORMAT": "json", "SIGNER_PROVIDERS": "native", **env},
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_unknown_provider_exits_2() -> None:
    """An unknown provider name fails at start-up, before anything listens."""
    result = serve_until_exit(SIGNER_PROVIDERS="native,nope")
    assert result.returncode == 2
    assert b"unknown provider nope" in result.stdout


def test_port_in_use_exits_3() -> None:
    """A port that is taken is a start-up failure (exit 3), not a crash."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = serve_until_exit("--port", str(taken.getsockname()[1]))
    assert result.returncode == 3
    assert b"start_failed" in result.stdout


def test_workers_share_the_port_and_the_metrics(tmp_path: Path) -> None:
    """With two workers both answer on one port; /metrics sums over them; SIGTERM ends all."""
    service = Service(tmp_path, SIGNER_WORKERS="2")
    try:
        wait_ready(service.base, service.process)
        pids = wait_for_workers(service.base, 2)
        count = len(pids)
        with urllib.request.urlopen(f"{service.base}/metrics", timeout=5) as response:
            text = response.read().decode()
        counted = next(
            line for line in text.splitlines()
            if line.startswith('signer_http_requests_total{method="GET",route="/health"')
        )  # fmt: skip
        # The readiness probes count too, so at least the loop's requests are there.
        assert float(counted.rsplit(" ", 1)[1]) >= count
        assert service.stop() == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


def test_maintenance_through_one_worker_holds_on_every_worker(tmp_path: Path) -> None:
    """An /admin change answered by one worker holds on the very next requests, on both."""
    admin = {"X-Admin-Key": "an-admin-key-of-24-chars"}
    service = Service(tmp_path, SIGNER_WORKERS="2", SIGNER_ADMIN_KEY=admin["X-Admin-Key"])
    try:
        wait_ready(service.base, service.process)
        wait_for_workers(service.base, 2)
        status, _ = call(f"{service.base}/admin/maintenance", {"enabled": True}, admin)
        assert status == 200
        seen: dict[int, list[bool]] = {}
        signed = []
        for _ in range(40):  # new connections: the kernel spreads them over both workers
            health = call(f"{service.base}/health")[1]
            seen.setdefault(health["pid"], []).append(health["maintenance"])
            signed.append(call(f"{service.base}/sign", {"url": URL})[0])
        assert len(seen) == 2
        assert all(all(flags) for flags in seen.values())
        assert set(signed) == {503}
        status, state = call(f"{service.base}/admin/maintenance", {"enabled": False}, admin)
        assert (status, state["maintenance"]["enabled"]) == (200, False)
        assert {call(f"{service.base}/sign", {"url": URL})[0] for _ in range(20)} == {200}
        assert service.stop() == 0
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


@pytest.mark.chromium
def test_a_browser_that_will_not_run_exits_3_without_a_traceback() -> None:
    """Playwright's driver dying at start (as without libatomic1) could not run: exit 3."""
    result = serve_until_exit(
        SIGNER_PROVIDERS="browser,native",
        SIGNER_SDK_CACHE_DIR=str(REPO / "data" / "sdk"),
        PLAYWRIGHT_NODEJS_PATH="/bin/false",
    )
    assert result.returncode == 3
    assert b"start_failed" in result.stdout
    assert b"Traceback" not in result.stdout + result.stderr


def test_missing_browser_exits_2_with_the_setting() -> None:
    """With the browser provider and no Chromium, start-up fails clearly (exit 2)."""
    result = serve_until_exit(SIGNER_PROVIDERS="browser,native", SIGNER_CHROMIUM_PATH="/nope")
    assert result.returncode == 2
    assert b"no Chromium at /nope" in result.stdout


@pytest.mark.chromium
def test_embedded_defaults_sign_with_the_browser(tmp_path: Path) -> None:
    """The real process on the default chain starts Chromium and signs with it."""
    service = Service(
        tmp_path, SIGNER_PROVIDERS="browser,native", SIGNER_SDK_CACHE_DIR=str(REPO / "data" / "sdk")
    )
    try:
        wait_ready(service.base, service.process)
        body = get_json(f"{service.base}/signature", URL.encode())
        assert body["data"]["provider"] == "browser"
        assert service.stop() == 0
        events = [event["event"] for event in service.events()]
        assert events.index("browser_ready") < events.index("server_started")
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()

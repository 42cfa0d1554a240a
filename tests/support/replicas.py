"""Replicas of the service as real processes on loopback, and a throwaway HAProxy in front.

Each replica is ``python -m signer serve`` on its own port (native provider only, so no
Chromium), with the environment a test gives; its output goes to a file in the test's
directory (read it when a test fails). HAProxy is Debian's binary, run in the foreground
with a generated configuration that has the options of ``deploy/haproxy.cfg`` that matter
here: health checks on ``/health`` at a short interval, retries and redispatch on
connection failures and 503s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

REPO = Path(__file__).resolve().parents[2]
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def get_json(url: str, timeout_s: float = 2.0) -> tuple[int, dict[str, Any]]:
    """GET ``url``: the status and the JSON body (any status)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@dataclass
class Replica:
    """One service process."""

    index: int
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process (its output appended to its log file)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "signer", "serve", "--port", str(self.port)],
                cwd=REPO,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until ``/health`` answers 200; fail with the log's tail if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            with contextlib.suppress(OSError, ValueError):
                if get_json(f"{self.origin}/health", 1.0)[0] == 200:
                    return
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"replica {self.index} did not get ready:\n{tail}")

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops it (the test waits for the exit)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        """The exit code, once it has exited."""
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        """SIGTERM and wait; kill if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Replicas:
    """N replicas sharing a test's environment (each with its own port, id and data dir)."""

    replicas: list[Replica] = field(default_factory=list)

    def __iter__(self) -> Iterator[Replica]:
        """Each replica."""
        return iter(self.replicas)

    def __getitem__(self, index: int) -> Replica:
        """The replica of that index."""
        return self.replicas[index]

    @property
    def ports(self) -> list[int]:
        """Their ports."""
        return [replica.port for replica in self.replicas]

    def stop(self) -> None:
        """Stop every replica."""
        for replica in self.replicas:
            replica.terminate()
        for replica in self.replicas:
            replica.stop()


@contextlib.contextmanager
def replicas(count: int, directory: Path, env: Mapping[str, str]) -> Iterator[Replicas]:
    """Start ``count`` replicas with ``env`` (plus their own port, id and data dir)."""
    group = Replicas()
    try:
        for index in range(count):
            data = directory / f"replica-{index}"
            data.mkdir(parents=True, exist_ok=True)
            replica = Replica(
                index=index,
                port=free_port(),
                env={
                    "SIGNER_PROVIDERS": "native",
                    "SIGNER_LOG_FORMAT": "json",
                    "SIGNER_DATA_DIR": str(data),
                    "SIGNER_REPLICA_ID": f"replica-{index}",
                    **env,
                },
                log_path=directory / f"replica-{index}.log",
            )
            group.replicas.append(replica)
            replica.start()
        for replica in group:
            replica.wait_ready()
        yield group
    finally:
        group.stop()


HAPROXY_CONFIG = """\
global
    maxconn 2000

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    option forwardfor
    option redispatch
    retries 3
    retry-on conn-failure empty-response response-timeout 503

frontend signer
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter {inter_ms}ms fall 1 rise 2
{servers}
"""


@dataclass
class HAProxy:
    """A running HAProxy in front of some ports."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def haproxy(ports: list[int], directory: Path, *, inter_ms: int = 200) -> Iterator[HAProxy]:
    """HAProxy on a free loopback port, balancing over ``ports`` (checks every ``inter_ms``)."""
    if not Path(HAPROXY).exists():
        raise RuntimeError("haproxy is missing: scripts/setup installs Debian's haproxy")
    port = free_port()
    servers = "\n".join(
        f"    server r{n} 127.0.0.1:{backend} check" for n, backend in enumerate(ports)
    )
    config = directory / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, inter_ms=inter_ms, servers=servers))
    log_path = directory / "haproxy.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    front = HAProxy(port, process, log_path)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError, ValueError):
                if get_json(f"{front.origin}/health", 1.0)[0] == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield front
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

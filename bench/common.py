"""Helpers for the benchmarks: start servers on loopback, drive wrk, report figures."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
DEFAULT_URLS = REPO.parent / "shared" / "bench" / "urls.txt"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout_s: float = 30.0, method: str = "GET") -> None:
    """Poll until the URL answers 2xx; raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            request = urllib.request.Request(
                url, method=method, data=b"" if method == "POST" else None
            )
            with urllib.request.urlopen(request, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live children (workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


@dataclass
class LoadResult:
    """One wrk run against one server."""

    target: str
    concurrency: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    non2xx: int
    server_cpu_us_per_request: float


def require_wrk() -> str:
    """The wrk binary, or exit with how to get it."""
    path = shutil.which("wrk")
    if path is None:
        sys.exit("bench: wrk is missing: apt-get install -y wrk (scripts/bench does this)")
    return path


def run_wrk(
    target: str, url: str, urls_file: Path, concurrency: int, seconds: float, server_pid: int
) -> LoadResult:
    """Run wrk once (bounded by ``seconds``) and read its JSON summary line."""
    command = [
        require_wrk(), "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "5s",
        "-s", str(BENCH / "wrk_bodies.lua"), url, "--", str(urls_file),
    ]  # fmt: skip
    cpu_before = cpu_seconds(server_pid)
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 30)
    cpu_used = cpu_seconds(server_pid) - cpu_before
    match = re.search(r"^WRKJSON (.*)$", out.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    data: dict[str, Any] = json.loads(match.group(1))
    elapsed = data["duration_us"] / 1e6
    count = data["requests"]
    return LoadResult(
        target=target,
        concurrency=concurrency,
        requests=count,
        seconds=round(elapsed, 3),
        rps=round(count / elapsed, 1),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"],
        non2xx=data["non2xx"],
        server_cpu_us_per_request=round(cpu_used * 1e6 / max(count, 1), 1),
    )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_generator": (wrk.stdout or wrk.stderr).splitlines()[0]
        if wrk.returncode < 2
        else "wrk",
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/NAME.json`` and return its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def as_dict(result: LoadResult) -> dict[str, Any]:
    """A result as plain JSON data."""
    return asdict(result)


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server process with its output discarded."""
    return subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server and wait for it."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

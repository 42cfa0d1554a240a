"""Helpers for the benchmarks: start servers on loopback, drive wrk, report figures."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
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


def _process_table() -> dict[int, list[str]]:
    """``/proc/PID/stat`` fields (after the name) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = _stat(int(entry.name))
            except OSError:  # it exited meanwhile
                continue
    return table


def process_tree(pid: int, table: dict[int, list[str]] | None = None) -> list[int]:
    """A process and all its live descendants (workers; the Playwright driver, Chromium)."""
    children: dict[int, list[int]] = {}
    for child, fields in (table or _process_table()).items():
        children.setdefault(int(fields[1]), []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def pids_named(name: str) -> set[int]:
    """Every live process whose command name (``/proc/PID/comm``) is ``name``."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.add(int(entry.name))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants."""
    table = _process_table()
    total = 0
    for member in process_tree(pid, table):
        fields = table.get(member)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores, idle and iowait excluded)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def own_cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for (wrk runs)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _rollup_kib(pid: int) -> dict[str, int]:
    """The ``Rss:`` and ``Pss:`` lines of ``/proc/PID/smaps_rollup``, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"Rss", "Pss"}:
            values[key] = int(rest.split()[0])
    return values


def _process_type(pid: int) -> str:
    """Chromium's ``--type=`` switch of a process (renderer, zygote, gpu-process...), or ""."""
    # split on spaces too: Chromium's children rewrite their command line as one string
    for arg in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split():
        if arg.startswith(b"--type="):
            return arg.removeprefix(b"--type=").decode(errors="replace")
    return ""


def memory_by_process(pid: int) -> list[dict[str, Any]]:
    """PSS and RSS (KiB) of a process and each live descendant, with its name and type."""
    rows = []
    for member in process_tree(pid):
        try:
            rollup = _rollup_kib(member)
            name = Path(f"/proc/{member}/comm").read_text().strip()
            kind = _process_type(member)
        except OSError:  # it exited meanwhile
            continue
        rows.append({
            "pid": member, "name": name, "type": kind,
            "pss_kib": rollup.get("Pss", 0), "rss_kib": rollup.get("Rss", 0),
        })  # fmt: skip
    return rows


def pss_mib(pid: int) -> float:
    """PSS summed over a process and all its descendants, in MiB.

    PSS splits each shared page among the processes that map it, so the sum is the tree's
    real footprint (understated while other processes map the same files, e.g. another
    Chromium); RSS sums count Chromium's shared pages once per process.
    """
    return round(sum(row["pss_kib"] for row in memory_by_process(pid)) / 1024, 1)


def rss_mib(pid: int) -> float:
    """RSS summed over a process and all its descendants, in MiB (over-counts sharing)."""
    return round(sum(row["rss_kib"] for row in memory_by_process(pid)) / 1024, 1)


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
    target: str,
    url: str,
    urls_file: Path,
    concurrency: int,
    seconds: float,
    server_pid: int,
    path: str = "/signature",
) -> LoadResult:
    """Run wrk once (bounded by ``seconds``) and read its JSON summary line.

    Each line of ``urls_file`` is POSTed to ``path``; with ``path="GET"`` each line is a
    path (and query) to GET.
    """
    command = [
        require_wrk(), "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "5s",
        "-s", str(BENCH / "wrk_bodies.lua"), url, "--", str(urls_file), path,
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


def stop_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop a server, then kill whatever of its descendants outlived it (an orphaned browser)."""
    descendants = process_tree(process.pid)[1:] if process.poll() is None else []
    stop(process)
    for pid in descendants:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def sign_once(service_url: str, url_to_sign: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """``POST /signature`` one URL as text/plain; the ``data`` of the JSON answer."""
    request = urllib.request.Request(
        f"{service_url}/signature",
        data=url_to_sign.encode(),
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        data: dict[str, Any] = json.load(response)["data"]
        return data


def time_to_first_signature(
    command: list[str],
    env: dict[str, str] | None,
    url_to_sign: str,
    service_url: str,
    provider: str | None = None,
    timeout_s: float = 60.0,
) -> float:
    """Seconds from starting ``command`` until ``POST /signature`` first answers an X-Bogus.

    ``service_url`` is where the command listens (``http://127.0.0.1:PORT``). With
    ``provider``, only an answer from that provider counts. The process (and anything it
    started) is stopped afterwards; raises ``TimeoutError`` after ``timeout_s``.
    """
    started = time.monotonic()
    process = start(command, env)
    try:
        while time.monotonic() - started < timeout_s:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode} before signing")
            try:
                data = sign_once(service_url, url_to_sign, timeout_s=5.0)
            except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, ValueError):
                time.sleep(0.01)  # not listening yet, or 503 while the provider starts
                continue
            if data.get("x-bogus") and (provider is None or data.get("provider") == provider):
                return time.monotonic() - started
            time.sleep(0.01)
        raise TimeoutError(f"no signature from {command} within {timeout_s:g} s")
    finally:
        stop_tree(process)

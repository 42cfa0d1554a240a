"""Replicas behind HAProxy, and what a Redis rate limit costs, in one run.

1. ``POST /signature`` on the native path (the URLs of ``shared/bench/urls.txt`` that the
   default build signs) straight to one replica, then through Debian's HAProxy in front of
   1, 2 and 3 replicas (one worker each), wrk at concurrency 8 and 32. On a 2-core machine
   the replicas, HAProxy and wrk share the same two cores: this shows what the balancer
   costs far more than how replicas scale (on separate machines each replica adds its own
   cores).
2. One replica with a client rate limit kept in the process vs the same limit in a local
   ``redis-server`` (set high enough that nothing is refused: the cost of the check alone),
   wrk at concurrency 1, 8 and 32.

Prints tables and writes ``bench/results/replicas.json``.

    .venv/bin/python bench/bench_replicas.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common import (
    DEFAULT_URLS,
    REPO,
    as_dict,
    free_port,
    machine,
    require_wrk,
    run_wrk,
    start,
    stop,
    wait_http,
    write_results,
)
from providers import profiles

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
HAPROXY_CONFIG = """\
global
    maxconn 4000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option redispatch
    retries 3
    retry-on conn-failure empty-response 503
frontend signer
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /health
    default-server inter 1s fall 2 rise 1
{servers}
"""


def workload(urls_file: Path, directory: Path) -> Path:
    """The workload's URLs the default build signs."""
    build = profiles.get(profiles.DEFAULT_BUILD)
    kept = [
        line
        for line in urls_file.read_text().splitlines()
        if line.startswith("http") and build.signs_path(urlsplit(line).path)
    ]
    path = directory / "urls.txt"
    path.write_text("\n".join(kept) + "\n")
    return path


def replica(port: int, directory: Path, **env: str) -> subprocess.Popen[bytes]:
    """One native-only replica (one worker)."""
    data = directory / f"data-{port}"
    data.mkdir()
    return start(
        [sys.executable, "-m", "signer", "serve", "--port", str(port)],
        env={
            "SIGNER_PROVIDERS": "native",
            "SIGNER_LOG_FORMAT": "json",
            "SIGNER_LOG_LEVEL": "warning",
            "SIGNER_DATA_DIR": str(data),
            **env,
        },
    )


def balancer(ports: list[int], directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """HAProxy in front of ``ports``."""
    port = free_port()
    servers = "\n".join(f"    server r{n} 127.0.0.1:{p} check" for n, p in enumerate(ports))
    config = directory / f"haproxy-{port}.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return process, port


def load(
    name: str, port: int, pid: int, urls: Path, concurrency: int, seconds: float
) -> dict[str, Any]:
    """One wrk run against ``port``; exit on errors."""
    result = as_dict(run_wrk(name, f"http://127.0.0.1:{port}", urls, concurrency, seconds, pid))
    if result["errors"] or result["non2xx"]:
        sys.exit(f"bench: errors against {name}: {result}")
    return result


def haproxy_phase(urls: Path, directory: Path, seconds: float) -> list[dict[str, Any]]:
    """Direct to one replica, then HAProxy over 1, 2 and 3."""
    ports = [free_port() for _ in range(3)]
    processes = [replica(port, directory) for port in ports]
    balancers: list[tuple[subprocess.Popen[bytes], int]] = []
    rows = []
    try:
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/health")
        balancers.extend(balancer(ports[:count], directory) for count in (1, 2, 3))
        for _, port in balancers:
            wait_http(f"http://127.0.0.1:{port}/health")
        time.sleep(1.5)  # every server passed its first checks
        targets = [("direct-1", ports[0], processes[0].pid)]
        targets += [
            (f"haproxy-{n + 1}", port, process.pid) for n, (process, port) in enumerate(balancers)
        ]
        for _name, port, pid in targets:
            load("warmup", port, pid, urls, 8, 1)
        for concurrency in (8, 32):
            for name, port, pid in targets:
                rows.append(load(name, port, pid, urls, concurrency, seconds))
                time.sleep(0.3)
    finally:
        for process, _ in balancers:
            stop(process)
        for process in processes:
            stop(process)
    return rows


def redis_phase(urls: Path, directory: Path, seconds: float) -> list[dict[str, Any]]:
    """The same rate limit in the process and in Redis (never reached: the check's cost)."""
    redis_port = free_port()
    redis = subprocess.Popen(
        [REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    limit = {"SIGNER_RATE_LIMIT_RPS": "1000000", "SIGNER_RATE_LIMIT_BURST": "1000000"}
    memory_port, redis_backed_port = free_port(), free_port()
    memory = replica(memory_port, directory, **limit)
    backed = replica(
        redis_backed_port,
        directory,
        SIGNER_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        **limit,
    )
    rows = []
    try:
        for port in (memory_port, redis_backed_port):
            wait_http(f"http://127.0.0.1:{port}/health")
        targets = [
            ("limit-in-process", memory_port, memory.pid),
            ("limit-in-redis", redis_backed_port, backed.pid),
        ]
        for _name, port, pid in targets:
            load("warmup", port, pid, urls, 8, 1)
        for concurrency in (1, 8, 32):
            for name, port, pid in targets:
                rows.append(load(name, port, pid, urls, concurrency, seconds))
                time.sleep(0.3)
    finally:
        stop(memory)
        stop(backed)
        stop(redis)
    return rows


def table(rows: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Print the rows with their ratio to ``base`` at the same concurrency."""
    by_key = {(row["target"], row["concurrency"]): row for row in rows}
    print(f"{'target':<18} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs ' + base:>14}")
    out = []
    for row in rows:
        ratio = row["rps"] / by_key[(base, row["concurrency"])]["rps"]
        out.append({**row, f"ratio_vs_{base}": round(ratio, 3)})
        print(
            f"{row['target']:<18} {row['concurrency']:>4} {row['rps']:>9.0f} "
            f"{row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {ratio:>14.2f}"
        )
    return out


def main() -> None:
    """Run both phases and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each wrk run")
    parser.add_argument("--urls", type=Path, default=DEFAULT_URLS, help="URL workload file")
    args = parser.parse_args()
    require_wrk()
    for binary in (HAPROXY, REDIS):
        if not Path(binary).exists():
            sys.exit(f"bench: {binary} is missing (scripts/setup installs it)")
    with tempfile.TemporaryDirectory(prefix="bench-replicas-", dir=REPO / "data") as work:
        directory = Path(work)
        urls = workload(args.urls, directory)
        balanced = table(haproxy_phase(urls, directory, args.seconds), "direct-1")
        limited = table(redis_phase(urls, directory, args.seconds), "limit-in-process")
    memory_rows = {r["concurrency"]: r for r in limited if r["target"] == "limit-in-process"}
    redis_cost = {
        str(row["concurrency"]): round(
            row["server_cpu_us_per_request"]
            - memory_rows[row["concurrency"]]["server_cpu_us_per_request"],
            1,
        )
        for row in limited
        if row["target"] == "limit-in-redis"
    }
    print("Redis rate limit: extra server CPU per request (us), by concurrency:", redis_cost)
    path = write_results(
        "replicas",
        {
            "machine": machine(),
            "haproxy": balanced,
            "rate_limit": limited,
            "redis_extra_cpu_us_per_request": redis_cost,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

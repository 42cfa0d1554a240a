"""Load benchmark: ``POST /signature`` on the native path vs an aiohttp hello-world.

Every server runs in the same run, on loopback, under the same wrk load (one wrk thread,
concurrency 1, 8 and 32, the URL workload of ``shared/bench/urls.txt``): the native path
imitating the default SDK build 1.0.0.417 (X-Dynosaur and X-Gnarly 5.3.2) and the 2025
build 5.1.3 (X-Bogus and X-Gnarly 5.1.3), each with 1 and with ``--workers`` workers.
Prints a table and writes ``bench/results/native.json``.

Targets (DESIGN.md): p50 <= 1 ms at concurrency 1; throughput >= 50 % of hello-world.

    .venv/bin/python bench/bench_native.py [--seconds 5] [--urls FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

from common import (
    DEFAULT_URLS,
    LoadResult,
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

CONCURRENCY = (1, 8, 32)


#: The SDK builds compared, and what their X-Bogus starts with.
BUILDS = {"1.0.0.417": "1", "5.1.3": "DFSz"}


def check_service(port: int, urls_file: Path, build: str) -> None:
    """One real signature before the load: fail early if the service is not signing."""
    url = next(line for line in urls_file.read_text().splitlines() if line.startswith("http"))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/signature",
        data=url.encode(),
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        data = json.load(response)["data"]
    signed = data["x-bogus"].startswith(BUILDS[build]) and data["x-gnarly"]
    if (
        not signed
        or data["sdk_version"] != build
        or (build == "1.0.0.417") != bool(data["x-dynosaur"])
    ):
        sys.exit(f"bench: the service answered without {build} signatures: {data}")


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--urls", type=Path, default=DEFAULT_URLS, help="URL workload file")
    parser.add_argument("--workers", type=int, default=2, help="workers of the scaled-out run")
    args = parser.parse_args()
    require_wrk()
    hello_port = free_port()
    hello = start([sys.executable, "bench/hello.py", "--port", str(hello_port)])
    services = {}
    for build in BUILDS:
        for workers in (1, args.workers):
            port = free_port()
            services[f"{build}-w{workers}"] = (
                start(
                    [sys.executable, "-m", "signer", "serve", "--port", str(port)],
                    env={
                        "SIGNER_PROVIDERS": "native",
                        "SIGNER_SDK_VERSION": build,
                        "SIGNER_LOG_FORMAT": "json",
                        "SIGNER_WORKERS": str(workers),
                        "SIGNER_DATA_DIR": f"data/bench-{build}-w{workers}",
                    },
                ),
                build,
                port,
            )
    try:
        wait_http(f"http://127.0.0.1:{hello_port}/signature", method="POST")
        targets = {"hello-world": (hello, f"http://127.0.0.1:{hello_port}")}
        for name, (process, build, port) in services.items():
            wait_http(f"http://127.0.0.1:{port}/health")
            check_service(port, args.urls, build)
            targets[name] = (process, f"http://127.0.0.1:{port}")
        for process, url in targets.values():  # warm up every server
            run_wrk("warmup", url, args.urls, 8, 1, process.pid)
        results: list[LoadResult] = []
        for concurrency in CONCURRENCY:
            for name, (process, url) in targets.items():
                results.append(
                    run_wrk(name, url, args.urls, concurrency, args.seconds, process.pid)
                )
                time.sleep(0.5)
    finally:
        stop(hello)
        for process, _, _ in services.values():
            stop(process)
    report(results)


def report(results: list[LoadResult]) -> None:
    """Print the table and the target checks; write the JSON."""
    by_key = {(r.target, r.concurrency): r for r in results}
    print(f"{'target':<14} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'p99 ms':>8} {'cpu us/req':>10} {'vs hello':>8}")  # fmt: skip
    rows = []
    for result in results:
        hello = by_key[("hello-world", result.concurrency)]
        ratio = result.rps / hello.rps if hello.rps else 0.0
        rows.append({**as_dict(result), "ratio_vs_hello": round(ratio, 3)})
        print(
            f"{result.target:<14} {result.concurrency:>4} {result.rps:>9.0f} "
            f"{result.p50_ms:>8.3f} {result.p90_ms:>8.3f} {result.p99_ms:>8.3f} "
            f"{result.server_cpu_us_per_request:>10.1f} {ratio:>8.2f}"
        )
    checks: dict[str, object] = {
        "no_errors": all(r["errors"] == 0 and r["non2xx"] == 0 for r in rows),
    }
    for name in sorted({r["target"] for r in rows} - {"hello-world"}):
        native = [r for r in rows if r["target"] == name]
        checks[name] = {
            "p50_ms_at_c1_le_1": next(r["p50_ms"] for r in native if r["concurrency"] == 1) <= 1,
            "throughput_ge_half_hello": {
                r["concurrency"]: r["ratio_vs_hello"] >= 0.5 for r in native
            },
        }
    print("checks:", json.dumps(checks))
    path = write_results("native", {"machine": machine(), "results": rows, "checks": checks})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

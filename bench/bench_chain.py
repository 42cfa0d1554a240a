"""Chain overhead: ``/signature`` through the chain vs the native provider called directly.

One server process (``bench/chain_server.py``) serves both routes, so the only difference
is the chain. wrk (one thread) alternates between them at concurrency 1, 8 and 32, three
rounds each, and the best round of each counts. Target (issue 5): the chain costs at most
5 % of throughput. Prints a table and writes ``bench/results/chain.json``.

    .venv/bin/python bench/bench_chain.py [--seconds 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import (
    DEFAULT_URLS,
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
ROUTES = {"chain": "/signature", "direct": "/signature-direct"}


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per route")
    parser.add_argument("--urls", type=Path, default=DEFAULT_URLS, help="URL workload file")
    args = parser.parse_args()
    require_wrk()
    port = free_port()
    server = start([sys.executable, "bench/chain_server.py", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_http(f"{base}/health")
        for path in ROUTES.values():
            run_wrk("warmup", base, args.urls, 8, 1, server.pid, path)
        for concurrency in CONCURRENCY:
            best: dict[str, dict[str, float]] = {}
            for _ in range(args.rounds):
                for name, path in ROUTES.items():
                    result = as_dict(
                        run_wrk(name, base, args.urls, concurrency, args.seconds, server.pid, path)
                    )
                    if result["errors"] or result["non2xx"]:
                        sys.exit(f"bench: errors on {path}: {result}")
                    if result["rps"] > best.get(name, {}).get("rps", 0):
                        best[name] = result
                    time.sleep(0.3)
            overhead = 1 - best["chain"]["rps"] / best["direct"]["rps"]
            rows.append({"concurrency": concurrency, **best, "overhead": round(overhead, 4)})
    finally:
        stop(server)
    print(f"{'conc':>4} {'direct req/s':>13} {'chain req/s':>12} {'overhead':>9}  cpu us/req d/c")
    for row in rows:
        direct, chain = row["direct"], row["chain"]
        print(
            f"{row['concurrency']:>4} {direct['rps']:>13.0f} {chain['rps']:>12.0f} "
            f"{row['overhead']:>8.1%}  {direct['server_cpu_us_per_request']:.0f}/"
            f"{chain['server_cpu_us_per_request']:.0f}"
        )
    checks = {str(row["concurrency"]): row["overhead"] <= 0.05 for row in rows}
    print("checks (overhead <= 5 %):", json.dumps(checks))
    path = write_results("chain", {"machine": machine(), "results": rows, "checks": checks})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

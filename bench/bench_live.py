"""Load benchmark: the LIVE route ``GET /webcast/fetch`` against a fake TikTok on loopback.

Two services in the same run, each pointed at the fake TikTok (``bench/live_tiktok.py``),
native provider, one worker: the ``direct`` transport with the default SDK build 1.0.0.417
(guest cookies, the player's socket query signed as a ``wss://`` URL, a protobuf answer in
prefix mode) and the ``fetch`` transport with 5.1.3 (guest cookies, TikTok's
``webcast/im/fetch/`` signed and called, its protobuf relayed). wrk (one thread) GETs
``/webcast/fetch`` as TikTokLive does, for one room and four user agents, at concurrency 1
and 8. Then the session manager's cookie visit: the latency of a request with a user agent
never seen before (a guest visit to ``/live`` first) against a warm one, and how many
visits the whole load cost. Prints a table and writes ``bench/results/live.json``.

Target (DESIGN.md): p50 <= 20 ms for ``direct`` at concurrency 1; concurrency 8 reported.

    .venv/bin/python bench/bench_live.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlencode

from common import (
    REPO,
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

CONCURRENCY = (1, 8)
ROOM_ID = "7123456789012345678"
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
USER_AGENTS = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME}",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_CHROME}",
    f"Mozilla/5.0 (X11; Linux x86_64) {_CHROME}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:150.0) Gecko/20100101 Firefox/150.0",
)
#: transport -> the SDK build it runs with.
TRANSPORTS = {"direct": "1.0.0.417", "fetch": "5.1.3"}
COLD_RUNS = 5


def fetch_path(user_agent: str) -> str:
    """``/webcast/fetch`` as TikTokLive 7.0.1 asks it."""
    query = {
        "client": "ttlive-python",
        "room_id": ROOM_ID,
        "user_agent": user_agent,
        "client_enter": "true",
        "platform": "web",
    }
    return "/webcast/fetch?" + urlencode(query)


def timed_get(url: str) -> float:
    """Milliseconds of one GET that must answer 200 with a protobuf body."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
        if response.status != 200 or not body:
            sys.exit(f"bench: {url} answered {response.status} without a body")
    return (time.perf_counter() - started) * 1000


def visits(fake: str) -> int:
    """The guest visits the fake TikTok has answered so far."""
    with urllib.request.urlopen(f"{fake}/__visits", timeout=5) as response:
        count: int = json.load(response)["visits"]
    return count


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    args = parser.parse_args()
    require_wrk()
    paths = REPO / "data" / "bench-live-paths.txt"
    paths.parent.mkdir(parents=True, exist_ok=True)
    paths.write_text("".join(fetch_path(ua) + "\n" for ua in USER_AGENTS))
    fake_process = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "live_tiktok.py")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    if fake_process.stdout is None:
        sys.exit("bench: the fake TikTok has no output to read its origin from")
    fake = fake_process.stdout.readline().strip()
    ws = fake.replace("http://", "ws://")
    services = {}
    for transport, build in TRANSPORTS.items():
        port = free_port()
        process = start(
            [sys.executable, "-m", "signer", "serve", "--port", str(port)],
            env={
                "SIGNER_PROVIDERS": "native",
                "SIGNER_SDK_VERSION": build,
                "SIGNER_LIVE_TRANSPORT": transport,
                "SIGNER_TIKTOK_WWW_URL": fake,
                "SIGNER_TIKTOK_WEBCAST_URL": fake,
                "SIGNER_TIKTOK_WS_URL": ws,
                "SIGNER_LOG_FORMAT": "json",
                "SIGNER_DATA_DIR": f"data/bench-live-{transport}",
            },
        )
        services[transport] = (process, f"http://127.0.0.1:{port}")
    results: list[LoadResult] = []
    cold: dict[str, dict[str, float]] = {}
    load_visits: dict[str, int] = {}
    try:
        for _, base in services.values():
            wait_http(f"{base}/health")
        for transport, (process, base) in services.items():
            # From a cold pool: the warm-up's guest visits count against the load's requests.
            before = visits(fake)
            timed_get(base + fetch_path(USER_AGENTS[0]))  # fail early
            run_wrk("warmup", base, paths, 8, 1, process.pid, path="GET")
            for concurrency in CONCURRENCY:
                result = run_wrk(
                    transport,
                    base,
                    paths,
                    concurrency,
                    args.seconds,
                    process.pid,
                    path="GET",
                )
                results.append(result)
                time.sleep(0.5)
            load_visits[transport] = visits(fake) - before
            cold[transport] = cold_and_warm(base, transport)
    finally:
        for process, _ in services.values():
            stop(process)
        fake_process.terminate()
        fake_process.wait(timeout=15)
    report(results, cold, load_visits)


def cold_and_warm(base: str, transport: str) -> dict[str, float]:
    """A new user agent's first request (a guest visit first) against a warm request."""
    cold = []
    warm = []
    for run in range(COLD_RUNS):
        user_agent = f"{USER_AGENTS[0]} bench-{transport}-{run}-{time.time_ns()}"
        cold.append(timed_get(base + fetch_path(user_agent)))
        warm.append(timed_get(base + fetch_path(user_agent)))
    return {
        "first_request_ms": round(statistics.median(cold), 3),
        "warm_request_ms": round(statistics.median(warm), 3),
        "visit_ms": round(statistics.median(cold) - statistics.median(warm), 3),
    }


def report(
    results: list[LoadResult], cold: dict[str, dict[str, float]], load_visits: dict[str, int]
) -> None:
    """Print the table and the target check; write the JSON."""
    print(f"{'transport':<10} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'p99 ms':>8} {'errors':>6} {'non2xx':>6} {'cpu us/req':>10}")  # fmt: skip
    rows = [as_dict(result) for result in results]
    for result in results:
        print(
            f"{result.target:<10} {result.concurrency:>4} {result.rps:>8.0f} "
            f"{result.p50_ms:>8.3f} {result.p90_ms:>8.3f} {result.p99_ms:>8.3f} "
            f"{result.errors:>6} {result.non2xx:>6} {result.server_cpu_us_per_request:>10.1f}"
        )
    amortised = {}
    for transport, figures in cold.items():
        requests = sum(r.requests for r in results if r.target == transport)
        count = load_visits[transport]
        per_request = figures["visit_ms"] * count / max(requests, 1)
        amortised[transport] = {
            **figures,
            "visits_from_cold": count,
            "requests_during_load": requests,
            "visit_ms_per_request": round(per_request, 5),
        }
        print(
            f"{transport}: first request of a new user agent {figures['first_request_ms']:.2f} ms "
            f"(a guest visit, about {figures['visit_ms']:.2f} ms) against "
            f"{figures['warm_request_ms']:.2f} ms warm; {count} visits from a cold pool for "
            f"{requests} requests = {per_request * 1000:.2f} us a request amortised"
        )
    direct_c1 = next(r for r in results if r.target == "direct" and r.concurrency == 1)
    checks = {
        "no_errors": all(r["errors"] == 0 and r["non2xx"] == 0 for r in rows),
        "direct_p50_ms_at_c1_le_20": direct_c1.p50_ms <= 20,
    }
    print("checks:", json.dumps(checks))
    path = write_results(
        "live",
        {"machine": machine(), "results": rows, "session_visits": amortised, "checks": checks},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

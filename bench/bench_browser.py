"""Load benchmark: ``POST /signature`` on the browser path vs SignTok and the native path.

Three servers in the same run, on loopback, under the same wrk load (one wrk thread,
concurrency 1, 8 and 32, the URL workload of ``shared/bench/urls.txt``): SignTok (npm
``signtok``, installed outside the repo by ``bench/peers.py``), our service with
``SIGNER_PROVIDERS=browser`` and ``SIGNER_BROWSER_PAGES=2``, and our service with
``SIGNER_PROVIDERS=native``. Also measures the browser service's time from process start
to first signature (median of 3 starts) and its memory as PSS summed over the whole
process tree (Python, the Playwright driver, every Chromium process) after start-up and
after the load (the larger counts).
Prints a table and the target checks; writes ``bench/results/browser.json``
(``browser-as-PROVIDER.json`` with ``--provider-under-test``).

Targets (DESIGN.md): p50 <= 10 ms at concurrency 1; >= 150 signatures/s at concurrency 8;
start to first signature <= 3 s; <= 600 MiB PSS with 2 pages.

    .venv/bin/python bench/bench_browser.py [--seconds 5] [--pages 2] [--no-signtok]
    .venv/bin/python bench/bench_browser.py --provider-under-test native   # harness check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_URLS,
    REPO,
    LoadResult,
    as_dict,
    busy_seconds,
    cpu_seconds,
    free_port,
    machine,
    memory_by_process,
    own_cpu_seconds,
    pids_named,
    require_wrk,
    run_wrk,
    sign_once,
    start,
    stop_tree,
    time_to_first_signature,
    wait_http,
    write_results,
)
from peers import (
    DEFAULT_CACHE,
    SIGNTOK_VERSION,
    first_url,
    install_signtok,
    start_signtok,
)

CONCURRENCY = (1, 8, 32)
P50_MS_AT_C1 = 10.0
RPS_AT_C8 = 150.0
START_S = 3.0
PSS_MIB = 600.0
READY_TIMEOUT_S = 90.0
FOREIGN_CPU_SHARE = 0.05  # beyond this, something else competed for the cores


@dataclass
class Target:
    """One server under load: its name, process and base URL."""

    name: str
    process: subprocess.Popen[bytes]
    url: str


def service_command(port: int) -> list[str]:
    """Our service on one loopback port."""
    return [sys.executable, "-m", "signer", "serve", "--host", "127.0.0.1", "--port", str(port)]


def sdk_dir() -> str:
    """Where the services read TikTok's SDK files: the configured place, else the default's."""
    return os.environ.get("SIGNER_SDK_CACHE_DIR", "data/sdk")  # relative to the repo


def ensure_sdk() -> None:
    """Fetch TikTok's pinned SDK files for the browser provider (quick when they are there)."""
    command = [sys.executable, "-m", "signer", "sdk", "fetch", "--quiet"]
    env = {**os.environ, "SIGNER_SDK_CACHE_DIR": sdk_dir()}
    if subprocess.run(command, cwd=REPO, env=env, check=False, timeout=300).returncode:
        sys.exit("bench: `tiktok-signer sdk fetch` failed; the browser provider needs the SDK")


def service_env(provider: str, pages: int, data_dir: str) -> dict[str, str]:
    """The environment of one of our services: one worker, one provider, no fallback.

    Each gets a fresh data directory (a cold start) but shares the fetched SDK files.
    """
    return {
        "SIGNER_SDK_CACHE_DIR": sdk_dir(),
        "SIGNER_PROVIDERS": provider,
        "SIGNER_BROWSER_PAGES": str(pages),
        "SIGNER_WORKERS": "1",
        "SIGNER_LOG_FORMAT": "json",
        "SIGNER_DATA_DIR": data_dir,
    }


def check_service(target: Target, provider: str, url_to_sign: str) -> None:
    """One real signature before the load: fail early if the service is not signing."""
    data = sign_once(target.url, url_to_sign, timeout_s=30)
    if not data.get("x-bogus") or data.get("provider") != provider:
        sys.exit(f"bench: {target.name} did not sign with {provider}: {data}")


def measure_start(
    provider: str, pages: int, url_to_sign: str, runs: int, data_dirs: Path
) -> list[float]:
    """Seconds from process start to first signature: ``runs`` cold starts, one at a time."""
    seconds = []
    for run in range(runs):
        port = free_port()
        try:
            elapsed = time_to_first_signature(
                service_command(port),
                service_env(provider, pages, str(data_dirs / f"start-{run}")),
                url_to_sign,
                service_url=f"http://127.0.0.1:{port}",
                provider=provider,
                timeout_s=READY_TIMEOUT_S,
            )
        except (RuntimeError, TimeoutError) as error:
            sys.exit(f"bench: the {provider} service did not sign after starting: {error}")
        seconds.append(round(elapsed, 3))
        time.sleep(0.5)
    return seconds


def memory(target: Target) -> dict[str, Any]:
    """PSS and RSS (MiB) summed over a server's process tree, and each process's share."""
    rows = memory_by_process(target.process.pid)
    return {
        "pss_mib": round(sum(row["pss_kib"] for row in rows) / 1024, 1),
        "rss_mib": round(sum(row["rss_kib"] for row in rows) / 1024, 1),
        "processes": rows,
    }


def memory_snapshot(targets: list[Target]) -> dict[str, Any]:
    """Each server's memory, and how many Chromium processes outside them run meanwhile.

    Other Chromium processes (a test suite's) share Chromium's pages and so lower the PSS
    measured here: a figure taken beside them understates the footprint.
    """
    snapshot: dict[str, Any] = {target.name: memory(target) for target in targets}
    ours = {row["pid"] for figures in snapshot.values() for row in figures["processes"]}
    snapshot["other_chromium_processes"] = len(pids_named("chromium") - ours)
    return snapshot


def breakdown(processes: list[dict[str, Any]]) -> str:
    """PSS (MiB) per kind of process: ``python 52, node 117, renderer 2x 49, ...``."""
    groups: dict[str, list[int]] = {}
    for row in processes:
        groups.setdefault(row["type"] or row["name"], []).append(row["pss_kib"])
    return ", ".join(
        f"{kind} {f'{len(kib)}x ' if len(kib) > 1 else ''}{sum(kib) / 1024:.0f}"
        for kind, kib in groups.items()
    )


def start_targets(
    args: argparse.Namespace, under_test: str, url_to_sign: str, data_dirs: Path
) -> list[Target]:
    """Start SignTok and our two services; return them once each has signed once."""
    targets: list[Target] = []
    ours = {under_test: args.provider_under_test, "native": "native"}
    try:
        if args.signtok:
            peer = start_signtok(url_to_sign, install_signtok(cache=args.cache))
            targets.append(Target(peer.name, peer.process, peer.url.removesuffix("/signature")))
        for name, provider in ours.items():
            port = free_port()
            process = start(
                service_command(port),
                env=service_env(provider, args.pages, str(data_dirs / name)),
            )
            targets.append(Target(name, process, f"http://127.0.0.1:{port}"))
        for target in targets[-len(ours) :]:
            wait_http(f"{target.url}/health", timeout_s=READY_TIMEOUT_S)
            check_service(target, ours[target.name], url_to_sign)
    except (urllib.error.URLError, ConnectionError, TimeoutError, RuntimeError) as error:
        stop_targets(targets)
        sys.exit(f"bench: a server did not start: {error}")
    except BaseException:
        stop_targets(targets)
        raise
    return targets


def stop_targets(targets: list[Target]) -> None:
    """Stop every server and whatever it started."""
    for target in targets:
        stop_tree(target.process)


def load(
    targets: list[Target], urls_file: Path, seconds: float
) -> tuple[list[LoadResult], dict[str, float]]:
    """Warm every server up, then one wrk run per concurrency and server, interleaved.

    Also returns the CPU time that processes other than ours (servers, wrk, this script)
    took meanwhile: anything else competing for the cores skews the figures.
    """
    for target in targets:
        run_wrk("warmup", target.url, urls_file, 8, 2, target.process.pid)
    started, busy, own = time.monotonic(), busy_seconds(), own_cpu_seconds()
    servers = sum(cpu_seconds(target.process.pid) for target in targets)
    results = []
    for concurrency in CONCURRENCY:
        for target in targets:
            results.append(
                run_wrk(
                    target.name, target.url, urls_file, concurrency, seconds, target.process.pid
                )
            )
            time.sleep(0.5)
    servers = sum(cpu_seconds(target.process.pid) for target in targets) - servers
    other = busy_seconds() - busy - (own_cpu_seconds() - own) - servers
    elapsed = time.monotonic() - started
    return results, {
        "seconds": round(max(other, 0.0), 2),
        "share_of_machine": round(max(other, 0.0) / (elapsed * (os.cpu_count() or 1)), 3),
    }


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--urls", type=Path, default=DEFAULT_URLS, help="URL workload file")
    parser.add_argument("--pages", type=int, default=2, help="SIGNER_BROWSER_PAGES")
    parser.add_argument("--start-runs", type=int, default=3, help="starts to take the median of")
    parser.add_argument(
        "--provider-under-test",
        default="browser",
        help="provider measured against the browser targets (native: check the harness)",
    )
    parser.add_argument(
        "--no-signtok", dest="signtok", action="store_false", help="leave SignTok out"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="SignTok install cache")
    args = parser.parse_args()
    require_wrk()
    url_to_sign = first_url(args.urls)
    provider = args.provider_under_test
    under_test = provider if provider != "native" else "native-as-browser"
    if provider == "browser":
        ensure_sdk()
    with tempfile.TemporaryDirectory(prefix="signer-bench-") as scratch:
        data_dirs = Path(scratch)  # each service's SIGNER_DATA_DIR: fresh, and gone afterwards
        start_seconds = measure_start(provider, args.pages, url_to_sign, args.start_runs, data_dirs)
        targets = start_targets(args, under_test, url_to_sign, data_dirs)
        try:
            memory_idle = memory_snapshot(targets)
            results, foreign = load(targets, args.urls, args.seconds)
            memory_loaded = memory_snapshot(targets)
        finally:
            stop_targets(targets)
    report(
        args,
        under_test,
        results,
        start_seconds,
        {"after_start": memory_idle, "after_load": memory_loaded},
        foreign,
    )


def noise_warnings(memory_at: dict[str, dict[str, Any]], foreign: dict[str, float]) -> list[str]:
    """What made this run's figures less trustworthy: other load, other Chromium processes."""
    warnings = []
    if foreign["share_of_machine"] > FOREIGN_CPU_SHARE:
        warnings.append(
            f"other processes took {foreign['share_of_machine']:.0%} of the machine's CPU "
            "during the load: throughput and latency are understated"
        )
    others = max(snapshot["other_chromium_processes"] for snapshot in memory_at.values())
    if others:
        warnings.append(
            f"{others} other Chromium processes ran meanwhile: they share Chromium's pages, "
            "so the PSS figures are understated"
        )
    return warnings


def _verdict(ok: bool) -> str:  # noqa: FBT001 - a plain predicate
    return "PASS" if ok else "MISS"


def checks_for(
    rows: list[dict[str, Any]], under_test: str, start_s: float, pss: float
) -> dict[str, dict[str, Any]]:
    """Each target of the browser path: the figure measured, the bound, PASS or MISS."""
    ours = {row["concurrency"]: row for row in rows if row["target"] == under_test}
    figures = {
        "p50_ms_at_c1": (ours[1]["p50_ms"], "<=", P50_MS_AT_C1),
        "rps_at_c8": (ours[8]["rps"], ">=", RPS_AT_C8),
        "start_to_first_signature_s": (start_s, "<=", START_S),
        "pss_mib_after_start_or_load": (pss, "<=", PSS_MIB),
        "errors_and_non2xx": (sum(r["errors"] + r["non2xx"] for r in ours.values()), "<=", 0),
    }
    return {
        name: {
            "measured": value,
            "target": f"{op} {bound:g}",
            "verdict": _verdict(value <= bound if op == "<=" else value >= bound),
        }
        for name, (value, op, bound) in figures.items()
    }


def report(
    args: argparse.Namespace,
    under_test: str,
    results: list[LoadResult],
    start_seconds: list[float],
    memory_at: dict[str, dict[str, Any]],
    foreign: dict[str, float],
) -> None:
    """Print the table, the start time, the memory and the target checks; write the JSON."""
    by_key = {(r.target, r.concurrency): r for r in results}
    print(f"{'target':<18} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'non2xx':>6} {'cpu us/req':>10} {'vs signtok':>10}")  # fmt: skip
    rows = []
    for result in results:
        signtok = by_key.get(("signtok", result.concurrency))
        ratio = result.rps / signtok.rps if signtok and signtok.rps else None
        rows.append({**as_dict(result), "ratio_vs_signtok": ratio and round(ratio, 2)})
        print(
            f"{result.target:<18} {result.concurrency:>4} {result.rps:>8.1f} "
            f"{result.p50_ms:>8.3f} {result.p90_ms:>8.3f} {result.p99_ms:>8.3f} "
            f"{result.errors:>6} {result.non2xx:>6} {result.server_cpu_us_per_request:>10.0f} "
            f"{'-' if ratio is None else f'{ratio:.1f}x':>10}"
        )
    start_s = statistics.median(start_seconds)
    print(f"\n{under_test}: process start to first signature {start_s:.2f} s "
          f"(median of {', '.join(f'{s:.2f}' for s in start_seconds)})")  # fmt: skip
    for moment, snapshot in memory_at.items():
        by_target = {k: v for k, v in snapshot.items() if k != "other_chromium_processes"}
        for name, figures in by_target.items():
            count = len(figures["processes"])
            print(f"{name} memory {moment}: PSS {figures['pss_mib']:.0f} MiB, "
                  f"RSS {figures['rss_mib']:.0f} MiB, {count} processes")  # fmt: skip
    print(f"{under_test} PSS after load by process: "
          f"{breakdown(memory_at['after_load'][under_test]['processes'])}")  # fmt: skip
    pss = max(snapshot[under_test]["pss_mib"] for snapshot in memory_at.values())
    checks = checks_for(rows, under_test, start_s, pss)
    warnings = noise_warnings(memory_at, foreign)
    for warning in warnings:
        print(f"WARNING: {warning}")
    print()
    for name, check in checks.items():
        print(f"{check['verdict']:<4} {under_test} {name}: {check['measured']} "
              f"(target {check['target']})")  # fmt: skip
    payload = {
        "machine": machine(),
        "provider_under_test": args.provider_under_test,
        "browser_pages": args.pages,
        "signtok": {
            "version": SIGNTOK_VERSION,
            "note": "the registry's newest; the peers table was measured on 1.3.1",
        }
        if args.signtok
        else None,
        "results": rows,
        "start_to_first_signature_s": {"runs": start_seconds, "median": start_s},
        "memory": memory_at,
        "checks": checks,
        "other_processes_cpu_during_load": foreign,
        "warnings": warnings,
    }
    # a harness check with another provider must not overwrite the browser's figures
    provider = args.provider_under_test
    name = "browser" if provider == "browser" else f"browser-as-{provider}"
    path = write_results(name, payload)
    print(f"wrote {path}")
    print("checks:", json.dumps({name: check["verdict"] for name, check in checks.items()}))


if __name__ == "__main__":
    main()

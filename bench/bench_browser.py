"""Load benchmark: ``POST /signature`` on the browser path vs SignTok and the native path.

Servers in the same run, on loopback, under the same wrk load (one wrk thread,
concurrency 1, 8 and 32, the URL workload of ``shared/bench/urls.txt``): SignTok (npm
``signtok``, installed outside the repo by ``bench/peers.py``), our service with
``SIGNER_PROVIDERS=browser`` and ``SIGNER_BROWSER_PAGES=2`` running TikTok's 2026 SDK
1.0.0.417 and, beside it, the 2025 build 5.1.3 (``SIGNER_SDK_VERSION``), and our service
with ``SIGNER_PROVIDERS=native``. Also measures the browser service's time from process
start to first signature (median of 3 starts) and its memory as PSS summed over the whole
process tree (Python, the Playwright driver, every Chromium process) after start-up and
after the load (the larger counts); and, after the load, each build's **in-page limit**:
signatures per second of one page signing the workload in a loop inside the page (no
round trip, no queue, no check), which the pool's throughput is compared with.
Prints a table and the target checks; writes ``bench/results/browser.json``
(``browser-as-PROVIDER.json`` with ``--provider-under-test``).

Targets (DESIGN.md, issue 18): p50 <= 10 ms at concurrency 1; >= 8x SignTok's throughput
at concurrency 8 and 32; >= 150 signatures/s at concurrency 8; start to first signature
<= 3 s; <= 600 MiB PSS with 2 pages.

    .venv/bin/python bench/bench_browser.py [--seconds 5] [--pages 2] [--no-signtok]
    .venv/bin/python bench/bench_browser.py --provider-under-test native   # harness check
"""

from __future__ import annotations

import argparse
import asyncio
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
#: The SDK builds compared: the default (2026) first, what its X-Bogus starts with.
BUILDS = {"1.0.0.417": "1", "5.1.3": "DFSz"}
DEFAULT_BUILD = "1.0.0.417"
P50_MS_AT_C1 = 10.0
RPS_AT_C8 = 150.0
SIGNTOK_RATIO = 8.0
#: Signatures of the in-page loop (after a warm-up of a tenth of it).
IN_PAGE_SIGNATURES = 2000
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


def service_env(
    provider: str, pages: int, data_dir: str, build: str = DEFAULT_BUILD
) -> dict[str, str]:
    """The environment of one of our services: one worker, one provider, no fallback.

    Each gets a fresh data directory (a cold start) but shares the fetched SDK files.
    """
    return {
        "SIGNER_SDK_VERSION": build,
        "SIGNER_SDK_CACHE_DIR": sdk_dir(),
        "SIGNER_PROVIDERS": provider,
        "SIGNER_BROWSER_PAGES": str(pages),
        "SIGNER_WORKERS": "1",
        "SIGNER_LOG_FORMAT": "json",
        "SIGNER_DATA_DIR": data_dir,
    }


def check_service(target: Target, provider: str, build: str | None, url_to_sign: str) -> None:
    """One real signature before the load: fail early if the service is not signing.

    ``build``: the SDK build its tokens must name (None: whichever, for the reference).
    """
    data = sign_once(target.url, url_to_sign, timeout_s=30)
    signed = data.get("x-bogus") and data.get("x-gnarly")
    if build is not None:
        signed = signed and str(data["x-bogus"]).startswith(BUILDS[build])
        signed = signed and data.get("sdk_version") == build
    if not signed or data.get("provider") != provider:
        sys.exit(f"bench: {target.name} did not sign with {provider} ({build}): {data}")


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
                service_env(provider, pages, str(data_dirs / f"start-{run}"), DEFAULT_BUILD),
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
    # name: (provider, build); the provider under test runs each build, native the default.
    ours: dict[str, tuple[str, str | None]] = {
        f"{under_test}-{build}": (args.provider_under_test, build) for build in BUILDS
    }
    ours["native"] = ("native", None)  # the reference: the default build's native path
    try:
        if args.signtok:
            peer = start_signtok(url_to_sign, install_signtok(cache=args.cache))
            targets.append(Target(peer.name, peer.process, peer.url.removesuffix("/signature")))
        for name, (provider, build) in ours.items():
            port = free_port()
            process = start(
                service_command(port),
                env=service_env(
                    provider, args.pages, str(data_dirs / name), build or DEFAULT_BUILD
                ),
            )
            targets.append(Target(name, process, f"http://127.0.0.1:{port}"))
        for target in targets[-len(ours) :]:
            wait_http(f"{target.url}/health", timeout_s=READY_TIMEOUT_S)
            check_service(target, *ours[target.name], url_to_sign)
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


def signed_workload(urls_file: Path, scratch: Path) -> Path:
    """The workload without the URLs the default build does not sign (``webcast/im/fetch``).

    A 2026 page declines them (TikTok's own pages do not sign them): every server gets the
    same workload, so the comparison stays one of like with like.
    """
    sys.path.insert(0, str(REPO))
    from providers import profiles  # noqa: PLC0415 - the repo, found above

    unsigned = profiles.get(DEFAULT_BUILD).unsigned_paths
    lines = [
        line
        for line in urls_file.read_text(encoding="utf-8").splitlines()
        if not any(path in line for path in unsigned)
    ]
    path = scratch / "urls-signed.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def in_page_limits(urls_file: Path, pages: int, count: int) -> dict[str, dict[str, float]]:
    """Each build's in-page limit: one page (of a pool as the service runs it) in a loop.

    Signatures per second of one page signing the workload in a loop inside the page, and
    that times ``pages``: the most a pool of ``pages`` pages could sign with a core each.
    """
    sys.path.insert(0, str(REPO))
    from providers.browser import BrowserProvider  # noqa: PLC0415 - the repo, found above
    from providers.typing import NoEvents, SignRequest  # noqa: PLC0415
    from signer.settings import Settings  # noqa: PLC0415
    from signer.wiring import provider_context  # noqa: PLC0415

    urls = [line for line in urls_file.read_text().splitlines() if line.startswith("http")]
    requests = [SignRequest(url=url) for url in urls]

    async def measure(build: str) -> float:
        settings = Settings(sdk_version=build, sdk_cache_dir=REPO / sdk_dir(), browser_pages=1)
        provider = BrowserProvider.from_context(provider_context(settings, NoEvents()))
        await provider.start()
        try:
            await provider.in_page_rate(requests, max(count // 10, 1))
            return await provider.in_page_rate(requests, count)
        finally:
            await provider.aclose()

    limits = {}
    for build in BUILDS:
        per_page = asyncio.run(measure(build))
        limits[build] = {"per_page": round(per_page, 1), "pool": round(per_page * pages, 1)}
    return limits


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--urls", type=Path, default=DEFAULT_URLS, help="URL workload file")
    parser.add_argument("--pages", type=int, default=2, help="SIGNER_BROWSER_PAGES")
    parser.add_argument("--start-runs", type=int, default=3, help="starts to take the median of")
    parser.add_argument(
        "--in-page", type=int, default=IN_PAGE_SIGNATURES, help="signatures of the in-page loop"
    )
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
        args.urls = signed_workload(args.urls, data_dirs)
        start_seconds = measure_start(provider, args.pages, url_to_sign, args.start_runs, data_dirs)
        targets = start_targets(args, under_test, url_to_sign, data_dirs)
        try:
            memory_idle = memory_snapshot(targets)
            results, foreign = load(targets, args.urls, args.seconds)
            memory_loaded = memory_snapshot(targets)
        finally:
            stop_targets(targets)
        # After the load, alone on the machine: the most one page can sign.
        limits = (
            in_page_limits(args.urls, args.pages, args.in_page) if provider == "browser" else {}
        )
    report(
        args,
        under_test,
        results,
        start_seconds,
        {"after_start": memory_idle, "after_load": memory_loaded},
        foreign,
        limits,
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


def _check(value: float, op: str, bound: float) -> dict[str, Any]:
    return {
        "measured": value,
        "target": f"{op} {bound:g}",
        "verdict": _verdict(value <= bound if op == "<=" else value >= bound),
    }


def checks_for(
    rows: list[dict[str, Any]], target: str, start_s: float | None, pss: float | None
) -> dict[str, dict[str, Any]]:
    """Each target of one browser server: the figure measured, the bound, PASS or MISS.

    Start time and memory are checked for the default build's server only (``None``).
    """
    ours = {row["concurrency"]: row for row in rows if row["target"] == target}
    figures: dict[str, tuple[float, str, float]] = {
        "p50_ms_at_c1": (ours[1]["p50_ms"], "<=", P50_MS_AT_C1),
        "rps_at_c8": (ours[8]["rps"], ">=", RPS_AT_C8),
        "errors_and_non2xx": (sum(r["errors"] + r["non2xx"] for r in ours.values()), "<=", 0),
    }
    for concurrency in (8, 32):
        ratio = ours[concurrency]["ratio_vs_signtok"]
        if ratio is not None:
            figures[f"vs_signtok_at_c{concurrency}"] = (ratio, ">=", SIGNTOK_RATIO)
    if start_s is not None:
        figures["start_to_first_signature_s"] = (start_s, "<=", START_S)
    if pss is not None:
        figures["pss_mib_after_start_or_load"] = (pss, "<=", PSS_MIB)
    return {name: _check(*figure) for name, figure in figures.items()}


def limit_lines(
    rows: list[dict[str, Any]], under_test: str, limits: dict[str, dict[str, float]], pages: int
) -> dict[str, dict[str, Any]]:
    """How close each build's pool comes to its in-page limit, at concurrency 8 and 32."""
    out: dict[str, dict[str, Any]] = {}
    for build, limit in limits.items():
        ours = {
            row["concurrency"]: row["rps"]
            for row in rows
            if row["target"] == f"{under_test}-{build}"
        }
        best = max(ours.get(8, 0.0), ours.get(32, 0.0))
        out[build] = {
            **limit,
            "pool_best_rps": best,
            "share_of_one_page_limit": round(best / limit["per_page"], 2),
            f"share_of_{pages}_pages_limit": round(best / limit["pool"], 2),
        }
        print(
            f"{under_test}-{build} in-page limit: {limit['per_page']:.0f} signatures/s per page "
            f"({limit['pool']:.0f} for {pages} pages); the pool's best {best:.0f} req/s is "
            f"{best / limit['per_page']:.0%} of one page's limit, "
            f"{best / limit['pool']:.0%} of {pages} pages'"
        )
    return out


def report(
    args: argparse.Namespace,
    under_test: str,
    results: list[LoadResult],
    start_seconds: list[float],
    memory_at: dict[str, dict[str, Any]],
    foreign: dict[str, float],
    limits: dict[str, dict[str, float]],
) -> None:
    """Print the table, the start time, the memory and the target checks; write the JSON."""
    by_key = {(r.target, r.concurrency): r for r in results}
    print(f"{'target':<20} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'non2xx':>6} {'cpu us/req':>10} {'vs signtok':>10}")  # fmt: skip
    rows = []
    for result in results:
        signtok = by_key.get(("signtok", result.concurrency))
        ratio = result.rps / signtok.rps if signtok and signtok.rps else None
        rows.append({**as_dict(result), "ratio_vs_signtok": ratio and round(ratio, 2)})
        print(
            f"{result.target:<20} {result.concurrency:>4} {result.rps:>8.1f} "
            f"{result.p50_ms:>8.3f} {result.p90_ms:>8.3f} {result.p99_ms:>8.3f} "
            f"{result.errors:>6} {result.non2xx:>6} {result.server_cpu_us_per_request:>10.0f} "
            f"{'-' if ratio is None else f'{ratio:.1f}x':>10}"
        )
    main_target = f"{under_test}-{DEFAULT_BUILD}"
    start_s = statistics.median(start_seconds)
    print(f"\n{main_target}: process start to first signature {start_s:.2f} s "
          f"(median of {', '.join(f'{s:.2f}' for s in start_seconds)})")  # fmt: skip
    for moment, snapshot in memory_at.items():
        by_target = {k: v for k, v in snapshot.items() if k != "other_chromium_processes"}
        for name, figures in by_target.items():
            count = len(figures["processes"])
            print(f"{name} memory {moment}: PSS {figures['pss_mib']:.0f} MiB, "
                  f"RSS {figures['rss_mib']:.0f} MiB, {count} processes")  # fmt: skip
    print(f"{main_target} PSS after load by process: "
          f"{breakdown(memory_at['after_load'][main_target]['processes'])}")  # fmt: skip
    pss = max(snapshot[main_target]["pss_mib"] for snapshot in memory_at.values())
    in_page = limit_lines(rows, under_test, limits, args.pages)
    checks = {
        f"{under_test}-{build} {name}": check
        for build in BUILDS
        for name, check in checks_for(
            rows,
            f"{under_test}-{build}",
            start_s if build == DEFAULT_BUILD else None,
            pss if build == DEFAULT_BUILD else None,
        ).items()
    }
    warnings = noise_warnings(memory_at, foreign)
    for warning in warnings:
        print(f"WARNING: {warning}")
    print()
    for name, check in checks.items():
        print(f"{check['verdict']:<4} {name}: {check['measured']} (target {check['target']})")
    payload = {
        "machine": machine(),
        "provider_under_test": args.provider_under_test,
        "builds": list(BUILDS),
        "browser_pages": args.pages,
        "signtok": {
            "version": SIGNTOK_VERSION,
            "note": "the registry's newest; the peers table was measured on 1.3.1",
        }
        if args.signtok
        else None,
        "results": rows,
        "in_page_limit": in_page,
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

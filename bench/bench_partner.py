"""Partner routes: Shop signing and external_data under wrk, webhooks through the outbox.

All in one run, on loopback. First wrk (one thread, concurrency 1, 8 and 32) POSTs Shop sign
requests (``/partner/shop/sign``: the integration read from the store, the HMAC) and
Business ``external_data`` requests to the service, and the same load to an aiohttp
hello-world as the baseline. Then webhooks: ``--events`` signed TikTok Shop webhooks are
POSTed at concurrency 16 to ``/webhooks/shop/{id}`` with a CloudEvents sink listening
(TikTok's answer latency; each event's time from TikTok's 200 to the sink), then the sink
goes down, ``--down-events`` more arrive, the sink comes back on the same port, and the time
until every queued event is delivered is measured. Every event must reach the sink exactly
once. Prints a table and writes ``bench/results/partner.json``.

    .venv/bin/python bench/bench_partner.py [--seconds 4] [--events 2000] [--down-events 500]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import shutil
import statistics
import sys
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

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

if TYPE_CHECKING:
    from pathlib import Path

CONCURRENCY = (1, 8, 32)
ADMIN_KEY = "bench-admin-key-0123456789"
APP_KEY = "bench-app-key"
APP_SECRET = "bench-app-secret"  # noqa: S105 - a throwaway key for the run
DATA_DIR = REPO / "data" / "bench-partner"
SINK_PATH = "/events"


def _post_json(url: str, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def register(base: str) -> None:
    """Create the shop and business integrations the load uses."""
    admin = {"X-Admin-Key": ADMIN_KEY}
    for kind in ("shop", "business"):
        _post_json(
            f"{base}/admin/partner/integrations",
            {"id": f"bench-{kind}", "kind": kind, "app_key": APP_KEY, "app_secret": APP_SECRET},
            admin,
        )


def bodies_file() -> Path:
    """The JSON bodies wrk POSTs, one a line (the routes read JSON whatever the type)."""
    lines = [
        json.dumps(
            {
                "integration": "bench-shop",
                "method": "POST" if n % 2 else "GET",
                "path": f"/order/202309/orders/{7000 + n}",
                "query": {"page_size": str(n % 50 + 1), "sort_field": "create_time"},
                "content_type": "application/json",
                **({"body": json.dumps({"order_status": "UNPAID", "n": n})} if n % 2 else {}),
            }
        )
        for n in range(64)
    ]
    path = DATA_DIR / "shop-sign.txt"
    path.write_text("\n".join(lines) + "\n")
    business = DATA_DIR / "external-data.txt"
    business.write_text(
        "\n".join(
            json.dumps(
                {
                    "integration": "bench-business",
                    "fields": {
                        "version": "1.0",
                        "locale": "en",
                        "business_platform": "BENCH",
                        "external_business_id": f"shop-{n:04d}",
                    },
                }
            )
            for n in range(64)
        )
        + "\n"
    )
    return DATA_DIR


def wrk_phase(
    base: str, hello_url: str, service_pid: int, hello_pid: int, seconds: float
) -> list[dict[str, Any]]:
    """Shop sign and external_data vs hello-world, each concurrency."""
    directory = bodies_file()
    targets = {
        "hello-world": (hello_url, directory / "shop-sign.txt", hello_pid, "/signature"),
        "shop-sign": (base, directory / "shop-sign.txt", service_pid, "/partner/shop/sign"),
        "external-data": (
            base,
            directory / "external-data.txt",
            service_pid,
            "/partner/business/external-data",
        ),
    }
    for url, bodies, pid, path in targets.values():
        run_wrk("warmup", url, bodies, 8, 1, pid, path)
    results: list[LoadResult] = []
    for concurrency in CONCURRENCY:
        for name, (url, bodies, pid, path) in targets.items():
            results.append(run_wrk(name, url, bodies, concurrency, seconds, pid, path))
            time.sleep(0.3)
    by_key = {(r.target, r.concurrency): r for r in results}
    rows = []
    for result in results:
        hello = by_key[("hello-world", result.concurrency)]
        rows.append({**as_dict(result), "ratio_vs_hello": round(result.rps / hello.rps, 3)})
    return rows


class Sink:
    """A CloudEvents sink in this process: records each event id and when it arrived."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrivals: dict[str, list[float]] = {}
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        self.arrivals.setdefault(event["id"], []).append(time.perf_counter())
        return web.Response(status=202)

    async def up(self) -> None:
        """Listen (again) on the same port."""
        app = web.Application()
        app.router.add_post(SINK_PATH, self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        """Stop listening: deliveries are refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def webhook(n: int, run: str) -> tuple[bytes, str]:
    """A TikTok Shop webhook and its Authorization header."""
    body = json.dumps(
        {
            "type": 1,
            "tts_notification_id": f"{run}-{n}",
            "shop_id": "7494049642642441621",
            "timestamp": int(time.time()),
            "data": {"order_id": str(576461413038785752 + n), "order_status": "AWAITING_SHIPMENT"},
        },
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(APP_SECRET.encode(), APP_KEY.encode() + body, hashlib.sha256).hexdigest()
    return body, signature


async def send_webhooks(base: str, count: int, run: str, concurrency: int = 16) -> dict[str, float]:
    """POST ``count`` webhooks; their ids and when TikTok's 200 came back."""
    acked: dict[str, float] = {}
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body, signature = webhook(n, run)
            started = time.perf_counter()
            async with session.post(
                f"{base}/webhooks/shop/bench-shop",
                data=body,
                headers={"Authorization": signature, "Content-Type": "application/json"},
            ) as response:
                await response.read()
                if response.status != 200:
                    sys.exit(f"bench: webhook answered {response.status}")
            now = time.perf_counter()
            latencies.append(now - started)
            acked[f"{run}-{n}"] = now

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    acked["__p50_ack_ms"] = statistics.median(latencies) * 1000
    acked["__p99_ack_ms"] = statistics.quantiles(latencies, n=100)[98] * 1000
    return acked


async def until_delivered(sink: Sink, ids: list[str], limit_s: float) -> float:
    """Seconds until every id reached the sink (exit when ``limit_s`` passes first)."""
    started = time.perf_counter()
    while not all(event_id in sink.arrivals for event_id in ids):
        if time.perf_counter() - started > limit_s:
            missing = sum(event_id not in sink.arrivals for event_id in ids)
            sys.exit(f"bench: {missing} events not delivered within {limit_s:g} s")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def webhook_phase(base: str, sink: Sink, events: int, down_events: int) -> dict[str, Any]:
    """Webhooks with the sink up, then down and back; every event exactly once."""
    await sink.up()
    started = time.perf_counter()
    acked = await send_webhooks(base, events, "up")
    ingest_s = time.perf_counter() - started
    p50_ack, p99_ack = acked.pop("__p50_ack_ms"), acked.pop("__p99_ack_ms")
    await until_delivered(sink, list(acked), 60)
    delays = sorted(sink.arrivals[i][0] - acked[i] for i in acked)
    await sink.down()
    down = await send_webhooks(base, down_events, "down")
    down.pop("__p50_ack_ms"), down.pop("__p99_ack_ms")
    await asyncio.sleep(1.0)  # deliveries fail meanwhile and back off
    await sink.up()
    drain_s = await until_delivered(sink, list(down), 120)
    await asyncio.sleep(1.0)  # anything delivered twice would arrive now
    await sink.down()
    duplicates = sum(len(times) > 1 for times in sink.arrivals.values())
    return {
        "events": events,
        "ingest_per_s": round(events / ingest_s, 1),
        "ack_p50_ms": round(p50_ack, 3),
        "ack_p99_ms": round(p99_ack, 3),
        "delivery_after_ack_p50_ms": round(statistics.median(delays) * 1000, 3),
        "delivery_after_ack_p99_ms": round(delays[int(len(delays) * 0.99) - 1] * 1000, 3),
        "down_events": down_events,
        "drain_after_sink_up_s": round(drain_s, 3),
        "delivered": len(sink.arrivals),
        "duplicates": duplicates,
    }


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each wrk run")
    parser.add_argument("--events", type=int, default=2000, help="webhooks with the sink up")
    parser.add_argument("--down-events", type=int, default=500, help="webhooks while it is down")
    args = parser.parse_args()
    require_wrk()
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    DATA_DIR.mkdir(parents=True)
    sink = Sink(free_port())
    hello_port, port = free_port(), free_port()
    hello = start([sys.executable, "bench/hello.py", "--port", str(hello_port)])
    service = start(
        [sys.executable, "-m", "signer", "serve", "--port", str(port)],
        env={
            "SIGNER_PROVIDERS": "native",
            "SIGNER_LOG_FORMAT": "json",
            "SIGNER_DATA_DIR": str(DATA_DIR.relative_to(REPO)),
            "SIGNER_ADMIN_KEY": ADMIN_KEY,
            "SIGNER_SINK_URL": f"http://127.0.0.1:{sink.port}{SINK_PATH}",
            "SIGNER_OUTBOX_RETRY_BASE_S": "0.2",
            "SIGNER_OUTBOX_RETRY_MAX_S": "1",
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"http://127.0.0.1:{hello_port}/signature", method="POST")
        wait_http(f"{base}/health")
        register(base)
        rows = wrk_phase(
            base, f"http://127.0.0.1:{hello_port}", service.pid, hello.pid, args.seconds
        )
        hooks = asyncio.run(webhook_phase(base, sink, args.events, args.down_events))
    finally:
        stop(hello)
        stop(service)
    report(rows, hooks)


def report(rows: list[dict[str, Any]], hooks: dict[str, Any]) -> None:
    """Print the tables and the checks; write the JSON."""
    print(f"{'target':<14} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs hello':>8}")
    for row in rows:
        print(
            f"{row['target']:<14} {row['concurrency']:>4} {row['rps']:>9.0f} "
            f"{row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['ratio_vs_hello']:>8.2f}"
        )
    print("webhooks:", json.dumps(hooks))
    checks = {
        "no_errors": all(r["errors"] == 0 and r["non2xx"] == 0 for r in rows),
        "every_event_delivered_once": hooks["duplicates"] == 0
        and hooks["delivered"] == hooks["events"] + hooks["down_events"],
    }
    print("checks:", json.dumps(checks))
    path = write_results(
        "partner", {"machine": machine(), "results": rows, "webhooks": hooks, "checks": checks}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

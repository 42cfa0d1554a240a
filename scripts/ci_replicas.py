#!/usr/bin/env python3
"""Drive three replicas of the image behind HAProxy for scripts/ci-containers (stdlib only).

    ci_replicas.py FRONT REPLICA... --admin-key K --stop NAME

FRONT is HAProxy's URL, each REPLICA a replica's own URL (the first two take the admin
calls), NAME the container to stop with SIGTERM while load goes through HAProxy. Checks,
in order: every replica answers /health with its own replica id; a native signature
through HAProxy; maintenance switched on through the first replica is seen by every other
within 1 s (Redis pushes operator state), and off again; six clients sign through HAProxy
for 6 s while NAME gets SIGTERM after 2 s: no request may fail. Prints one line per check;
exits 0, or 1 with the reason.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=35"
OK, UNAVAILABLE = 200, 503
#: Fewer requests in the load window means the load never really ran.
MIN_REQUESTS = 50


def call(url: str, *, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """The status and JSON body of a GET (or a JSON POST when ``body`` is given)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def fail(reason: str) -> None:
    """Say why and stop."""
    print(f"FAIL {reason}")
    sys.exit(1)


def check_health(replicas: list[str]) -> None:
    """Every replica answers /health 200 with an id of its own."""
    ids = []
    for replica in replicas:
        status, health = call(f"{replica}/health")
        if status != OK:
            fail(f"{replica}/health answered {status}: {health}")
        ids.append(health.get("replica"))
    if len(set(ids)) != len(ids) or None in ids:
        fail(f"replica ids are not distinct: {ids}")
    print(f"ok   {len(ids)} replicas healthy: {', '.join(map(str, ids))}")


def check_maintenance(replicas: list[str], admin: dict[str, str]) -> None:
    """On through the first replica: every other answers 503 within 1 s; then off again."""
    call(f"{replicas[0]}/admin/maintenance", body={"enabled": True}, headers=admin)
    started = time.monotonic()
    pending = set(replicas[1:])
    while pending and time.monotonic() - started < 1.0:
        pending = {r for r in pending if call(f"{r}/sign", body={"url": URL})[0] != UNAVAILABLE}
        time.sleep(0.02)
    if pending:
        fail(f"maintenance not seen within 1 s by {sorted(pending)}")
    print(f"ok   maintenance seen by every replica in {time.monotonic() - started:.2f} s")
    call(f"{replicas[1]}/admin/maintenance", body={"enabled": False}, headers=admin)
    deadline = time.monotonic() + 2.0
    while call(f"{replicas[0]}/sign", body={"url": URL})[0] != OK:
        if time.monotonic() > deadline:
            fail("maintenance switched off through another replica did not reach the first")
        time.sleep(0.05)


def check_sigterm(front: str, container: str) -> None:
    """Six clients sign through HAProxy for 6 s; ``container`` gets SIGTERM after 2 s."""
    statuses: list[int] = []
    stop_at = time.monotonic() + 6.0

    def client() -> None:
        while time.monotonic() < stop_at:
            try:
                statuses.append(call(f"{front}/sign", body={"url": URL})[0])
            except OSError as exc:
                statuses.append(-1)
                print(f"     a request failed: {exc}")

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    podman = shutil.which("podman") or "podman"
    subprocess.run([podman, "kill", "--signal", "TERM", container], check=True,  # noqa: S603
                   capture_output=True)  # fmt: skip
    for thread in threads:
        thread.join()
    failed = [status for status in statuses if status != OK]
    if failed or len(statuses) < MIN_REQUESTS:
        fail(f"{len(failed)} of {len(statuses)} requests failed while a replica stopped")
    print(f"ok   SIGTERM to {container} under load: {len(statuses)} requests, none failed")


def main() -> None:
    """Run the checks."""
    parser = argparse.ArgumentParser()
    parser.add_argument("front")
    parser.add_argument("replicas", nargs="+")
    parser.add_argument("--admin-key", required=True)
    parser.add_argument("--stop", required=True, help="the container to SIGTERM under load")
    args = parser.parse_args()
    check_health(args.replicas)
    status, signed = call(f"{args.front}/sign", body={"url": URL})
    if status != OK or signed["data"]["provider"] != "native":
        fail(f"a signature through HAProxy answered {status}: {signed}")
    print("ok   signed through HAProxy")
    check_maintenance(args.replicas, {"X-Admin-Key": args.admin_key})
    check_sigterm(args.front, args.stop)


if __name__ == "__main__":
    main()

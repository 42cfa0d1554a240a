#!/usr/bin/env python3
"""Probe a running tiktok-signer over HTTP for scripts/ci-containers (stdlib only).

    ci_probe.py ready URL [--timeout S]   wait until /health is ok with the browser ready
    ci_probe.py sign URL                  POST /signature: signed by the browser

Each prints what it checked on one line and exits 0, or prints why not and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

#: A URL of the README's quick start; the browser signs it offline (SIGNER_SDK_SOURCE=file).
TIKTOK_URL = "https://www.tiktok.com/api/post/item_list/?aid=1988&count=35&secUid=MS4wLjABAAAA"


class ProbeFailed(Exception):
    """The service answered, or failed to answer, otherwise than a working signer does."""


def get_json(url: str, *, data: bytes | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    """The status and JSON body of a GET (or a text/plain POST when ``data`` is given)."""
    request = urllib.request.Request(url, data=data)  # noqa: S310 - our own loopback URL
    if data is not None:
        request.add_header("Content-Type", "text/plain")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode("utf-8", "replace")[:200]


def browser_state(health: Any) -> str:
    """The browser provider's state in a /health body ("absent" when it is not listed)."""
    for provider in health.get("providers", []) if isinstance(health, dict) else []:
        if provider.get("name") == "browser":
            return str(provider.get("state"))
    return "absent"


def wait_ready(base: str, timeout: float) -> str:
    """Poll /health until it answers 200 ``ok`` with the browser provider ready."""
    started = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - started < timeout:
        try:
            status, health = get_json(f"{base}/health", timeout=2.0)
        except (OSError, ValueError) as exc:  # not listening yet, or a half-written answer
            last = f"no answer ({exc})"
        else:
            state = browser_state(health)
            ok = status == 200 and isinstance(health, dict) and health.get("status") == "ok"
            if ok and state == "ready":
                return "/health answers 200 status ok with the browser ready"
            last = f"HTTP {status}, {str(health)[:300]}"
        time.sleep(0.5)
    raise ProbeFailed(f"/health not ok with the browser ready within {timeout:g} s: {last}")


def sign(base: str) -> str:
    """POST a TikTok URL to /signature and check that the browser signed it."""
    status, answer = get_json(f"{base}/signature", data=TIKTOK_URL.encode(), timeout=30.0)
    data = answer.get("data") if isinstance(answer, dict) else None
    if status != 200 or not isinstance(data, dict):
        raise ProbeFailed(f"POST /signature answered HTTP {status}: {str(answer)[:300]}")
    if data.get("provider") != "browser":
        raise ProbeFailed(f"POST /signature was signed by {data.get('provider')!r}, not browser")
    signed_url = str(data.get("signed_url"))
    if not (signed_url.startswith(TIKTOK_URL) and data.get("X-Bogus") and data.get("X-Gnarly")):
        raise ProbeFailed(f"POST /signature answered without a signed URL: {str(data)[:300]}")
    return (
        f"POST /signature signed by the browser (X-Bogus {len(data['X-Bogus'])} chars, "
        f"X-Gnarly {len(data['X-Gnarly'])} chars)"
    )


def main(argv: list[str]) -> int:
    """Run one probe; exit 0 when it passed, 1 with the reason when it did not."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("probe", choices=["ready", "sign"])
    parser.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (ready)")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    try:
        checked = wait_ready(base, args.timeout) if args.probe == "ready" else sign(base)
    except (ProbeFailed, OSError, ValueError) as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    print(f"ok   {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

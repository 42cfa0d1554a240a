"""Peer signers for side-by-side benchmarks: SignTok, installed and run offline.

SignTok (npm ``signtok``) is installed into a cache directory outside the repo, keyed by
version, and reused by later runs. Its ``canvas`` dependency builds from source, so the
Debian build dependencies are installed first when missing (``apt-get``, as root or via
sudo). The server runs on a free loopback port and answers ``POST`` on any path with the
URL to sign as a text/plain body.

    .venv/bin/python bench/peers.py [--check URL]   # install, start, sign once, stop
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import DEFAULT_URLS, free_port, stop

SIGNTOK_VERSION = "1.2.0"  # the registry's newest; the peers table's 1.3.1 is not published
SIGNTOK_DEBIAN_DEPS = (
    "build-essential", "pkg-config", "libcairo2-dev", "libpango1.0-dev",
    "libjpeg-dev", "libgif-dev", "librsvg2-dev",
)  # fmt: skip
NPM_INSTALL = ("npm", "install", "--no-fund", "--no-audit", "--no-update-notifier", "--no-save")
INSTALL_TIMEOUT_S = 1200.0
START_TIMEOUT_S = 30.0
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "tiktok-signer-bench"
# SignTok's api/index.js reads PORT but listens on every interface: pin it to loopback.
LOOPBACK_LAUNCHER = """
const http = require("http");
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (port, ...rest) {
  return listen.call(this, port, "127.0.0.1", rest.find((a) => typeof a === "function"));
};
require(process.argv[1]);
"""


@dataclass
class Peer:
    """A running peer server: its process and the URL it answers on."""

    name: str
    process: subprocess.Popen[bytes]
    url: str


def missing_debian_packages(packages: tuple[str, ...]) -> list[str]:
    """The packages of ``packages`` that dpkg does not report as installed."""
    missing = []
    for package in packages:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if status.returncode != 0 or not status.stdout.endswith(" installed"):
            missing.append(package)
    return missing


def install_debian_packages(packages: tuple[str, ...]) -> None:
    """Install the missing ones of ``packages`` with apt-get (``apt-get update`` once first)."""
    missing = missing_debian_packages(packages)
    if not missing:
        return
    if shutil.which("apt-get") is None:
        sys.exit(f"bench: SignTok needs the Debian packages {' '.join(missing)}; no apt-get here")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"bench: apt-get install {' '.join(missing)}", file=sys.stderr)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True, env=env, timeout=INSTALL_TIMEOUT_S, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def signtok_entry(install_dir: Path) -> Path:
    """The server script of an installed SignTok."""
    return install_dir / "node_modules" / "signtok" / "api" / "index.js"


def _canvas_built(install_dir: Path) -> bool:
    return (install_dir / "node_modules" / "canvas" / "build" / "Release" / "canvas.node").exists()


def _npm_build_env() -> dict[str, str]:
    """The environment npm builds ``canvas`` in, offline.

    canvas would first try to download a prebuilt binary, and node-gyp Node's headers:
    neither is reachable offline, so build from source against the installed node's headers.
    """
    env = {**os.environ, "npm_config_build_from_source": "canvas"}
    node = shutil.which("node")
    prefix = Path(node).resolve().parent.parent if node else None
    if prefix and (prefix / "include" / "node" / "node.h").exists():
        env.setdefault("npm_config_nodedir", str(prefix))
    return env


def install_signtok(version: str = SIGNTOK_VERSION, cache: Path = DEFAULT_CACHE) -> Path:
    """Install ``signtok@version`` under ``cache`` (once; later calls reuse it); its directory.

    npm runs in a staging directory that is renamed into place only once ``canvas`` has
    built, so an interrupted install is never mistaken for a finished one.
    """
    install_dir = cache / f"signtok-{version}"
    if signtok_entry(install_dir).exists() and _canvas_built(install_dir):
        return install_dir
    if shutil.which("npm") is None or shutil.which("node") is None:
        sys.exit("bench: SignTok needs node and npm (Debian: apt-get install nodejs npm)")
    install_debian_packages(SIGNTOK_DEBIAN_DEPS)
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"signtok-{version}-", dir=cache))
    (staging / "package.json").write_text('{"name": "signtok-bench", "private": true}\n')
    print(f"bench: npm install signtok@{version} (canvas builds from source)", file=sys.stderr)
    started = time.monotonic()
    try:
        subprocess.run(
            [*NPM_INSTALL, f"signtok@{version}"],
            cwd=staging,
            env=_npm_build_env(),
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        if not _canvas_built(staging):
            sys.exit(
                f"bench: npm installed signtok@{version} but canvas did not build "
                "(its install script failed or npm skipped it)"
            )
        shutil.rmtree(install_dir, ignore_errors=True)
        staging.rename(install_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"bench: SignTok installed in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return install_dir


def sign_with_signtok(url: str, target_url: str, timeout_s: float = 10.0) -> dict[str, object]:
    """POST one URL to a SignTok server; its JSON answer."""
    request = urllib.request.Request(
        url, data=target_url.encode(), headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        answer: dict[str, object] = json.load(response)
        return answer


def wait_signtok(url: str, target_url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll until SignTok answers a real signature; raise after ``START_TIMEOUT_S``."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"SignTok exited with {process.returncode} before answering")
        try:
            answer = sign_with_signtok(url, target_url, timeout_s=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        data = answer.get("data")
        if not isinstance(data, dict) or not data.get("X-Bogus"):
            raise RuntimeError(f"SignTok answered without an X-Bogus: {answer}")
        return


def start_signtok(target_url: str, install_dir: Path | None = None) -> Peer:
    """Start SignTok on a free loopback port, wait until it signs ``target_url``; the peer."""
    install_dir = install_dir or install_signtok()
    port = free_port()
    process = subprocess.Popen(
        ["node", "-e", LOOPBACK_LAUNCHER, str(signtok_entry(install_dir))],
        cwd=signtok_entry(install_dir).parent.parent,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peer = Peer("signtok", process, f"http://127.0.0.1:{port}/signature")
    try:
        wait_signtok(peer.url, target_url, process)
    except BaseException:
        stop(process)
        raise
    return peer


def stop_peer(peer: Peer) -> None:
    """Stop a peer server and wait for it."""
    stop(peer.process)


def first_url(urls_file: Path) -> str:
    """The first URL of a workload file."""
    return next(line for line in urls_file.read_text().splitlines() if line.startswith("http"))


def main() -> None:
    """Install SignTok if needed, start it, sign one URL, print the answer, stop it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", default=None, help="URL to sign (default: the workload's)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="install cache")
    args = parser.parse_args()
    target_url = args.check or first_url(DEFAULT_URLS)
    started = time.monotonic()
    install_dir = install_signtok(cache=args.cache)
    peer = start_signtok(target_url, install_dir)
    try:
        print(json.dumps(sign_with_signtok(peer.url, target_url), indent=2))
    finally:
        stop_peer(peer)
    print(f"bench: SignTok ready and signing after {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()

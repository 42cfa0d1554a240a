"""How the acceptance tests run the real LIVE clients against the service and the fake TikTok.

* TikTokLive 7.0.1 (PyPI) runs in the test's event loop: :func:`run_python_client`.
* tiktok-live-connector 2.5.0 (npm) runs in Node, driven by ``node_client.mjs``:
  :func:`run_node_client`. ``scripts/setup`` installs it (``npm ci`` of the manifest and
  lock file in ``tests/signer/live/node``) and, where the system's Node is older than the
  package needs, a pinned Node, into :data:`NODE_DIR`; a test that finds either missing
  fails and says to run the setup: it never skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from TikTokLive import TikTokLiveClient
from TikTokLive.client.web.web_settings import WebDefaults
from TikTokLive.events import CommentEvent, ConnectEvent, GiftEvent, LikeEvent

from tests.support import REPO

if TYPE_CHECKING:
    from tests.fakes.tiktok_live import FakeTikTokLive
    from tests.fakes.tls import LoopbackCertificate

#: The connector version the tests drive, as ``scripts/setup`` installs it.
CONNECTOR_VERSION = "2.5.0"
#: Where ``scripts/setup`` installs Node things (outside git: ``data/`` is ignored).
NODE_DIR = REPO / "data" / "node"
#: The ``npm ci`` of ``tests/signer/live/node`` (its manifest and lock file).
CONNECTOR_PREFIX = NODE_DIR / "live-client"
#: The oldest Node the connector runs on (``engines``; Debian 12's 18 cannot parse its got).
NODE_MIN_MAJOR = 20
NODE_SCRIPT = REPO / "tests" / "signer" / "live" / "node_client.mjs"
SETUP_HINT = "run scripts/setup: it installs tiktok-live-connector and a Node it runs on"


@dataclass(frozen=True, slots=True)
class Live:
    """Where a test's clients go: the service, and the fake TikTok behind it."""

    service_url: str
    fake: FakeTikTokLive
    certificate: LoopbackCertificate


@dataclass(slots=True)
class PythonRun:
    """What TikTokLive emitted, by event class name (the last of each)."""

    events: dict[str, Any] = field(default_factory=dict)


async def run_python_client(
    live: Live,
    *,
    key: str | None,
    unique_id: str,
    room_id: str | None = None,
    timeout_s: float = 10.0,
) -> PythonRun:
    """Connect TikTokLive through the service until the chat, gift and like events arrive.

    The client is pointed at us as the README says (``WebDefaults.tiktok_sign_url`` and
    ``tiktok_sign_api_key``, set before the client is made), and at the fake for the
    TikTok hosts it calls itself (``tiktok_app_url``, ``tiktok_webcast_url``). The caller
    restores ``WebDefaults`` (``monkeypatch``). Errors of ``start()`` and of the socket
    propagate.
    """
    WebDefaults.tiktok_sign_url = live.service_url
    WebDefaults.tiktok_sign_api_key = key
    WebDefaults.tiktok_app_url = live.fake.origin
    WebDefaults.tiktok_webcast_url = live.fake.origin + "/webcast"
    client = TikTokLiveClient(unique_id)
    run = PythonRun()
    wanted = {CommentEvent, GiftEvent, LikeEvent}
    done = asyncio.Event()

    def note(event: Any) -> None:
        run.events[type(event).__name__] = event
        if all(kind.__name__ in run.events for kind in wanted):
            done.set()

    for kind in (*wanted, ConnectEvent):
        # The decorator form: 7.0.1's on(event, handler) passes a str where a class is due.
        client.on(kind)(note)
    try:
        # start() returns once the sign server answered; the socket is the task's business.
        socket_task = await client.start(room_id=int(room_id) if room_id else None)
        all_events = asyncio.ensure_future(done.wait())
        finished, _ = await asyncio.wait(
            {all_events, socket_task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        all_events.cancel()
        if socket_task in finished and not done.is_set():
            socket_task.result()  # what the socket failed with, as client.connect() raises it
            pytest.fail(f"TikTokLive's socket closed after {sorted(run.events)}")
        if not finished:
            pytest.fail(f"TikTokLive got only {sorted(run.events)} in {timeout_s:g} s")
    finally:
        # 7.0.1's close() runs the loop itself, which fails inside a running loop; and
        # closing the web client leaves the sign server's HTTP client open.
        await client.disconnect()
        await client.web.close()
        await client.web.signer.client.aclose()
    return run


@dataclass(frozen=True, slots=True)
class NodeClient:
    """A Node that runs the connector, and where the connector is installed."""

    node: Path
    prefix: Path


def _node_major(node: Path) -> int:
    done = subprocess.run(
        [node, "-p", "process.versions.node.split('.')[0]"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(done.stdout.strip())


def find_node_client() -> NodeClient:
    """The installed connector and a Node it runs on; the test fails when either is missing."""
    manifest = CONNECTOR_PREFIX / "node_modules" / "tiktok-live-connector" / "package.json"
    if not manifest.is_file():
        pytest.fail(f"tiktok-live-connector is not installed in {CONNECTOR_PREFIX}: {SETUP_HINT}")
    version = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    if version != CONNECTOR_VERSION:
        pytest.fail(f"{CONNECTOR_PREFIX} holds tiktok-live-connector {version}: {SETUP_HINT}")
    installed = sorted((NODE_DIR / "runtime" / "node_modules").glob("node-linux-*/bin/node"))
    system = shutil.which("node")
    node = installed[0] if installed else (Path(system) if system else None)
    if node is None:
        pytest.fail(f"no node on PATH: {SETUP_HINT}")
    if _node_major(node) < NODE_MIN_MAJOR:
        pytest.fail(f"{node} is older than Node {NODE_MIN_MAJOR}: {SETUP_HINT}")
    return NodeClient(node, CONNECTOR_PREFIX)


@dataclass(frozen=True, slots=True)
class NodeRun:
    """What the Node client printed (one record per event) and how it exited."""

    returncode: int
    records: list[dict[str, Any]]
    stderr: str

    def first(self, event: str) -> dict[str, Any]:
        """The first record of ``event``; fails the test with the whole output when none."""
        for record in self.records:
            if record["event"] == event:
                return record
        pytest.fail(f"the Node client printed no {event!r}: {self.records} {self.stderr[-2000:]}")


async def run_node_client(
    client: NodeClient,
    live: Live,
    *,
    key: str | None,
    unique_id: str,
    room_id: str | None = None,
    resolve_via: str = "service",
    timeout_s: float = 20.0,
) -> NodeRun:
    """Run ``node_client.mjs``: connect the connector through the service, print its events.

    It is pointed at us as a user would (``SignConfig.basePath``, ``SignConfig.apiKey``) and
    at the fake's TLS listener for the TikTok hosts it calls itself (it calls loopback hosts
    over https; ``NODE_EXTRA_CA_CERTS`` trusts the fake's certificate).
    """
    host = live.fake.tls_origin.removeprefix("https://")
    options = {
        "prefix": str(client.prefix),
        "signUrl": live.service_url,
        "apiKey": key,
        "webHost": host,
        "webcastHost": host,
        "uniqueId": unique_id,
        "roomId": room_id,
        "resolveVia": resolve_via,
        "timeoutMs": int(timeout_s * 1000),
    }
    # Nothing may point the connector elsewhere: no sign server from the environment, no
    # proxy (its sign-server client honours HTTP_PROXY) between it and loopback.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SIGN_API_") and not name.lower().endswith("_proxy")
    }
    environment["NODE_EXTRA_CA_CERTS"] = str(live.certificate.cert)
    process = await asyncio.create_subprocess_exec(
        client.node,
        NODE_SCRIPT,
        json.dumps(options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s + 10)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    records = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    assert process.returncode is not None
    return NodeRun(process.returncode, records, stderr.decode(errors="replace"))

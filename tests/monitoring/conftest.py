"""A running service on loopback (its own thread and loop), alert receivers, the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from providers.fake import FakeProvider
from providers.typing import ProviderHealth
from signer.app import make_app
from signer.settings import Settings
from signer.wiring import persona_from
from tests.fakes.alert_sink import SLACK, WEBHOOK, AlertSink

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator

    from aiosmtpd.smtp import SMTP, Envelope, Session

    from providers.typing import Persona
    from tests.fakes.server import LoopbackServer

ADMIN_KEY = "a-monitor-admin-key-of-some-length"
SMTP_PASSWORD = "smtp-secret-password"


class Unnoticed(FakeProvider):
    """A provider that reports ready and whose output the chain trusts (it checks its own)."""

    def __init__(self, name: str, persona: Persona) -> None:
        super().__init__(name, persona)
        self.checked = True

    def health(self) -> ProviderHealth:
        """Ready while running, whatever it signs."""
        return ProviderHealth(name=self.name, state="ready" if self.running else "stopped")


class Loop:
    """An event loop in a thread: the service and fakes run there, the CLI in the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Awaitable[Any]) -> Any:
        """Run ``coroutine`` on the loop and wait for its result."""

        async def wrap() -> Any:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout=10)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@dataclass
class Service:
    """The real app on loopback with two injected providers, ``one`` then ``two``."""

    loop: Loop
    url: str
    one: Unnoticed
    two: Unnoticed
    runner: web.AppRunner

    def state(self) -> dict[str, Any]:
        """``GET /admin/state``."""

        async def get() -> dict[str, Any]:
            import aiohttp  # noqa: PLC0415

            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{self.url}/admin/state", headers={"X-Admin-Key": ADMIN_KEY}) as r,
            ):
                result: dict[str, Any] = await r.json()
                return result

        result: dict[str, Any] = self.loop.run(get())
        return result

    def order(self) -> list[str]:
        """The providers' names in the chain's order."""
        return [p["name"] for p in self.state()["providers"]]


@dataclass
class Mailbox:
    """Messages an aiosmtpd receiver got."""

    messages: list[Envelope] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the message."""
        del server, session
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def loop() -> Iterator[Loop]:
    """A loop in a thread for one test."""
    running = Loop()
    yield running
    running.close()


def start_service(loop: Loop, **settings: Any) -> Service:
    """Start the app (admin key set) with ``one`` and ``two`` on 127.0.0.1."""
    persona = persona_from(Settings())
    one, two = Unnoticed("one", persona), Unnoticed("two", persona)
    app = make_app(Settings(providers=("native",), admin_key=ADMIN_KEY, **settings), [one, two])

    async def start() -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner: web.AppRunner = loop.run(start())
    return Service(loop, f"http://127.0.0.1:{runner.addresses[0][1]}", one, two, runner)


@pytest.fixture
def service(loop: Loop) -> Iterator[Service]:
    """The app (admin key set) with ``one`` and ``two`` on 127.0.0.1."""
    started = start_service(loop)
    yield started
    loop.run(started.runner.cleanup())


def start_fake(loop: Loop, server: LoopbackServer) -> None:
    """Start a fake server on the thread's loop."""
    loop.run(server.start())


@pytest.fixture
def sink(loop: Loop) -> Iterator[AlertSink]:
    """The Slack and webhook receiver."""
    server = AlertSink()
    start_fake(loop, server)
    yield server
    loop.run(server.aclose())


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP receiver (aiosmtpd, with AUTH) on 127.0.0.1 and its port."""
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=_auth,
    )
    controller.start()
    yield box, port
    controller.stop()


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415

    ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture
def alerting(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    service: Service,
    sink: AlertSink,
    mailbox: tuple[Mailbox, int],
) -> None:
    """The monitor's environment: the service, every alert channel, a fresh data dir."""
    environment = {
        "SIGNER_DATA_DIR": str(tmp_path),
        "SIGNER_SERVICE_URL": service.url,
        "SIGNER_ADMIN_KEY": ADMIN_KEY,
        "SIGNER_ALERT_SLACK_URL": sink.url(SLACK),
        "SIGNER_ALERT_WEBHOOK_URL": sink.url(WEBHOOK),
        "SIGNER_ALERT_SMTP_URL": f"smtp://monitor:{SMTP_PASSWORD}@127.0.0.1:{mailbox[1]}",
        "SIGNER_ALERT_EMAIL_TO": "ops@example.com",
        "SIGNER_MONITOR_TEXTFILE": str(tmp_path / "textfile" / "signer_monitor.prom"),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

"""What the partner routes share: the store (opened when first needed), the clock, workers.

The store is opened at start-up when there is one to resume (``SIGNER_DATABASE_URL`` set, or
``<data dir>/signer.db`` present), else on the first partner request that needs it: an
install that never uses the partner routes never creates a database or a secret key.
Opening the store starts the background workers (the webhook outbox's deliveries, the Shop
token refresher); each runs :meth:`Worker.run_once` in a loop, sleeping the seconds it
answers or until :meth:`Partner.wake` calls it early. A worker's failure is logged (never
with a secret) and retried after ``RETRY_AFTER_FAILURE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog
from aiohttp import web

from signer.app_keys import HTTP
from signer.errors import SecretKeyMismatch, StoreError
from signer.store import open_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import aiohttp

    from signer.metrics import Metrics
    from signer.settings import Settings
    from signer.store import Store

log = structlog.get_logger("signer.partner")

#: A worker whose ``run_once`` raised runs again after this many seconds.
RETRY_AFTER_FAILURE_S = 5.0


def new_id() -> str:
    """A new random id (the CloudEvent id of a webhook that has none)."""
    return str(uuid.uuid4())


class Worker(Protocol):
    """A background task of the partner routes, run while the store is open."""

    name: str

    async def run_once(self) -> float:
        """Do what is due now; answer the seconds until it should run again."""


@dataclass(frozen=True, slots=True)
class PartnerOptions:
    """What tests inject: a store, the wall clock (Unix seconds), the id factory."""

    store: Store | None = None
    clock: Callable[[], float] = time.time
    new_id: Callable[[], str] = new_id
    #: False: workers are built but not looped (a test calls ``run_once`` itself).
    run_workers: bool = True


class Partner:
    """The partner routes' shared state: settings, store, HTTP session, clock, workers."""

    def __init__(
        self,
        settings: Settings,
        options: PartnerOptions | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        options = options or PartnerOptions()
        self.settings = settings
        #: The app's metrics (the workers count what they do there).
        self.metrics = metrics
        self.clock = options.clock
        self.new_id = options.new_id
        self._store = options.store
        self._owns_store = options.store is None
        self._lock = asyncio.Lock()
        self._run_workers = options.run_workers
        self._factories: list[Callable[[Partner], Worker]] = []
        self.workers: dict[str, Worker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: dict[str, asyncio.Event] = {}
        self._http: aiohttp.ClientSession | None = None
        self._closed = False
        #: Who this process is when it takes a lease in the store (a worker's job runs once
        #: among several workers and replicas).
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def add_worker(self, factory: Callable[[Partner], Worker]) -> None:
        """Register a worker; it starts when the store opens."""
        self._factories.append(factory)

    @property
    def http(self) -> aiohttp.ClientSession:
        """The app's HTTP client session (for calls to TikTok and to the sink)."""
        if self._http is None:
            raise RuntimeError("the partner routes have not started")
        return self._http

    @property
    def opened(self) -> bool:
        """Whether the store is open (and the workers running)."""
        return self._store is not None

    def _should_open_at_start(self) -> bool:
        settings = self.settings
        return (
            self._store is not None
            or settings.database_url is not None
            or (settings.data_dir / "signer.db").exists()
        )

    async def start(self, http: aiohttp.ClientSession) -> None:
        """Take the HTTP session; open the store now when there is one to resume.

        A store that cannot be reached (PostgreSQL down) does not stop the service from
        signing: it is opened again in the background until it answers (and on every
        partner request meanwhile, which answers 503 ``store_unavailable``). A secret key
        that does not open the stored secrets does stop it.
        """
        self._http = http
        if not self._should_open_at_start():
            return
        try:
            await self.store()
        except SecretKeyMismatch:
            raise
        except StoreError as exc:
            log.warning("partner_store_unavailable", error=exc.message, retry_in_s=1.0)
            self._tasks.append(asyncio.create_task(self._open_later(), name="partner-store"))

    async def _open_later(self) -> None:
        """Open the store (and start the workers) once it can be reached: 1 s, doubling to 30 s."""
        delay = 1.0
        while self._store is None:
            await asyncio.sleep(delay)
            try:
                await self.store()
            except SecretKeyMismatch as exc:
                log.critical("partner_store_unreadable", error=exc.message)
                return
            except StoreError as exc:
                delay = min(delay * 2, 30.0)
                log.warning("partner_store_unavailable", error=exc.message, retry_in_s=delay)

    async def store(self) -> Store:
        """The store, opened (and migrated) on first use; the workers start with it."""
        if self._closed:
            raise RuntimeError("the partner routes are closed")
        async with self._lock:
            if self._store is None:
                settings = self.settings
                database_url = settings.database_url
                secret_key = settings.secret_key
                self._store = await open_store(
                    None if database_url is None else database_url.get_secret_value(),
                    settings.data_dir,
                    None if secret_key is None else secret_key.get_secret_value(),
                    now=self.clock,
                )
                log.info("partner_store_opened", backend=type(self._store).__name__)
            if not self.workers and self._factories:
                self._start_workers()
            return self._store

    def _start_workers(self) -> None:
        for factory in self._factories:
            worker = factory(self)
            self.workers[worker.name] = worker
            self._wake[worker.name] = asyncio.Event()
            if self._run_workers:
                self._tasks.append(
                    asyncio.create_task(self._loop(worker), name=f"partner-{worker.name}")
                )

    def wake(self, name: str) -> None:
        """Run the worker ``name`` now rather than when its sleep ends (no-op if absent)."""
        event = self._wake.get(name)
        if event is not None:
            event.set()

    async def _loop(self, worker: Worker) -> None:
        wake = self._wake[worker.name]
        while True:
            wake.clear()
            try:
                delay = await worker.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a worker must outlive any one failure
                log.warning("partner_worker_failed", worker=worker.name, error=type(exc).__name__)
                delay = RETRY_AFTER_FAILURE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(0.0, delay))

    async def aclose(self) -> None:
        """Stop the workers, give up their leases, close the store (unless a test gave it).

        A lease given up is taken by another worker or replica at once, not when it runs out.
        """
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._store is not None:
            for name in self.workers:
                with contextlib.suppress(StoreError):
                    await self._store.release_lease(name, self.holder)
        if self._store is not None and self._owns_store:
            await self._store.close()
        self._store = None


PARTNER = web.AppKey("partner", Partner)


async def partner_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start the partner routes' state after the HTTP session opens; close it before."""
    partner = app[PARTNER]
    await partner.start(app[HTTP])
    yield
    await partner.aclose()

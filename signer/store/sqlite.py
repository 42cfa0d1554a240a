"""The SQLite store: the default, one file in the data dir (stdlib ``sqlite3``).

One connection per store, used from one worker thread (a single-thread executor), so calls
are serialised without a lock and the event loop never waits on the disk. WAL journal,
foreign keys on; every write runs in ``BEGIN IMMEDIATE`` ... ``COMMIT``.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import structlog

from signer.errors import (
    AccountNotFound,
    IntegrationExists,
    IntegrationNotFound,
    StoreError,
)
from signer.store import rows

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from signer.store import (
        Account,
        AccountState,
        Integration,
        OAuthState,
        OutboxBacklog,
        OutboxEvent,
        TokenPair,
    )
    from signer.store.secrets import SecretBox

log = structlog.get_logger("signer.store")

P = ParamSpec("P")
T = TypeVar("T")

#: The schema, one entry per version (version = index + 1); never edit a released entry.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        (
            "CREATE TABLE integrations ("
            " id TEXT PRIMARY KEY,"
            " kind TEXT NOT NULL CHECK (kind IN ('shop', 'developers', 'business')),"
            " app_key TEXT NOT NULL,"
            " app_secret BLOB NOT NULL,"
            " environment TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),"
            " service_id TEXT,"
            " created_at REAL NOT NULL)"
        ),
        (
            "CREATE TABLE accounts ("
            " integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,"
            " shop_id TEXT NOT NULL,"
            " shop_cipher TEXT,"
            " seller_name TEXT,"
            " open_id TEXT,"
            " oauth_begun_at REAL,"
            " access_token BLOB NOT NULL,"
            " access_expires_at REAL NOT NULL CHECK (access_expires_at >= 0),"
            " refresh_token BLOB NOT NULL,"
            " refresh_expires_at REAL NOT NULL CHECK (refresh_expires_at >= 0),"
            " state TEXT NOT NULL CHECK (state IN ('active', 'needs_reauthorization')),"
            " updated_at REAL NOT NULL,"
            " PRIMARY KEY (integration_id, shop_id))"
        ),
        (
            "CREATE TABLE oauth_states ("
            " state TEXT PRIMARY KEY,"
            " integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,"
            " created_at REAL NOT NULL,"
            " expires_at REAL NOT NULL)"
        ),
        "CREATE INDEX oauth_states_expiry ON oauth_states (expires_at)",
        (
            "CREATE TABLE outbox ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " integration_id TEXT NOT NULL,"
            " dedupe_key TEXT NOT NULL,"
            " event BLOB NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0,"
            " next_attempt_at REAL NOT NULL,"
            " created_at REAL NOT NULL,"
            " delivered_at REAL,"
            " UNIQUE (integration_id, dedupe_key))"
        ),
        "CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL",
    ),
    (
        (
            "CREATE TABLE leases ("
            " name TEXT PRIMARY KEY,"
            " holder TEXT NOT NULL,"
            " expires_at REAL NOT NULL)"
        ),
    ),
)


#: Take a lease that is free, expired or ours already; a row comes back only when we hold it
#: (SQLite only: PostgreSQL's leases are advisory locks).
ACQUIRE_LEASE: Final = (
    "INSERT INTO leases (name, holder, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE leases.holder = excluded.holder OR leases.expires_at <= %s RETURNING holder"
)
RELEASE_LEASE: Final = "DELETE FROM leases WHERE name = %s AND holder = %s RETURNING holder"


def _q(statement: str) -> str:
    """A shared statement with SQLite's placeholders."""
    return statement.replace("%s", "?")


class SqliteStore:
    """The :class:`~signer.store.Store` on one SQLite file; open it with :meth:`open`."""

    def __init__(self, path: str, box: SecretBox, *, now: Callable[[], float] | None) -> None:
        self._path = path
        self._box = box
        self._now = now or time.time
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signer-store")
        self._db: sqlite3.Connection | None = None

    @classmethod
    async def open(
        cls, path: str, box: SecretBox, *, now: Callable[[], float] | None = None
    ) -> SqliteStore:
        """Connect to ``path`` (created if missing) and apply the pending migrations."""
        store = cls(path, box, now=now)
        try:
            await store._run(store._connect)
            applied = await store._run(store._migrate)
        except BaseException:
            await store.close()
            raise
        log.info("store_opened", backend="sqlite", migrations_applied=applied)
        return store

    def __repr__(self) -> str:
        """The backend and its file."""
        return f"SqliteStore({self._path!r})"

    # -- plumbing (these run on the store's thread)

    async def _run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self._path}: {exc}") from exc

    def _connect(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        self._db = db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        if db is None:
            raise StoreError("the store is closed")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _migrate(self) -> int:
        with self._transaction() as db:
            db.execute(rows.SCHEMA_VERSION_TABLE)
            applied = [row[0] for row in db.execute(rows.SELECT_VERSIONS)]
            todo = rows.pending(applied, len(MIGRATIONS))
            for version in todo:
                for statement in MIGRATIONS[version - 1]:
                    db.execute(statement)
                db.execute(_q(rows.RECORD_VERSION), (version, self._now()))
        return len(todo)

    def _one(self, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._transaction() as db:
            row: tuple[Any, ...] | None = db.execute(_q(statement), params).fetchone()
            return row

    def _all(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self._db
        if db is None:
            raise StoreError("the store is closed")
        return db.execute(_q(statement), params).fetchall()

    # -- integrations

    async def add_integration(self, integration: Integration) -> Integration:
        """Store a new integration (see :class:`~signer.store.Store`)."""
        rows.check_integration(integration)
        row = rows.integration_row(self._box, integration, self._now())
        try:
            await self._run(self._one, rows.INSERT_INTEGRATION, row)
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise IntegrationExists(f"integration {integration.id!r} exists") from None
            raise
        return rows.integration_from(self._box, row)

    async def get_integration(self, integration_id: str) -> Integration | None:
        """The integration of that id, or None."""
        found = await self._run(self._all, rows.SELECT_INTEGRATION, (integration_id,))
        return rows.integration_from(self._box, found[0]) if found else None

    async def list_integrations(self) -> list[Integration]:
        """Every integration, by id."""
        found = await self._run(self._all, rows.LIST_INTEGRATIONS)
        return [rows.integration_from(self._box, row) for row in found]

    async def remove_integration(self, integration_id: str) -> bool:
        """Forget an integration, its accounts and states; False if it was not there."""

        def remove() -> bool:
            with self._transaction() as db:
                return db.execute(_q(rows.DELETE_INTEGRATION), (integration_id,)).rowcount > 0

        return await self._run(remove)

    # -- accounts

    async def upsert_account(self, account: Account) -> Account:
        """Store an account, replacing the one of the same key."""
        row = rows.account_row(self._box, account, self._now())
        try:
            await self._run(self._one, rows.UPSERT_ACCOUNT, row)
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError) and (
                "FOREIGN KEY" in str(exc.__cause__)
            ):
                raise IntegrationNotFound(f"no integration {account.integration_id!r}") from None
            raise
        return rows.account_from(self._box, row)

    async def get_account(self, integration_id: str, shop_id: str) -> Account | None:
        """The account, or None."""
        found = await self._run(self._all, rows.SELECT_ACCOUNT, (integration_id, shop_id))
        return rows.account_from(self._box, found[0]) if found else None

    async def list_accounts(self, integration_id: str | None = None) -> list[Account]:
        """The accounts of one integration (or all)."""
        if integration_id is None:
            found = await self._run(self._all, rows.LIST_ACCOUNTS)
        else:
            found = await self._run(self._all, rows.LIST_ACCOUNTS_OF, (integration_id,))
        return [rows.account_from(self._box, row) for row in found]

    async def update_tokens(self, integration_id: str, shop_id: str, tokens: TokenPair) -> Account:
        """Replace both tokens in one statement and mark the account active."""
        sealed = rows.sealed_tokens(self._box, integration_id, shop_id, tokens)
        row = await self._run(
            self._one, rows.UPDATE_TOKENS, (*sealed, self._now(), integration_id, shop_id)
        )
        if row is None:
            raise AccountNotFound(f"no account {shop_id!r} of integration {integration_id!r}")
        return rows.account_from(self._box, row)

    async def mark_account(self, integration_id: str, shop_id: str, state: AccountState) -> Account:
        """Set the account's state."""
        rows.check_state(state)
        row = await self._run(
            self._one, rows.MARK_ACCOUNT, (state, self._now(), integration_id, shop_id)
        )
        if row is None:
            raise AccountNotFound(f"no account {shop_id!r} of integration {integration_id!r}")
        return rows.account_from(self._box, row)

    # -- OAuth states

    async def create_state(self, integration_id: str, ttl_s: float) -> OAuthState:
        """A new random single-use state, valid ``ttl_s`` seconds."""
        now = self._now()
        row = (secrets.token_urlsafe(32), integration_id, now, now + ttl_s)

        def create() -> None:
            with self._transaction() as db:
                db.execute(_q(rows.PURGE_STATES), (now,))
                db.execute(_q(rows.INSERT_STATE), row)

        try:
            await self._run(create)
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise IntegrationNotFound(f"no integration {integration_id!r}") from None
            raise
        return rows.state_from(row)

    async def consume_state(self, state: str) -> OAuthState | None:
        """Take a state for good; None when unknown, used or expired."""
        row = await self._run(self._one, rows.CONSUME_STATE, (state,))
        if row is None:
            return None
        found = rows.state_from(row)
        return found if found.expires_at > self._now() else None

    # -- leases

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Hold ``name`` until ``ttl_s`` from now when it is free, expired or ours already."""
        now = self._now()
        row = await self._run(self._one, ACQUIRE_LEASE, (name, holder, now + ttl_s, now))
        return row is not None

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give ``name`` up if ``holder`` holds it."""
        return await self._run(self._one, RELEASE_LEASE, (name, holder)) is not None

    # -- the outbox

    async def enqueue(
        self, integration_id: str, dedupe_key: str, event: bytes
    ) -> OutboxEvent | None:
        """Queue an event now; None when its dedupe key is there already."""
        now = self._now()
        row = await self._run(
            self._one, rows.ENQUEUE, (integration_id, dedupe_key, bytes(event), now, now)
        )
        return None if row is None else rows.outbox_from(row)

    async def due_events(self, limit: int = 100) -> list[OutboxEvent]:
        """Undelivered events due now, oldest due first."""
        found = await self._run(self._all, rows.DUE_EVENTS, (self._now(), limit))
        return [rows.outbox_from(row) for row in found]

    async def mark_delivered(self, event_id: int) -> None:
        """Record that the sink took the event."""
        await self._run(self._one, rows.MARK_DELIVERED, (self._now(), event_id))

    async def reschedule(self, event_id: int, next_attempt_at: float) -> OutboxEvent:
        """Count a failed attempt and set when to try again."""
        row = await self._run(self._one, rows.RESCHEDULE, (next_attempt_at, event_id))
        if row is None:
            raise StoreError(f"no outbox event {event_id}")
        return rows.outbox_from(row)

    async def claim_due(self, limit: int, lease_s: float) -> list[OutboxEvent]:
        """Take due events for ``lease_s`` seconds (one ``BEGIN IMMEDIATE`` transaction)."""
        now = self._now()

        def claim() -> list[tuple[Any, ...]]:
            with self._transaction() as db:
                return db.execute(_q(rows.CLAIM_DUE), (now + lease_s, now, limit)).fetchall()

        return rows.claimed_from(await self._run(claim))

    async def backlog(self) -> OutboxBacklog:
        """The undelivered events' count and the earliest next attempt."""
        found = await self._run(self._all, rows.OUTBOX_BACKLOG)
        return rows.backlog_from(found[0] if found else None)

    async def close(self) -> None:
        """Close the connection and stop the store's thread."""
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=False)

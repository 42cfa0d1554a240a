"""The PostgreSQL store (``SIGNER_DATABASE_URL=postgresql://...``), on psycopg 3's async API.

The only module that imports psycopg. One connection per store, in autocommit mode, each
operation in its own transaction under a lock (a connection runs one transaction at a time);
a broken connection is replaced at the next call. Migrations take an advisory lock, so
several workers or replicas starting at once apply each version exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any, Final

import psycopg
import structlog
from psycopg import errors as pg_errors

from signer.errors import (
    AccountNotFound,
    IntegrationExists,
    IntegrationNotFound,
    StoreError,
)
from signer.store import rows

if TYPE_CHECKING:
    from collections.abc import Callable

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

#: The key of the advisory lock migrations hold (any constant shared by every process).
_MIGRATION_LOCK: Final = 0x7369676E6572  # "signer"

#: The schema, one entry per version (version = index + 1); never edit a released entry.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        (
            "CREATE TABLE integrations ("
            " id TEXT PRIMARY KEY,"
            " kind TEXT NOT NULL CHECK (kind IN ('shop', 'developers', 'business')),"
            " app_key TEXT NOT NULL,"
            " app_secret BYTEA NOT NULL,"
            " environment TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),"
            " service_id TEXT,"
            " created_at DOUBLE PRECISION NOT NULL)"
        ),
        (
            "CREATE TABLE accounts ("
            " integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,"
            " shop_id TEXT NOT NULL,"
            " shop_cipher TEXT,"
            " seller_name TEXT,"
            " open_id TEXT,"
            " oauth_begun_at DOUBLE PRECISION,"
            " access_token BYTEA NOT NULL,"
            " access_expires_at DOUBLE PRECISION NOT NULL CHECK (access_expires_at >= 0),"
            " refresh_token BYTEA NOT NULL,"
            " refresh_expires_at DOUBLE PRECISION NOT NULL CHECK (refresh_expires_at >= 0),"
            " state TEXT NOT NULL CHECK (state IN ('active', 'needs_reauthorization')),"
            " updated_at DOUBLE PRECISION NOT NULL,"
            " PRIMARY KEY (integration_id, shop_id))"
        ),
        (
            "CREATE TABLE oauth_states ("
            " state TEXT PRIMARY KEY,"
            " integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,"
            " created_at DOUBLE PRECISION NOT NULL,"
            " expires_at DOUBLE PRECISION NOT NULL)"
        ),
        "CREATE INDEX oauth_states_expiry ON oauth_states (expires_at)",
        (
            "CREATE TABLE outbox ("
            " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " integration_id TEXT NOT NULL,"
            " dedupe_key TEXT NOT NULL,"
            " event BYTEA NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0,"
            " next_attempt_at DOUBLE PRECISION NOT NULL,"
            " created_at DOUBLE PRECISION NOT NULL,"
            " delivered_at DOUBLE PRECISION,"
            " UNIQUE (integration_id, dedupe_key))"
        ),
        "CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL",
    ),
)


def _lock_key(name: str) -> int:
    """The advisory lock key of a lease: a signed 64-bit hash of its name (stable everywhere)."""
    digest = hashlib.blake2b(f"tiktok-signer:lease:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _where(url: str) -> str:
    """The server and database of ``url``, without its password (for errors and logs)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "PostgreSQL"
    return f"PostgreSQL {info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"


class PostgresStore:
    """The :class:`~signer.store.Store` on a PostgreSQL database; open it with :meth:`open`."""

    def __init__(self, url: str, box: SecretBox, *, now: Callable[[], float] | None) -> None:
        self._url = url
        self._where = _where(url)
        self._box = box
        self._now = now or time.time
        self._lock = asyncio.Lock()
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._closed = False
        #: The advisory locks (leases) held, and the connection that holds them.
        self._locked_on: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._held: set[str] = set()

    @classmethod
    async def open(
        cls, url: str, box: SecretBox, *, now: Callable[[], float] | None = None
    ) -> PostgresStore:
        """Connect to ``url`` and apply the pending migrations."""
        store = cls(url, box, now=now)
        try:
            applied = await store._migrate()
        except BaseException:
            await store.close()
            raise
        log.info("store_opened", backend="postgresql", migrations_applied=applied)
        return store

    def __repr__(self) -> str:
        """The backend and its server, never the URL's password."""
        return f"PostgresStore({self._where!r})"

    # -- plumbing

    def _scrub(self, exc: BaseException) -> str:
        text = str(exc).strip()
        try:
            password = psycopg.conninfo.conninfo_to_dict(self._url).get("password")
        except psycopg.Error:
            password = None
        return text.replace(str(password), "***") if password else text

    async def _connection(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        if self._closed:
            raise StoreError("the store is closed")
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=10
                )
            except psycopg.Error as exc:
                # Chained from None: the driver's error may hold the URL; the password is cut.
                raise StoreError(f"{self._where}: cannot connect: {self._scrub(exc)}") from None
        return self._conn

    async def _execute(
        self, statement: str, params: tuple[Any, ...] = (), *, fetch: str = "one"
    ) -> Any:
        """Run one statement in its own transaction; its first row (or all with ``fetch="all"``)."""
        async with self._lock:
            conn = await self._connection()
            try:
                async with conn.transaction(), conn.cursor() as cursor:
                    await cursor.execute(statement, params)
                    if cursor.description is None:
                        return None
                    if fetch == "all":
                        return await cursor.fetchall()
                    return await cursor.fetchone()
            except (pg_errors.UniqueViolation, pg_errors.ForeignKeyViolation):
                raise  # the caller says what they mean
            except psycopg.Error as exc:
                raise StoreError(f"{self._where}: {exc}") from exc

    async def _migrate(self) -> int:
        async with self._lock:
            conn = await self._connection()
            try:
                async with conn.transaction(), conn.cursor() as cursor:
                    await cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    await cursor.execute(rows.SCHEMA_VERSION_TABLE)
                    await cursor.execute(rows.SELECT_VERSIONS)
                    applied = [row[0] for row in await cursor.fetchall()]
                    todo = rows.pending(applied, len(MIGRATIONS))
                    for version in todo:
                        for statement in MIGRATIONS[version - 1]:
                            await cursor.execute(statement)
                        await cursor.execute(rows.RECORD_VERSION, (version, self._now()))
            except psycopg.Error as exc:
                raise StoreError(f"{self._where}: migrating failed: {exc}") from exc
        return len(todo)

    # -- integrations

    async def add_integration(self, integration: Integration) -> Integration:
        """Store a new integration (see :class:`~signer.store.Store`)."""
        rows.check_integration(integration)
        row = rows.integration_row(self._box, integration, self._now())
        try:
            await self._execute(rows.INSERT_INTEGRATION, row)
        except pg_errors.UniqueViolation:
            raise IntegrationExists(f"integration {integration.id!r} exists") from None
        return rows.integration_from(self._box, row)

    async def get_integration(self, integration_id: str) -> Integration | None:
        """The integration of that id, or None."""
        row = await self._execute(rows.SELECT_INTEGRATION, (integration_id,))
        return None if row is None else rows.integration_from(self._box, row)

    async def list_integrations(self) -> list[Integration]:
        """Every integration, by id."""
        found = await self._execute(rows.LIST_INTEGRATIONS, fetch="all")
        return [rows.integration_from(self._box, row) for row in found]

    async def remove_integration(self, integration_id: str) -> bool:
        """Forget an integration, its accounts and states; False if it was not there."""
        row = await self._execute(rows.DELETE_INTEGRATION + " RETURNING id", (integration_id,))
        return row is not None

    # -- accounts

    async def upsert_account(self, account: Account) -> Account:
        """Store an account, replacing the one of the same key."""
        row = rows.account_row(self._box, account, self._now())
        try:
            await self._execute(rows.UPSERT_ACCOUNT, row)
        except pg_errors.ForeignKeyViolation:
            raise IntegrationNotFound(f"no integration {account.integration_id!r}") from None
        return rows.account_from(self._box, row)

    async def get_account(self, integration_id: str, shop_id: str) -> Account | None:
        """The account, or None."""
        row = await self._execute(rows.SELECT_ACCOUNT, (integration_id, shop_id))
        return None if row is None else rows.account_from(self._box, row)

    async def list_accounts(self, integration_id: str | None = None) -> list[Account]:
        """The accounts of one integration (or all)."""
        if integration_id is None:
            found = await self._execute(rows.LIST_ACCOUNTS, fetch="all")
        else:
            found = await self._execute(rows.LIST_ACCOUNTS_OF, (integration_id,), fetch="all")
        return [rows.account_from(self._box, row) for row in found]

    async def update_tokens(self, integration_id: str, shop_id: str, tokens: TokenPair) -> Account:
        """Replace both tokens in one statement and mark the account active."""
        sealed = rows.sealed_tokens(self._box, integration_id, shop_id, tokens)
        row = await self._execute(
            rows.UPDATE_TOKENS, (*sealed, self._now(), integration_id, shop_id)
        )
        if row is None:
            raise AccountNotFound(f"no account {shop_id!r} of integration {integration_id!r}")
        return rows.account_from(self._box, row)

    async def mark_account(self, integration_id: str, shop_id: str, state: AccountState) -> Account:
        """Set the account's state."""
        rows.check_state(state)
        row = await self._execute(rows.MARK_ACCOUNT, (state, self._now(), integration_id, shop_id))
        if row is None:
            raise AccountNotFound(f"no account {shop_id!r} of integration {integration_id!r}")
        return rows.account_from(self._box, row)

    # -- OAuth states

    async def create_state(self, integration_id: str, ttl_s: float) -> OAuthState:
        """A new random single-use state, valid ``ttl_s`` seconds."""
        now = self._now()
        row = (secrets.token_urlsafe(32), integration_id, now, now + ttl_s)
        await self._execute(rows.PURGE_STATES, (now,))
        try:
            await self._execute(rows.INSERT_STATE, row)
        except pg_errors.ForeignKeyViolation:
            raise IntegrationNotFound(f"no integration {integration_id!r}") from None
        return rows.state_from(row)

    async def consume_state(self, state: str) -> OAuthState | None:
        """Take a state for good; None when unknown, used or expired."""
        row = await self._execute(rows.CONSUME_STATE, (state,))
        if row is None:
            return None
        found = rows.state_from(row)
        return found if found.expires_at > self._now() else None

    # -- leases: PostgreSQL's session advisory locks

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Hold ``name`` as a session advisory lock of this store's connection.

        The lock lives as long as the connection: ``ttl_s`` is not needed (a replica that
        dies drops its connection and its locks with it, at once), and ``holder`` is this
        store (one per process). Asking again while holding it answers True without
        stacking the lock.
        """
        del holder, ttl_s
        async with self._lock:
            conn = await self._connection()
            if self._locked_on is not conn:  # a new connection holds none of the old locks
                self._locked_on, self._held = conn, set()
            if name in self._held:
                return True
            try:
                cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_lock_key(name),))
                row = await cursor.fetchone()
            except psycopg.Error as exc:
                raise StoreError(f"{self._where}: {exc}") from exc
            if row is not None and row[0]:
                self._held.add(name)
                return True
            return False

    async def release_lease(self, name: str, holder: str) -> bool:
        """Unlock ``name`` if this store's connection holds it."""
        del holder
        async with self._lock:
            conn = self._conn
            if conn is None or self._locked_on is not conn or name not in self._held:
                return False
            self._held.discard(name)
            try:
                cursor = await conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(name),))
                row = await cursor.fetchone()
            except psycopg.Error as exc:
                raise StoreError(f"{self._where}: {exc}") from exc
            return bool(row is not None and row[0])

    # -- the outbox

    async def enqueue(
        self, integration_id: str, dedupe_key: str, event: bytes
    ) -> OutboxEvent | None:
        """Queue an event now; None when its dedupe key is there already."""
        now = self._now()
        row = await self._execute(
            rows.ENQUEUE, (integration_id, dedupe_key, bytes(event), now, now)
        )
        return None if row is None else rows.outbox_from(row)

    async def due_events(self, limit: int = 100) -> list[OutboxEvent]:
        """Undelivered events due now, oldest due first."""
        found = await self._execute(rows.DUE_EVENTS, (self._now(), limit), fetch="all")
        return [rows.outbox_from(row) for row in found]

    async def mark_delivered(self, event_id: int) -> None:
        """Record that the sink took the event."""
        await self._execute(rows.MARK_DELIVERED, (self._now(), event_id))

    async def reschedule(self, event_id: int, next_attempt_at: float) -> OutboxEvent:
        """Count a failed attempt and set when to try again."""
        row = await self._execute(rows.RESCHEDULE, (next_attempt_at, event_id))
        if row is None:
            raise StoreError(f"no outbox event {event_id}")
        return rows.outbox_from(row)

    async def claim_due(self, limit: int, lease_s: float) -> list[OutboxEvent]:
        """Take due events for ``lease_s`` seconds (``FOR UPDATE SKIP LOCKED``, one statement)."""
        now = self._now()
        found = await self._execute(
            rows.CLAIM_DUE_SKIP_LOCKED, (now + lease_s, now, limit), fetch="all"
        )
        return rows.claimed_from(found)

    async def backlog(self) -> OutboxBacklog:
        """The undelivered events' count and the earliest next attempt."""
        return rows.backlog_from(await self._execute(rows.OUTBOX_BACKLOG))

    async def close(self) -> None:
        """Close the connection."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

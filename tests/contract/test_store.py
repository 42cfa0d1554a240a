"""Every Store backend keeps the same promises: SQLite, and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import sqlite3
import stat
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import structlog

from signer.errors import (
    AccountNotFound,
    ConfigError,
    IntegrationExists,
    IntegrationNotFound,
    SecretKeyMismatch,
    StoreError,
)
from signer.store import Account, Integration, OutboxBacklog, Secret, TokenPair, open_store
from signer.store import postgres as postgres_backend
from signer.store import sqlite as sqlite_backend
from signer.store.secrets import KEY_FILE, SecretBox, load_box
from tests.fakes.clock import FakeClock
from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from signer.store import Store
    from tests.support.postgres import PostgresServer

KEY = "the-test-secret-key"
T0 = 1_800_000_000.0
APP_SECRET = "app-secret-PLAINTEXT-0001"
ACCESS = "access-token-PLAINTEXT-0001"
REFRESH = "refresh-token-PLAINTEXT-0001"
SECRETS = (
    APP_SECRET,
    ACCESS,
    REFRESH,
    "access-token-PLAINTEXT-0002",
    "refresh-token-PLAINTEXT-0002",
)
_schemas = itertools.count(1)


@dataclass
class Backend:
    """One database for one test, opened as often as the test likes."""

    name: str
    url: str
    data_dir: Path
    clock: FakeClock
    sqlite_path: Path | None = None
    postgres_url: str | None = None

    async def open(self, secret_key: str | None = KEY) -> Store:
        """A store on this test's database."""
        return await open_store(self.url, self.data_dir, secret_key, now=self.clock)

    def raw(self, statement: str) -> list[tuple[Any, ...]]:
        """Rows read straight from the database, past the store."""
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as db:
                return db.execute(statement).fetchall()
        assert self.postgres_url is not None
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            return conn.execute(statement).fetchall()

    def execute(self, statement: str) -> None:
        """Change the database past the store."""
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as db:
                db.execute(statement)
            return
        assert self.postgres_url is not None
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(statement)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    clock = FakeClock(T0)
    if request.param == "sqlite":
        path = tmp_path / "signer.db"
        return Backend("sqlite", f"sqlite:///{path}", tmp_path, clock, sqlite_path=path)
    server: PostgresServer = request.getfixturevalue("postgres")
    schema = f"t{next(_schemas)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = server.url(schema=schema)
    return Backend("postgresql", url, tmp_path, clock, postgres_url=url)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    yield opened
    await opened.close()


def shop(integration_id: str = "shop-a", **changes: Any) -> Integration:
    fields: dict[str, Any] = {
        "id": integration_id,
        "kind": "shop",
        "app_key": "app-key-a",
        "app_secret": Secret(APP_SECRET),
        "service_id": "7000000000000000001",
    }
    return Integration(**(fields | changes))


def pair(n: int = 1, expires: float = T0 + 3600) -> TokenPair:
    return TokenPair(
        access_token=Secret(f"access-token-PLAINTEXT-000{n}"),
        access_expires_at=expires,
        refresh_token=Secret(f"refresh-token-PLAINTEXT-000{n}"),
        refresh_expires_at=expires + 86400,
    )


def account(shop_id: str = "shop-1", integration_id: str = "shop-a", **changes: Any) -> Account:
    fields: dict[str, Any] = {
        "integration_id": integration_id,
        "shop_id": shop_id,
        "tokens": pair(),
        "shop_cipher": "GCP_cipher_1",
        "seller_name": "Seller One",
        "open_id": "open-1",
        "oauth_begun_at": T0 - 60,
    }
    return Account(**(fields | changes))


# -- integrations


async def test_integrations_add_get_list_remove(store: Store, backend: Backend) -> None:
    added = await store.add_integration(shop())
    assert added == shop(created_at=T0)
    backend.clock.advance(5)
    business = await store.add_integration(
        shop("biz", kind="business", environment="sandbox", service_id=None)
    )
    assert business.created_at == T0 + 5
    assert await store.get_integration("shop-a") == added
    assert await store.get_integration("nope") is None
    assert [i.id for i in await store.list_integrations()] == ["biz", "shop-a"]
    assert (await store.list_integrations())[0].environment == "sandbox"
    assert await store.remove_integration("biz") is True
    assert await store.remove_integration("biz") is False
    assert await store.list_integrations() == [added]


async def test_a_duplicate_integration_is_a_conflict(store: Store) -> None:
    await store.add_integration(shop())
    with pytest.raises(IntegrationExists) as caught:
        await store.add_integration(shop(environment="sandbox", app_key="other"))
    assert caught.value.status == 409
    assert (await store.get_integration("shop-a")) == shop(created_at=T0)


async def test_bad_integration_values_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="kind"):
        await store.add_integration(shop(kind="ads"))
    with pytest.raises(StoreError, match="environment"):
        await store.add_integration(shop(environment="staging"))
    assert await store.list_integrations() == []


# -- accounts and tokens


async def test_accounts_upsert_get_list(store: Store, backend: Backend) -> None:
    await store.add_integration(shop())
    await store.add_integration(shop("shop-b"))
    first = await store.upsert_account(account())
    assert first == account(updated_at=T0)
    await store.upsert_account(account("shop-2"))
    await store.upsert_account(account("shop-9", "shop-b"))
    backend.clock.advance(10)
    changed = await store.upsert_account(account(shop_cipher="GCP_new", seller_name="Renamed"))
    assert changed.updated_at == T0 + 10
    assert await store.get_account("shop-a", "shop-1") == changed
    assert await store.get_account("shop-a", "nope") is None
    assert [a.shop_id for a in await store.list_accounts("shop-a")] == ["shop-1", "shop-2"]
    assert [(a.integration_id, a.shop_id) for a in await store.list_accounts()] == [
        ("shop-a", "shop-1"),
        ("shop-a", "shop-2"),
        ("shop-b", "shop-9"),
    ]


async def test_an_account_needs_its_integration(store: Store) -> None:
    with pytest.raises(IntegrationNotFound):
        await store.upsert_account(account())


async def test_update_tokens_replaces_the_pair_and_reactivates(
    store: Store, backend: Backend
) -> None:
    await store.add_integration(shop())
    await store.upsert_account(account(state="needs_reauthorization"))
    backend.clock.advance(30)
    updated = await store.update_tokens("shop-a", "shop-1", pair(2, T0 + 7200))
    assert updated.tokens == pair(2, T0 + 7200)
    assert updated.state == "active"
    assert updated.updated_at == T0 + 30
    assert updated.shop_cipher == "GCP_cipher_1"
    assert await store.get_account("shop-a", "shop-1") == updated
    with pytest.raises(AccountNotFound):
        await store.update_tokens("shop-a", "nope", pair(2))


async def test_a_failed_token_update_keeps_the_old_pair(store: Store) -> None:
    """The refresh half is refused by the database: the access half is not stored either."""
    await store.add_integration(shop())
    before = await store.upsert_account(account())
    broken = replace(pair(2), refresh_expires_at=-1.0)
    with pytest.raises(StoreError):
        await store.update_tokens("shop-a", "shop-1", broken)
    assert await store.get_account("shop-a", "shop-1") == before


async def test_concurrent_token_updates_never_mix_pairs(store: Store) -> None:
    await store.add_integration(shop())
    await store.upsert_account(account())
    await asyncio.gather(*(store.update_tokens("shop-a", "shop-1", pair(n)) for n in range(2, 8)))
    final = await store.get_account("shop-a", "shop-1")
    assert final is not None
    access = final.tokens.access_token.reveal()
    assert final.tokens.refresh_token.reveal() == access.replace("access", "refresh")


async def test_mark_account(store: Store, backend: Backend) -> None:
    await store.add_integration(shop())
    await store.upsert_account(account())
    backend.clock.advance(1)
    marked = await store.mark_account("shop-a", "shop-1", "needs_reauthorization")
    assert (marked.state, marked.updated_at, marked.tokens) == (
        "needs_reauthorization",
        T0 + 1,
        pair(),
    )
    assert (await store.get_account("shop-a", "shop-1")) == marked
    with pytest.raises(StoreError, match="state"):
        await store.mark_account("shop-a", "shop-1", "gone")  # type: ignore[arg-type]
    with pytest.raises(AccountNotFound):
        await store.mark_account("shop-a", "nope", "active")


async def test_removing_an_integration_removes_its_accounts_and_states(store: Store) -> None:
    await store.add_integration(shop())
    await store.upsert_account(account())
    state = await store.create_state("shop-a", 600)
    await store.enqueue("shop-a", "n-1", b"{}")
    assert await store.remove_integration("shop-a")
    assert await store.list_accounts() == []
    assert await store.consume_state(state.state) is None
    assert [e.dedupe_key for e in await store.due_events()] == ["n-1"]


# -- OAuth states


async def test_a_state_is_single_use(store: Store) -> None:
    await store.add_integration(shop())
    created = await store.create_state("shop-a", 600)
    other = await store.create_state("shop-a", 600)
    assert len(created.state) >= 40
    assert created.state != other.state
    assert (created.integration_id, created.created_at, created.expires_at) == (
        "shop-a",
        T0,
        T0 + 600,
    )
    assert await store.consume_state(created.state) == created
    assert await store.consume_state(created.state) is None
    assert await store.consume_state(other.state) == other
    assert await store.consume_state("never-issued") is None


async def test_concurrent_consumers_of_one_state_get_it_once(store: Store) -> None:
    await store.add_integration(shop())
    created = await store.create_state("shop-a", 600)
    taken = await asyncio.gather(*(store.consume_state(created.state) for _ in range(5)))
    assert taken.count(created) == 1
    assert taken.count(None) == 4


async def test_an_expired_state_fails(store: Store, backend: Backend) -> None:
    await store.add_integration(shop())
    created = await store.create_state("shop-a", 600)
    backend.clock.advance(600)
    assert await store.consume_state(created.state) is None
    with pytest.raises(IntegrationNotFound):
        await store.create_state("nope", 600)


# -- the outbox


async def test_enqueue_is_idempotent_on_the_dedupe_key(store: Store) -> None:
    first = await store.enqueue("shop-a", "tts-1", b'{"id":"tts-1"}')
    assert first is not None
    assert (first.attempts, first.next_attempt_at, first.delivered_at) == (0, T0, None)
    assert await store.enqueue("shop-a", "tts-1", b'{"id":"tts-1","again":1}') is None
    other_integration = await store.enqueue("shop-b", "tts-1", b"{}")
    assert other_integration is not None
    assert [(e.integration_id, e.event) for e in await store.due_events()] == [
        ("shop-a", b'{"id":"tts-1"}'),
        ("shop-b", b"{}"),
    ]
    await store.mark_delivered(first.id)
    assert await store.enqueue("shop-a", "tts-1", b"{}") is None


async def test_claimed_events_wait_for_their_lease(store: Store, backend: Backend) -> None:
    """A claim takes due events by id and hides them until the lease ends (a dead claimer)."""
    queued = [await store.enqueue("shop-a", f"c{n}", b"{}") for n in range(3)]
    ids = [event.id for event in queued if event is not None]
    claimed = await store.claim_due(2, 30)
    assert [(e.id, e.attempts, e.next_attempt_at) for e in claimed] == [
        (ids[0], 0, T0 + 30),
        (ids[1], 0, T0 + 30),
    ]
    assert [e.id for e in await store.claim_due(10, 30)] == [ids[2]]
    assert await store.claim_due(10, 30) == []
    assert await store.due_events() == []
    assert await store.backlog() == OutboxBacklog(undelivered=3, next_attempt_at=T0 + 30)
    await store.mark_delivered(ids[0])
    later = await store.reschedule(ids[1], T0 + 5)
    assert (later.attempts, later.next_attempt_at) == (1, T0 + 5)
    backend.clock.advance(5)
    assert [e.id for e in await store.claim_due(10, 30)] == [ids[1]]
    backend.clock.advance(25)
    assert [e.id for e in await store.claim_due(10, 30)] == [ids[2]]  # its claimer died
    assert await store.backlog() == OutboxBacklog(undelivered=2, next_attempt_at=T0 + 35)


async def test_an_empty_outbox_has_no_backlog(store: Store) -> None:
    """No event, or every event delivered: nothing undelivered and nothing due."""
    assert await store.backlog() == OutboxBacklog(undelivered=0, next_attempt_at=None)
    queued = await store.enqueue("shop-a", "k", b"{}")
    assert queued is not None
    await store.mark_delivered(queued.id)
    assert await store.backlog() == OutboxBacklog(undelivered=0, next_attempt_at=None)


async def test_concurrent_claims_never_take_one_event_twice(backend: Backend) -> None:
    """Several stores on one database (workers, replicas) claim at once: each event once."""
    stores = [await backend.open() for _ in range(4)]
    try:
        for n in range(60):
            await stores[0].enqueue("shop-a", f"k{n}", b"{}")

        async def drain(store: Store) -> list[int]:
            taken: list[int] = []
            while claimed := await store.claim_due(7, 60):
                taken.extend(event.id for event in claimed)
                await asyncio.sleep(0)
            return taken

        results = await asyncio.gather(*(drain(store) for store in stores * 2))
    finally:
        for store in stores:
            await store.close()
    taken = [event_id for result in results for event_id in result]
    assert len(taken) == len(set(taken)) == 60


async def test_due_events_ordering_backoff_and_delivery(store: Store, backend: Backend) -> None:
    events = []
    for n in range(3):
        queued = await store.enqueue("shop-a", f"k{n}", f'{{"n":{n}}}'.encode())
        assert queued is not None
        events.append(queued)
        backend.clock.advance(1)
    now = T0 + 3
    assert [e.id for e in await store.due_events()] == [e.id for e in events]
    assert [e.id for e in await store.due_events(limit=2)] == [e.id for e in events[:2]]

    later = await store.reschedule(events[0].id, now + 10)
    assert (later.attempts, later.next_attempt_at) == (1, now + 10)
    await store.mark_delivered(events[1].id)
    assert [e.id for e in await store.due_events()] == [events[2].id]

    backend.clock.advance(10)
    again = await store.reschedule(events[2].id, now + 5)
    assert again.attempts == 1
    due = await store.due_events()
    assert [(e.id, e.attempts) for e in due] == [(events[2].id, 1), (events[0].id, 1)]
    await store.mark_delivered(events[0].id)
    await store.mark_delivered(events[0].id)  # twice: nothing changes
    await store.mark_delivered(events[2].id)
    assert await store.due_events() == []
    with pytest.raises(StoreError):
        await store.reschedule(999_999, now)


# -- leases (each holder its own store, as each process has)


async def test_lease_has_one_holder_until_it_is_given_up(backend: Backend) -> None:
    """Taken when free, kept by its holder, refused to others; released, taken by another."""
    first, second = await backend.open(), await backend.open()
    try:
        assert await first.acquire_lease("refresher", "worker-1", 60)
        assert not await second.acquire_lease("refresher", "worker-2", 60)
        assert await second.acquire_lease("other-job", "worker-2", 60)  # leases are by name
        backend.clock.advance(30)
        assert await first.acquire_lease("refresher", "worker-1", 60)  # renewed (or still held)
        assert not await second.acquire_lease("refresher", "worker-2", 60)
        assert not await second.release_lease("refresher", "worker-2")  # not its to give up
        assert await first.release_lease("refresher", "worker-1")
        assert await second.acquire_lease("refresher", "worker-2", 60)
        assert not await first.acquire_lease("refresher", "worker-1", 60)
    finally:
        await first.close()
        await second.close()


async def test_a_dead_holders_lease_is_taken_over(backend: Backend) -> None:
    """A holder gone without releasing: another takes the lease.

    At once on PostgreSQL (the connection's advisory lock ends), after the TTL on SQLite.
    """
    holder, other = await backend.open(), await backend.open()
    try:
        assert await holder.acquire_lease("refresher", "worker-1", 60)
        await holder.close()
        if backend.name == "sqlite":
            assert not await other.acquire_lease("refresher", "worker-2", 60)
            backend.clock.advance(61)
        assert await other.acquire_lease("refresher", "worker-2", 60)
    finally:
        await other.close()


async def test_concurrent_lease_takers_get_one_holder(backend: Backend) -> None:
    """Eight stores (as eight processes would) race for one lease: exactly one wins."""
    stores = [await backend.open() for _ in range(8)]
    try:
        won = await asyncio.gather(
            *(s.acquire_lease("refresher", f"worker-{n}", 60) for n, s in enumerate(stores))
        )
    finally:
        for opened in stores:
            await opened.close()
    assert sum(won) == 1


# -- migrations


async def test_migrations_rerun_safely(backend: Backend) -> None:
    first = await backend.open()
    await first.add_integration(shop())
    await first.close()
    stores = await asyncio.gather(*(backend.open() for _ in range(3)))
    try:
        assert await stores[0].get_integration("shop-a") == shop(created_at=T0)
    finally:
        for opened in stores:
            await opened.close()
    module = sqlite_backend if backend.name == "sqlite" else postgres_backend
    versions = [row[0] for row in backend.raw("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, len(module.MIGRATIONS) + 1))


async def test_a_newer_schema_is_refused(backend: Backend) -> None:
    opened = await backend.open()
    await opened.close()
    backend.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)")
    with pytest.raises(StoreError, match="version 99"):
        await backend.open()


# -- secrets at rest


async def test_secrets_are_encrypted_at_rest(store: Store, backend: Backend) -> None:
    await store.add_integration(shop())
    await store.upsert_account(account())
    await store.update_tokens("shop-a", "shop-1", pair(2))
    dump = repr(backend.raw("SELECT * FROM integrations")) + repr(
        backend.raw("SELECT * FROM accounts")
    )
    rows = backend.raw("SELECT * FROM integrations") + backend.raw("SELECT * FROM accounts")
    cells = [cell for row in rows for cell in row]
    blobs = b"".join(bytes(cell) for cell in cells if isinstance(cell, bytes | memoryview))
    for secret in SECRETS:
        assert secret not in dump
        assert secret.encode() not in blobs
    assert "app-key-a" in dump  # the app key is not a secret


async def test_a_wrong_key_is_a_clear_error(store: Store, backend: Backend) -> None:
    await store.add_integration(shop())
    await store.upsert_account(account())
    wrong = await backend.open(secret_key="another-key")
    try:
        with pytest.raises(SecretKeyMismatch, match="different key") as caught:
            await wrong.get_integration("shop-a")
        assert APP_SECRET not in str(caught.value)
        with pytest.raises(SecretKeyMismatch):
            await wrong.list_accounts()
    finally:
        await wrong.close()


async def test_a_secret_moved_to_another_row_does_not_decrypt(
    store: Store, backend: Backend
) -> None:
    await store.add_integration(shop())
    await store.add_integration(shop("shop-b"))
    await store.upsert_account(account())
    backend.execute(
        "UPDATE integrations SET app_secret = "
        "(SELECT app_secret FROM integrations WHERE id = 'shop-a') WHERE id = 'shop-b'"
    )
    backend.execute("UPDATE accounts SET refresh_token = access_token")
    with pytest.raises(SecretKeyMismatch, match="altered or moved"):
        await store.get_integration("shop-b")
    with pytest.raises(SecretKeyMismatch, match="altered or moved"):
        await store.get_account("shop-a", "shop-1")


async def test_no_secret_in_repr_or_logs(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        opened = await backend.open()
        try:
            integration = await opened.add_integration(shop())
            stored = await opened.upsert_account(account())
            await opened.update_tokens("shop-a", "shop-1", pair(2))
            with pytest.raises(StoreError) as failed:
                await opened.update_tokens(
                    "shop-a", "shop-1", replace(pair(2), access_expires_at=-1)
                )
        finally:
            await opened.close()
    shown = " ".join(
        [repr(integration), str(integration), repr(stored), f"{stored}", repr(opened)]
        + [repr(log) for log in logs]
        + [record.getMessage() for record in caplog.records]
        + [str(failed.value), repr(failed.value.__cause__)]
    )
    assert "***" in repr(integration)
    assert logs  # the store logs its opening
    for secret in SECRETS:
        assert secret not in shown


# -- the key, the factory (no backend parameter)


async def test_the_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await open_store(None, data, None, now=FakeClock(T0))
    await first.add_integration(shop())
    await first.close()
    key_file = data / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (data / "signer.db").is_file()
    assert [p.name for p in data.iterdir() if p.name.startswith(".")] == []
    again = await open_store(None, data, None)
    try:
        assert await again.get_integration("shop-a") == shop(created_at=T0)
    finally:
        await again.close()


def test_a_key_file_open_to_others_is_refused(tmp_path: Path) -> None:
    load_box(None, tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_box(None, tmp_path)


def test_an_empty_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_box("", tmp_path)
    fd = os.open(tmp_path / KEY_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    with pytest.raises(ConfigError, match="empty"):
        load_box(None, tmp_path)


def test_the_key_comes_from_any_string() -> None:
    sealed = SecretBox("one key").encrypt(Secret("s3cret"), "ctx")
    assert SecretBox("one key").decrypt(sealed, "ctx") == Secret("s3cret")
    with pytest.raises(SecretKeyMismatch, match="different key"):
        SecretBox("another").decrypt(sealed, "ctx")
    with pytest.raises(SecretKeyMismatch, match="format"):
        SecretBox("one key").decrypt(b"plaintext", "ctx")
    assert repr(SecretBox("one key")) == "SecretBox(***)"


def test_a_secret_never_shows() -> None:
    secret = Secret("hunter2")
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret:>20}" == "'***'"
    assert "hunter2" not in f"{secret!r} {secret!s} {secret} {secret:>20} {[secret]}"
    assert secret == Secret("hunter2")
    assert secret != Secret("other")
    assert hash(secret) == hash(Secret("hunter2"))
    with pytest.raises(TypeError):
        pickle.dumps(secret)


async def test_open_store_urls(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.db"
    opened = await open_store(f"sqlite:///{path}", tmp_path, KEY)
    await opened.close()
    assert path.is_file()
    with pytest.raises(ConfigError, match="SIGNER_DATABASE_URL"):
        await open_store("mysql://x/y", tmp_path, KEY)
    with pytest.raises(ConfigError, match="SIGNER_DATABASE_URL"):
        await open_store("sqlite://relative.db", tmp_path, KEY)


async def test_an_unreachable_postgres_is_a_clear_error_without_the_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://user:hunter2-password@127.0.0.1:{free_port()}/signer"
    with pytest.raises(StoreError, match="cannot connect") as caught:
        await open_store(url, tmp_path, KEY)
    assert "hunter2-password" not in f"{caught.value} {caught.value.__cause__!r}"


async def test_postgres_reconnects_after_losing_its_connection(postgres: PostgresServer) -> None:
    schema = f"t{next(_schemas)}"
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        opened = await open_store(postgres.url(schema=schema), postgres.directory, KEY)
        try:
            await opened.add_integration(shop())
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = 'postgres'"
            )
            with pytest.raises(StoreError):
                await opened.get_integration("shop-a")
            found = await opened.get_integration("shop-a")
            assert found is not None
            assert found.app_secret == Secret(APP_SECRET)
        finally:
            await opened.close()

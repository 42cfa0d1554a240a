"""The credential store: partner integrations, their sellers' accounts and tokens, the outbox.

What the partner routes keep between requests and restarts lives behind one async
:class:`Store`: SQLite in the data dir by default (``sqlite.py``), PostgreSQL with
``SIGNER_DATABASE_URL=postgresql://...`` (``postgres.py``, the only importer of psycopg).
Both apply the same versioned schema migrations at open and record them in
``schema_version``. Secrets (app secrets, access and refresh tokens) are :class:`Secret`
values in memory and AES-GCM ciphertext at rest (``secrets.py``).

Times are absolute Unix seconds; each backend takes a ``now`` callable so tests control them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, get_args
from urllib.parse import unquote, urlsplit

from signer.errors import ConfigError
from signer.store.secrets import Secret, load_box

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Account",
    "AccountState",
    "Environment",
    "Integration",
    "IntegrationKind",
    "OAuthState",
    "OutboxBacklog",
    "OutboxEvent",
    "Secret",
    "Store",
    "TokenPair",
    "open_store",
]

IntegrationKind = Literal["shop", "developers", "business"]
Environment = Literal["production", "sandbox"]
AccountState = Literal["active", "needs_reauthorization"]

KINDS: tuple[IntegrationKind, ...] = get_args(IntegrationKind)
ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)
ACCOUNT_STATES: tuple[AccountState, ...] = get_args(AccountState)


@dataclass(frozen=True, slots=True)
class Integration:
    """One partner app registered with TikTok; its id is unique in the store.

    ``id`` names it in the partner routes (``{"integration": id}``, ``/webhooks/.../{id}``),
    so one id is one environment: a sandbox app is stored under an id of its own.
    """

    id: str
    kind: IntegrationKind
    app_key: str
    app_secret: Secret
    environment: Environment = "production"
    #: The Shop app's service id (the current authorize URL's ``service_id``).
    service_id: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and its refresh token, with their absolute expiry times."""

    access_token: Secret
    access_expires_at: float
    refresh_token: Secret
    refresh_expires_at: float


@dataclass(frozen=True, slots=True)
class Account:
    """A seller who authorized an integration: its shop and its current tokens.

    ``(integration_id, shop_id)`` is the key; a caller that knows no shop id yet (right after
    the code exchange) may key the account by the seller's ``open_id``.
    """

    integration_id: str
    shop_id: str
    tokens: TokenPair
    shop_cipher: str | None = None
    seller_name: str | None = None
    open_id: str | None = None
    oauth_begun_at: float | None = None
    state: AccountState = "active"
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class OAuthState:
    """A random, single-use ``state`` of one OAuth authorization, valid until ``expires_at``."""

    state: str
    integration_id: str
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A CloudEvent waiting for (or done with) its delivery to the sink."""

    id: int
    integration_id: str
    #: What makes two webhooks the same event (``tts_notification_id``, or the signature).
    dedupe_key: str
    #: The CloudEvent as it goes to the sink (serialised JSON).
    event: bytes
    attempts: int
    next_attempt_at: float
    created_at: float
    delivered_at: float | None = None


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """How many events still wait for the sink, and when the next one is due (None: none)."""

    undelivered: int
    next_attempt_at: float | None


class Store(Protocol):
    """The one seam for partner credentials, tokens, OAuth states and the webhook outbox."""

    # -- integrations
    async def add_integration(self, integration: Integration) -> Integration:
        """Store a new integration; its ``created_at`` is now.

        Raises :class:`~signer.errors.IntegrationExists` when the id is taken.
        """

    async def get_integration(self, integration_id: str) -> Integration | None:
        """The integration of that id, or None."""

    async def list_integrations(self) -> list[Integration]:
        """Every integration, by id."""

    async def remove_integration(self, integration_id: str) -> bool:
        """Forget an integration with its accounts and OAuth states; False if it was not there.

        Its outbox events stay: they were verified and are still owed to the sink.
        """

    # -- accounts
    async def upsert_account(self, account: Account) -> Account:
        """Store an account, replacing the one of the same key; ``updated_at`` is now.

        Raises :class:`~signer.errors.IntegrationNotFound` when the integration does not exist.
        """

    async def get_account(self, integration_id: str, shop_id: str) -> Account | None:
        """The account, or None."""

    async def list_accounts(self, integration_id: str | None = None) -> list[Account]:
        """The accounts of one integration (or all), by integration and shop id."""

    async def update_tokens(self, integration_id: str, shop_id: str, tokens: TokenPair) -> Account:
        """Replace both tokens at once (one transaction) and mark the account active.

        Either the whole new pair is stored or, on any failure, the old pair stays.
        Raises :class:`~signer.errors.AccountNotFound` when there is no such account.
        """

    async def mark_account(self, integration_id: str, shop_id: str, state: AccountState) -> Account:
        """Set the account's state; raises :class:`~signer.errors.AccountNotFound`."""

    # -- OAuth states
    async def create_state(self, integration_id: str, ttl_s: float) -> OAuthState:
        """A new random state for an authorization of ``integration_id``, valid ``ttl_s``."""

    async def consume_state(self, state: str) -> OAuthState | None:
        """Take a state for good: the state when it exists and has not expired, else None.

        A state is consumed once: a second call with it returns None.
        """

    # -- leases (one holder among several processes or replicas)
    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` (this process); whether it has it.

        One holder at a time. SQLite: a row taken when free, when its holder's ``ttl_s``
        ran out, or renewed by its holder (one statement). PostgreSQL: a session advisory
        lock of the store's connection, freed when that connection ends (a dead replica's
        at once); ``ttl_s`` does not apply there.
        """

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up (only its holder can); whether it was held by ``holder``."""

    # -- the outbox
    async def enqueue(
        self, integration_id: str, dedupe_key: str, event: bytes
    ) -> OutboxEvent | None:
        """Queue an event for delivery now; None (nothing queued) when the key is there already."""

    async def due_events(self, limit: int = 100) -> list[OutboxEvent]:
        """Undelivered events whose next attempt is due, oldest due first."""

    async def mark_delivered(self, event_id: int) -> None:
        """Record that the sink took the event."""

    async def reschedule(self, event_id: int, next_attempt_at: float) -> OutboxEvent:
        """Count a failed attempt and set when to try again."""

    async def claim_due(self, limit: int, lease_s: float) -> list[OutboxEvent]:
        """Take up to ``limit`` due, undelivered events for ``lease_s`` seconds, by id.

        In one transaction their ``next_attempt_at`` becomes now + ``lease_s``, so no other
        caller (another worker process or replica) claims them meanwhile; the claimer then
        calls :meth:`mark_delivered` or :meth:`reschedule` for each. Events whose claimer
        died are due again when the lease ends: nothing is lost, at worst sent twice.
        """

    async def backlog(self) -> OutboxBacklog:
        """The undelivered events' count and the earliest ``next_attempt_at`` among them."""

    async def close(self) -> None:
        """Release the connection (and its thread)."""


def _sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/") or rest == "/":
        raise ConfigError("SIGNER_DATABASE_URL: a SQLite URL is sqlite:///PATH")
    return unquote(rest[1:])


async def open_store(
    database_url: str | None,
    data_dir: Path,
    secret_key: str | None,
    *,
    now: Callable[[], float] | None = None,
) -> Store:
    """Open (and migrate) the store ``database_url`` names; unset: SQLite in ``data_dir``.

    ``secret_key`` is ``SIGNER_SECRET_KEY``; unset, the key is ``<data_dir>/secret.key``
    (created on first use). ``now`` is the clock (``time.time`` unless a test gives one).
    """
    box = await asyncio.to_thread(load_box, secret_key, data_dir)
    scheme = urlsplit(database_url).scheme.lower() if database_url else "sqlite"
    if scheme == "sqlite":
        from signer.store.sqlite import SqliteStore  # noqa: PLC0415 (no import cycle)

        path = _sqlite_path(database_url) if database_url else str(data_dir / "signer.db")
        if path != ":memory:":
            await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
        return await SqliteStore.open(path, box, now=now)
    if scheme in {"postgresql", "postgres"}:
        from signer.store.postgres import PostgresStore  # noqa: PLC0415 (psycopg only there)

        assert database_url is not None  # noqa: S101 (the scheme came from it)
        return await PostgresStore.open(database_url, box, now=now)
    raise ConfigError(
        f"SIGNER_DATABASE_URL: unsupported scheme {scheme!r} (sqlite:/// or postgresql://)"
    )

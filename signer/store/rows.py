"""What both backends share: column lists and the record ⇄ row codec (secrets sealed here).

The SQL of each backend stays in its own module; a row is a tuple in the column order below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

from signer.errors import StoreError
from signer.store import (
    ACCOUNT_STATES,
    ENVIRONMENTS,
    KINDS,
    Account,
    Integration,
    OAuthState,
    OutboxBacklog,
    OutboxEvent,
    TokenPair,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from signer.store import AccountState, Environment, IntegrationKind
    from signer.store.secrets import SecretBox

    Row = Sequence[Any]

INTEGRATION_COLUMNS: Final = "id, kind, app_key, app_secret, environment, service_id, created_at"
ACCOUNT_COLUMNS: Final = (
    "integration_id, shop_id, shop_cipher, seller_name, open_id, oauth_begun_at, "
    "access_token, access_expires_at, refresh_token, refresh_expires_at, state, updated_at"
)
STATE_COLUMNS: Final = "state, integration_id, created_at, expires_at"
OUTBOX_COLUMNS: Final = (
    "id, integration_id, dedupe_key, event, attempts, next_attempt_at, created_at, delivered_at"
)


def _context(*parts: str) -> str:
    return "/".join(parts)


def app_secret_context(integration_id: str) -> str:
    """The associated data of an integration's sealed app secret."""
    return _context("integration", integration_id, "app_secret")


def token_context(integration_id: str, shop_id: str, which: str) -> str:
    """The associated data of an account's sealed ``access_token`` or ``refresh_token``."""
    return _context("account", integration_id, shop_id, which)


def check_integration(integration: Integration) -> None:
    """Refuse values the schema would not (clear errors rather than a constraint name)."""
    if not integration.id or not integration.app_key:
        raise StoreError("an integration needs an id and an app key")
    if integration.kind not in KINDS:
        raise StoreError(f"unknown integration kind {integration.kind!r}")
    if integration.environment not in ENVIRONMENTS:
        raise StoreError(f"unknown environment {integration.environment!r}")


def check_state(state: str) -> None:
    """Refuse an account state that is not one of :data:`ACCOUNT_STATES`."""
    if state not in ACCOUNT_STATES:
        raise StoreError(f"unknown account state {state!r}")


def integration_row(box: SecretBox, integration: Integration, created_at: float) -> tuple[Any, ...]:
    """The row of a new integration, its secret sealed."""
    return (
        integration.id,
        integration.kind,
        integration.app_key,
        box.encrypt(integration.app_secret, app_secret_context(integration.id)),
        integration.environment,
        integration.service_id,
        created_at,
    )


def integration_from(box: SecretBox, row: Row) -> Integration:
    """The integration of a row, its secret opened."""
    return Integration(
        id=row[0],
        kind=cast("IntegrationKind", row[1]),
        app_key=row[2],
        app_secret=box.decrypt(row[3], app_secret_context(row[0])),
        environment=cast("Environment", row[4]),
        service_id=row[5],
        created_at=float(row[6]),
    )


def sealed_tokens(
    box: SecretBox, integration_id: str, shop_id: str, tokens: TokenPair
) -> tuple[bytes, float, bytes, float]:
    """The four token columns of a pair, both tokens sealed."""
    return (
        box.encrypt(tokens.access_token, token_context(integration_id, shop_id, "access_token")),
        tokens.access_expires_at,
        box.encrypt(tokens.refresh_token, token_context(integration_id, shop_id, "refresh_token")),
        tokens.refresh_expires_at,
    )


def account_row(box: SecretBox, account: Account, updated_at: float) -> tuple[Any, ...]:
    """The row of an account, its tokens sealed."""
    check_state(account.state)
    return (
        account.integration_id,
        account.shop_id,
        account.shop_cipher,
        account.seller_name,
        account.open_id,
        account.oauth_begun_at,
        *sealed_tokens(box, account.integration_id, account.shop_id, account.tokens),
        account.state,
        updated_at,
    )


def account_from(box: SecretBox, row: Row) -> Account:
    """The account of a row, its tokens opened."""
    integration_id, shop_id = row[0], row[1]
    return Account(
        integration_id=integration_id,
        shop_id=shop_id,
        shop_cipher=row[2],
        seller_name=row[3],
        open_id=row[4],
        oauth_begun_at=None if row[5] is None else float(row[5]),
        tokens=TokenPair(
            access_token=box.decrypt(
                row[6], token_context(integration_id, shop_id, "access_token")
            ),
            access_expires_at=float(row[7]),
            refresh_token=box.decrypt(
                row[8], token_context(integration_id, shop_id, "refresh_token")
            ),
            refresh_expires_at=float(row[9]),
        ),
        state=cast("AccountState", row[10]),
        updated_at=float(row[11]),
    )


def state_from(row: Row) -> OAuthState:
    """The OAuth state of a row."""
    return OAuthState(
        state=row[0], integration_id=row[1], created_at=float(row[2]), expires_at=float(row[3])
    )


def outbox_from(row: Row) -> OutboxEvent:
    """The outbox event of a row."""
    return OutboxEvent(
        id=int(row[0]),
        integration_id=row[1],
        dedupe_key=row[2],
        event=bytes(row[3]),
        attempts=int(row[4]),
        next_attempt_at=float(row[5]),
        created_at=float(row[6]),
        delivered_at=None if row[7] is None else float(row[7]),
    )


def claimed_from(found: Sequence[Row]) -> list[OutboxEvent]:
    """The claimed events of ``RETURNING`` rows (in no set order there), oldest first."""
    return sorted((outbox_from(row) for row in found), key=lambda event: event.id)


def backlog_from(row: Row | None) -> OutboxBacklog:
    """The backlog of a ``COUNT(*), MIN(next_attempt_at)`` row."""
    if row is None or not row[0]:
        return OutboxBacklog(undelivered=0, next_attempt_at=None)
    return OutboxBacklog(undelivered=int(row[0]), next_attempt_at=float(row[1]))


# -- the statements both backends run (``%s`` placeholders; SQLite's module swaps in ``?``)

INSERT_INTEGRATION: Final = (
    f"INSERT INTO integrations ({INTEGRATION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
SELECT_INTEGRATION: Final = f"SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE id = %s"
LIST_INTEGRATIONS: Final = f"SELECT {INTEGRATION_COLUMNS} FROM integrations ORDER BY id"
DELETE_INTEGRATION: Final = "DELETE FROM integrations WHERE id = %s"

UPSERT_ACCOUNT: Final = (
    f"INSERT INTO accounts ({ACCOUNT_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (integration_id, shop_id) DO UPDATE SET "
    "shop_cipher = excluded.shop_cipher, seller_name = excluded.seller_name, "
    "open_id = excluded.open_id, oauth_begun_at = excluded.oauth_begun_at, "
    "access_token = excluded.access_token, access_expires_at = excluded.access_expires_at, "
    "refresh_token = excluded.refresh_token, refresh_expires_at = excluded.refresh_expires_at, "
    "state = excluded.state, updated_at = excluded.updated_at"
)
SELECT_ACCOUNT: Final = (
    f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE integration_id = %s AND shop_id = %s"
)
LIST_ACCOUNTS: Final = f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY integration_id, shop_id"
LIST_ACCOUNTS_OF: Final = (
    f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE integration_id = %s ORDER BY shop_id"
)
#: Both tokens and their expiry in one statement: the pair is replaced whole or not at all.
UPDATE_TOKENS: Final = (
    "UPDATE accounts SET access_token = %s, access_expires_at = %s, "
    "refresh_token = %s, refresh_expires_at = %s, state = 'active', updated_at = %s "
    f"WHERE integration_id = %s AND shop_id = %s RETURNING {ACCOUNT_COLUMNS}"
)
MARK_ACCOUNT: Final = (
    "UPDATE accounts SET state = %s, updated_at = %s "
    f"WHERE integration_id = %s AND shop_id = %s RETURNING {ACCOUNT_COLUMNS}"
)

PURGE_STATES: Final = "DELETE FROM oauth_states WHERE expires_at <= %s"
INSERT_STATE: Final = f"INSERT INTO oauth_states ({STATE_COLUMNS}) VALUES (%s, %s, %s, %s)"
#: Deleting is what makes a state single-use: only one caller gets the row back.
CONSUME_STATE: Final = f"DELETE FROM oauth_states WHERE state = %s RETURNING {STATE_COLUMNS}"

ENQUEUE: Final = (
    "INSERT INTO outbox (integration_id, dedupe_key, event, attempts, next_attempt_at, "
    "created_at) VALUES (%s, %s, %s, 0, %s, %s) "
    f"ON CONFLICT (integration_id, dedupe_key) DO NOTHING RETURNING {OUTBOX_COLUMNS}"
)
DUE_EVENTS: Final = (
    f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= %s "
    "ORDER BY next_attempt_at, id LIMIT %s"
)
MARK_DELIVERED: Final = "UPDATE outbox SET delivered_at = %s WHERE id = %s AND delivered_at IS NULL"
RESCHEDULE: Final = (
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = %s "
    f"WHERE id = %s RETURNING {OUTBOX_COLUMNS}"
)
#: The due events, oldest due first (what :data:`CLAIM_DUE` takes).
_DUE_IDS: Final = (
    "SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= %s "
    "ORDER BY next_attempt_at, id LIMIT %s"
)
#: Claim due events: their next attempt moves to the lease's end in the same statement, so
#: no other deliverer sees them due until then (SQLite: ``BEGIN IMMEDIATE`` serialises it).
CLAIM_DUE: Final = (
    f"UPDATE outbox SET next_attempt_at = %s WHERE id IN ({_DUE_IDS}) RETURNING {OUTBOX_COLUMNS}"
)
#: PostgreSQL's claim: rows another transaction is claiming are skipped, not waited for.
CLAIM_DUE_SKIP_LOCKED: Final = (
    f"UPDATE outbox SET next_attempt_at = %s WHERE id IN ({_DUE_IDS} FOR UPDATE SKIP LOCKED) "
    f"RETURNING {OUTBOX_COLUMNS}"
)
OUTBOX_BACKLOG: Final = (
    "SELECT COUNT(*), MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL"
)

#: The bookkeeping table of the migrations, created before any of them.
SCHEMA_VERSION_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
)
SELECT_VERSIONS: Final = "SELECT version FROM schema_version ORDER BY version"
RECORD_VERSION: Final = "INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)"


def pending(applied: Sequence[int], known: int) -> range:
    """The versions still to apply, given the ones ``schema_version`` records.

    Raises :class:`~signer.errors.StoreError` when the database was migrated by a newer
    version of the service (its schema may not be what this one reads).
    """
    latest = max(applied, default=0)
    if latest > known:
        raise StoreError(
            f"the store's schema is at version {latest}, newer than this service's {known}: "
            "run the newer service, or restore a backup"
        )
    return range(latest + 1, known + 1)

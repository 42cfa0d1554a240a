"""Access control of the sign routes: client keys, rate limits, the keys file, ``keys add``."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from signer.access.guard import CLIENT, Guard, client_address
from signer.access.keys import KeyStore
from signer.access.ratelimit import RateLimiter
from signer.app_keys import ENVELOPES, GUARD, SETTINGS
from signer.cli import main
from signer.errors import ConfigError, EmptyBody
from signer.groups import RouteGroup
from signer.metrics import Metrics
from signer.middleware import make_edge_middleware
from signer.settings import Settings, load_settings
from signer.state import operator
from signer.state.memory import MemoryState
from tests.fakes.clock import FakeClock
from tests.support import REPO

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from pathlib import Path

    from aiohttp.test_utils import TestClient

    Client = TestClient[Any, Any]
    Serve = Callable[..., Awaitable[Client]]

ALICE_KEY = "alice-0f5c2d7e9b1a4c6d8e0f2a4b6c8d0e1f"
BOB_KEY = "bob-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
ADMIN_KEY = "admin-7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
SECRETS = (ALICE_KEY, BOB_KEY, ADMIN_KEY)


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def sign(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "client": request.get(CLIENT)})


async def signature(request: web.Request) -> web.Response:
    if not await request.read():
        raise EmptyBody("the body is empty")
    return web.json_response({"status": "ok"})


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(
    settings: Settings,
    *,
    clock: FakeClock | None = None,
    metrics: Metrics | None = None,
    protected: Iterable[str] = ("/signature", "/sign"),
) -> web.Application:
    """The edge middleware and the guard in front of stand-in handlers."""
    metrics = metrics or Metrics()
    limiter = RateLimiter.from_settings(settings, clock=clock or FakeClock())
    state = MemoryState(operator.initial(["native"]), limiter=limiter)
    envelopes: dict[str, Any] = {}
    app = web.Application(middlewares=[make_edge_middleware(metrics, envelopes)])
    app[ENVELOPES] = envelopes
    app[SETTINGS] = settings
    app[GUARD] = Guard.from_settings(settings, state, metrics)

    async def metrics_route(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), content_type="text/plain")

    handlers = {"/sign": sign, "/signature": signature, "/other": sign}
    guarded = web.RouteTableDef()
    for path, handler in handlers.items():
        if path in protected:
            guarded.post(path)(handler)
        else:
            app.router.add_post(path, handler)
    RouteGroup("test", guarded, guarded=True).register(app)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_route)
    return app


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.write_text(f"alice:{sha(ALICE_KEY)}\nbob:{sha(BOB_KEY)}\n", encoding="utf-8")
    return path


@pytest.fixture
def keyed(keys_file: Path) -> Settings:
    """Client keys alice and bob, and an admin key."""
    return Settings(providers=("native",), api_keys_file=keys_file, admin_key=ADMIN_KEY)


@pytest.fixture
def serve(aiohttp_client: Any) -> Serve:
    async def _serve(settings: Settings, **kwargs: Any) -> Client:
        client: Client = await aiohttp_client(build_app(settings, **kwargs))
        return client

    return _serve


def limited(**more: Any) -> Settings:
    return Settings(providers=("native",), rate_limit_rps=1, rate_limit_burst=2, **more)


# -- keys


async def test_without_keys_the_sign_routes_are_open(serve: Serve) -> None:
    """With no keys configured a sign request needs no key."""
    client = await serve(Settings(providers=("native",)))
    response = await client.post("/sign")
    assert response.status == 200
    assert "RateLimit-Limit" not in response.headers


def test_start_up_logs_the_access_configuration(keyed: Settings) -> None:
    """One start-up line gives the key count and the limit, never a name or key."""
    settings = keyed.model_copy(update={"rate_limit_rps": 2.5})
    with structlog.testing.capture_logs() as logs:
        Guard.from_settings(settings, MemoryState(operator.initial(["native"])), Metrics())
    assert logs == [
        {
            "event": "access_control",
            "log_level": "info",
            "client_keys": 2,
            "rate_limit_rps": 2.5,
            "rate_limit_burst": 3,
            "rate_limit_windows": {},
            "rate_limit_per": "client",
        }
    ]


async def test_missing_key_is_401(serve: Serve, keyed: Settings) -> None:
    """A sign request without a key is a 401 missing_api_key JSON error."""
    client = await serve(keyed)
    response = await client.post("/sign")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = await response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == "missing_api_key"
    assert "X-Api-Key" in body["error"]["message"]


async def test_wrong_key_is_401(serve: Serve, keyed: Settings) -> None:
    """A key that is not a client key is a 401 invalid_api_key."""
    client = await serve(keyed)
    response = await client.post("/signature", headers={"X-Api-Key": "not-a-key"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json())["error"]["code"] == "invalid_api_key"


async def test_x_api_key_header_is_accepted(serve: Serve, keyed: Settings) -> None:
    """The key in X-Api-Key lets the request in, as its client's name."""
    client = await serve(keyed)
    response = await client.post("/sign", headers={"X-Api-Key": ALICE_KEY})
    assert response.status == 200
    assert (await response.json())["client"] == "alice"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_authorization_bearer_is_accepted(serve: Serve, keyed: Settings, scheme: str) -> None:
    """The key in Authorization: Bearer lets the request in (scheme in any case)."""
    client = await serve(keyed)
    response = await client.post("/sign", headers={"Authorization": f"{scheme} {BOB_KEY}"})
    assert response.status == 200
    assert (await response.json())["client"] == "bob"


async def test_other_authorization_schemes_count_as_missing(serve: Serve, keyed: Settings) -> None:
    """Authorization: Basic is not a client key."""
    client = await serve(keyed)
    response = await client.post("/sign", headers={"Authorization": f"Basic {ALICE_KEY}"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "missing_api_key"


async def test_admin_key_is_refused_on_sign_routes(serve: Serve, keyed: Settings) -> None:
    """The admin key is not a client key, in either header."""
    client = await serve(keyed)
    for headers in ({"X-Api-Key": ADMIN_KEY}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
        response = await client.post("/sign", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_api_key"


async def test_admin_key_also_listed_as_client_key_is_accepted(
    serve: Serve, keys_file: Path
) -> None:
    """An admin key listed as a client key works as that client, with a start-up warning."""
    settings = Settings(
        providers=("native",),
        api_keys_file=keys_file,
        api_keys=(f"ops:{sha(ADMIN_KEY)}",),
        admin_key=ADMIN_KEY,
    )
    with structlog.testing.capture_logs() as logs:
        client = await serve(settings)
    response = await client.post("/sign", headers={"X-Api-Key": ADMIN_KEY})
    assert (await response.json())["client"] == "ops"
    assert {"event": "admin_key_is_a_client_key", "client": "ops", "log_level": "warning"} in logs


async def test_health_and_metrics_are_not_protected(serve: Serve, keyed: Settings) -> None:
    """/health and /metrics answer without a key, and carry no rate-limit headers."""
    client = await serve(keyed.model_copy(update={"rate_limit_rps": 1.0}))
    for path in ("/health", "/metrics"):
        response = await client.get(path)
        assert response.status == 200, path
        assert "RateLimit-Limit" not in response.headers


async def test_protected_routes_are_a_constructor_argument(serve: Serve, keyed: Settings) -> None:
    """Only the routes named in ``protected`` need a key."""
    client = await serve(keyed, protected={"/other"})
    assert (await client.post("/sign")).status == 200
    assert (await client.post("/other")).status == 401


async def test_auth_failures_are_counted_by_reason(serve: Serve, keyed: Settings) -> None:
    """signer_auth_failures_total counts missing and invalid keys apart."""
    metrics = Metrics()
    client = await serve(keyed, metrics=metrics)
    await client.post("/sign")
    await client.post("/sign", headers={"X-Api-Key": "wrong"})
    await client.post("/sign", headers={"X-Api-Key": "wrong"})
    text = metrics.exposition().decode()
    assert 'signer_auth_failures_total{reason="missing_api_key"} 1.0' in text
    assert 'signer_auth_failures_total{reason="invalid_api_key"} 2.0' in text


# -- the keys file


def test_keys_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    """Comment lines, trailing comments and blank lines are ignored."""
    path = tmp_path / "keys"
    path.write_text(
        f"# clients\n\nalice:{sha(ALICE_KEY)}  # since May\n   \nbob:{sha(BOB_KEY).upper()}\n",
        encoding="utf-8",
    )
    keys = KeyStore.load(path)
    assert keys.names == ["alice", "bob"]
    assert keys.authenticate(BOB_KEY) == "bob"


def test_bad_line_names_the_file_and_line_but_not_its_text(tmp_path: Path) -> None:
    """A raw key pasted instead of its hash is refused without echoing it."""
    path = tmp_path / "keys"
    path.write_text(f"alice:{sha(ALICE_KEY)}\n# note\nbob:{BOB_KEY}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        KeyStore.load(path)
    message = caught.value.message
    assert f"keys file {path} line 3" in message
    assert "sha256" in message
    assert BOB_KEY not in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"al ice:{sha(ALICE_KEY)}\n".encode(), "line 1: the client name must be"),
        (f"alice:{sha(ALICE_KEY)[:-1]}\n".encode(), "line 1: expected the 64 hex characters"),
        (b"alice:\xff\n", "is not UTF-8 text"),
    ],
)
def test_unreadable_entries_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    """A bad name, a short hash or bytes that are not UTF-8 each fail clearly."""
    path = tmp_path / "keys"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        KeyStore.load(path)


def test_a_directory_is_not_a_keys_file(tmp_path: Path) -> None:
    """A keys file path that cannot be read fails with the OS's reason."""
    with pytest.raises(ConfigError, match=r"keys file .* cannot be read: Is a directory"):
        KeyStore.load(tmp_path)


def test_line_without_a_name_is_refused(tmp_path: Path) -> None:
    """A bare hash (no ``name:``) names its line."""
    path = tmp_path / "keys"
    path.write_text(sha(ALICE_KEY) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1: expected name:sha256-hex-of-key"):
        KeyStore.load(path)


def test_duplicate_name_is_refused(tmp_path: Path) -> None:
    """Two entries with one name fail, naming both places."""
    path = tmp_path / "keys"
    path.write_text(f"alice:{sha(ALICE_KEY)}\nalice:{sha(BOB_KEY)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2: client 'alice' is already named at .* line 1"):
        KeyStore.load(path)


def test_same_key_under_two_names_is_refused(tmp_path: Path) -> None:
    """One key listed for two clients is ambiguous and fails."""
    path = tmp_path / "keys"
    path.write_text(f"alice:{sha(ALICE_KEY)}\nbob:{sha(ALICE_KEY)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: the same key as client 'alice'"):
        KeyStore.load(path)


def test_missing_keys_file_fails_at_start(tmp_path: Path) -> None:
    """A configured keys file that does not exist stops the app from being built."""
    settings = Settings(providers=("native",), api_keys_file=tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"keys file .*nope does not exist"):
        Guard.from_settings(settings, MemoryState(operator.initial(["native"])), Metrics())


def test_api_keys_setting_adds_entries(keys_file: Path) -> None:
    """SIGNER_API_KEYS entries join the file's keys; a bad one is named by position."""
    settings = load_settings(
        {"SIGNER_API_KEYS_FILE": str(keys_file), "SIGNER_API_KEYS": f"ci:{sha('ci-key')}"}
    )
    assert KeyStore.from_settings(settings).names == ["alice", "bob", "ci"]
    with pytest.raises(ConfigError, match="SIGNER_API_KEYS entry 2"):
        KeyStore.load(None, [f"ci:{sha('ci-key')}", "ci2:abc"])


async def test_empty_keys_file_leaves_routes_open_with_a_warning(
    serve: Serve, tmp_path: Path
) -> None:
    """A keys file with no entries means no keys: open routes, and a warning says so."""
    path = tmp_path / "keys"
    path.write_text("# nobody yet\n", encoding="utf-8")
    with structlog.testing.capture_logs() as logs:
        client = await serve(Settings(providers=("native",), api_keys_file=path))
    assert (await client.post("/sign")).status == 200
    assert any(event["event"] == "api_keys_file_empty" for event in logs)


# -- rate limits


async def test_past_the_burst_is_429_with_every_header(serve: Serve) -> None:
    """The request past the bucket is a 429 rate_limited with RateLimit-* and Retry-After."""
    client = await serve(limited())
    for _ in range(2):
        assert (await client.post("/sign")).status == 200
    response = await client.post("/sign")
    assert response.status == 429
    assert (await response.json())["error"]["code"] == "rate_limited"
    assert response.headers["RateLimit-Limit"] == "2"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == "2"
    assert response.headers["Retry-After"] == "1"


async def test_allowed_responses_carry_the_ratelimit_headers(serve: Serve) -> None:
    """Allowed responses count the tokens left down, without Retry-After."""
    client = await serve(limited())
    first = await client.post("/sign")
    second = await client.post("/sign")
    assert [first.headers["RateLimit-Remaining"], second.headers["RateLimit-Remaining"]] == [
        "1",
        "0",
    ]
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Reset"] == "1"
    assert "Retry-After" not in second.headers


async def test_retry_after_is_the_wait_for_the_next_token(serve: Serve, clock: FakeClock) -> None:
    """At 0.25 requests a second Retry-After is 4 s, then 3 s one second later."""
    client = await serve(
        Settings(providers=("native",), rate_limit_rps=0.25, rate_limit_burst=1), clock=clock
    )
    await client.post("/sign")
    assert (await client.post("/sign")).headers["Retry-After"] == "4"
    clock.advance(1)
    refused = await client.post("/sign")
    assert refused.headers["Retry-After"] == "3"
    assert (await refused.json())["error"]["retry_after_s"] == 3


async def test_the_bucket_refills_as_time_passes(serve: Serve, clock: FakeClock) -> None:
    """After the wait Retry-After named, the client is let in again."""
    client = await serve(limited(), clock=clock)
    for _ in range(2):
        await client.post("/sign")
    refused = await client.post("/sign")
    assert refused.status == 429
    clock.advance(float(refused.headers["Retry-After"]))
    assert (await client.post("/sign")).status == 200
    assert (await client.post("/sign")).status == 429


async def test_one_clients_limit_does_not_touch_another(serve: Serve, keyed: Settings) -> None:
    """Alice using up her bucket leaves Bob's full."""
    client = await serve(keyed.model_copy(update={"rate_limit_rps": 1.0, "rate_limit_burst": 1}))
    alice, bob = {"X-Api-Key": ALICE_KEY}, {"X-Api-Key": BOB_KEY}
    assert (await client.post("/sign", headers=alice)).status == 200
    assert (await client.post("/sign", headers=alice)).status == 429
    response = await client.post("/sign", headers=bob)
    assert response.status == 200
    assert response.headers["RateLimit-Remaining"] == "0"


async def test_without_keys_each_address_has_its_bucket(serve: Serve) -> None:
    """Keys off: 127.0.0.1 using up its bucket leaves 127.0.0.2 free."""
    client = await serve(Settings(providers=("native",), rate_limit_rps=1, rate_limit_burst=1))
    assert (await client.post("/sign")).status == 200
    assert (await client.post("/sign")).status == 429
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        response = await other.post(client.make_url("/sign"))
        assert response.status == 200
    assert (await client.post("/sign")).status == 429


async def test_refused_sign_requests_still_carry_the_ratelimit_headers(serve: Serve) -> None:
    """A 4xx from the route keeps its own body and gets the RateLimit-* headers."""
    client = await serve(limited())
    response = await client.post("/signature")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "empty_body"
    assert response.headers["RateLimit-Remaining"] == "1"


async def test_route_errors_name_the_client_without_limit_headers(
    serve: Serve, keyed: Settings
) -> None:
    """Keys on and limits off: a route's 4xx has no RateLimit-* and logs the client."""
    client = await serve(keyed)
    with structlog.testing.capture_logs() as logs:
        response = await client.post("/signature", headers={"X-Api-Key": ALICE_KEY})
    assert response.status == 400
    assert "RateLimit-Limit" not in response.headers
    assert [event["client"] for event in logs if event["event"] == "request"] == ["alice"]


async def test_rate_limited_requests_are_counted(serve: Serve) -> None:
    """signer_rate_limited_total counts each 429."""
    metrics = Metrics()
    client = await serve(
        Settings(providers=("native",), rate_limit_rps=1, rate_limit_burst=1), metrics=metrics
    )
    for _ in range(3):
        await client.post("/sign")
    assert "signer_rate_limited_total 2.0" in metrics.exposition().decode()


@pytest.mark.parametrize(("rps", "burst"), [(0.5, 1), (1.0, 1), (2.5, 3), (40.0, 40)])
def test_burst_defaults_to_the_rate_rounded_up(rps: float, burst: int) -> None:
    """With only a rate, the bucket holds one second of it (at least one token)."""
    assert RateLimiter(rps).burst == burst


def test_burst_without_a_rate_is_a_config_error() -> None:
    """SIGNER_RATE_LIMIT_BURST alone makes no limit and fails at start."""
    with pytest.raises(ConfigError, match="needs SIGNER_RATE_LIMIT_RPS"):
        RateLimiter.from_settings(Settings(providers=("native",), rate_limit_burst=5))


def test_buckets_idle_until_full_are_dropped(clock: FakeClock) -> None:
    """A bucket that has refilled is forgotten: memory follows the active clients."""
    limiter = RateLimiter(1, 2, clock=clock)
    for address in ("a", "b", "c"):
        limiter.check(address)
    clock.advance(2)
    limiter.check("d")
    limiter.check("d")
    assert limiter.bucket_count == 1


def test_bucket_count_is_capped() -> None:
    """Past max_buckets the least recently used bucket goes."""
    limiter = RateLimiter(1, 1, clock=FakeClock(), max_buckets=2)
    limiter.check("a")
    limiter.check("b")
    limiter.check("a")
    limiter.check("c")
    assert limiter.bucket_count == 2
    assert not limiter.check("a").allowed
    assert limiter.check("b").allowed


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        (None, "unknown"),
        ("not:an:address", "not:an:address"),
    ],
)
def test_ipv6_clients_are_limited_by_their_64(remote: str | None, key: str) -> None:
    """An IPv6 client is keyed by its /64 (it holds all of it); IPv4 by its address."""
    assert client_address(remote) == key


# -- secrets stay secret


async def test_no_key_reaches_a_log_line_or_a_response(serve: Serve, keyed: Settings) -> None:
    """Logs name the client, never a key; neither do any of the answers."""
    settings = keyed.model_copy(update={"rate_limit_rps": 1.0, "rate_limit_burst": 1})
    with structlog.testing.capture_logs() as logs:
        client = await serve(settings)
        bodies = [
            await (await client.post("/sign", headers=headers)).text()
            for headers in (
                {"X-Api-Key": ALICE_KEY},
                {"X-Api-Key": ALICE_KEY},
                {"Authorization": f"Bearer {BOB_KEY}"},
                {"X-Api-Key": ADMIN_KEY},
                {"X-Api-Key": ALICE_KEY[:-1]},
            )
        ]
    requests = [event for event in logs if event["event"] == "request"]
    assert [event.get("client") for event in requests] == ["alice", "alice", "bob", None, None]
    assert [event["status"] for event in requests] == [200, 429, 200, 401, 401]
    seen = repr(logs) + "".join(bodies)
    for secret in (*SECRETS, ALICE_KEY[:-1], sha(ALICE_KEY), sha(BOB_KEY)):
        assert secret not in seen


# -- tiktok-signer keys add


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIGNER_API_KEYS_FILE", "SIGNER_API_KEYS", "SIGNER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_env")
async def test_keys_add_prints_a_key_that_lets_its_client_in(
    serve: Serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed key authenticates, as its name, against the file it was written to."""
    path = tmp_path / "keys"
    assert main(["keys", "add", "alice", "--file", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert len(key) >= 43
    assert key not in path.read_text(encoding="utf-8")
    client = await serve(Settings(providers=("native",), api_keys_file=path))
    response = await client.post("/sign", headers={"X-Api-Key": key})
    assert (await response.json())["client"] == "alice"


@pytest.mark.usefixtures("clean_env")
def test_keys_add_creates_the_file_for_its_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new keys file is created with mode 0600."""
    path = tmp_path / "keys"
    assert main(["keys", "add", "alice", "--file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "shown only once" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_env")
def test_keys_add_appends_and_keeps_earlier_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGNER_API_KEYS_FILE is the default file; a last line without newline is kept."""
    path = tmp_path / "keys"
    path.write_text(f"# ours\nalice:{sha(ALICE_KEY)}", encoding="utf-8")
    monkeypatch.setenv("SIGNER_API_KEYS_FILE", str(path))
    assert main(["keys", "add", "bob"]) == 0
    key = capsys.readouterr().out.strip()
    keys = KeyStore.load(path)
    assert keys.names == ["alice", "bob"]
    assert keys.authenticate(key) == "bob"
    assert keys.authenticate(ALICE_KEY) == "alice"


@pytest.mark.usefixtures("clean_env")
def test_keys_add_refuses_a_name_taken(keys_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A duplicate name exits 2, prints no key and leaves the file alone."""
    before = keys_file.read_bytes()
    assert main(["keys", "add", "bob", "--file", str(keys_file)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "'bob' already exists" in out.err
    assert keys_file.read_bytes() == before


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "add", "alice"], "set SIGNER_API_KEYS_FILE or pass --file"),
        (["keys", "add", "no:colons", "--file", "keys"], "client name 'no:colons'"),
    ],
)
def test_keys_add_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No keys file, or a name the file cannot hold, is a usage error."""
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_serve_exits_2_on_a_bad_keys_file(tmp_path: Path) -> None:
    """A missing keys file stops ``serve`` before any worker starts (exit 2)."""
    env = {
        **os.environ,
        "SIGNER_LOG_FORMAT": "json",
        "SIGNER_PROVIDERS": "native",
        "SIGNER_WORKERS": "2",
        "SIGNER_DATA_DIR": str(tmp_path / "data"),
        "SIGNER_API_KEYS_FILE": str(tmp_path / "missing"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", "serve", "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so a regression's workers can be killed with it
    )
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("serve did not stop on a missing keys file")
    assert process.returncode == 2
    assert b"does not exist" in output

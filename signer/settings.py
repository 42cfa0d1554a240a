"""Settings: one frozen object, built once at the edge and passed down.

Precedence, lowest first: built-in defaults, then the TOML file (``config/default.toml``,
``--config FILE`` or ``SIGNER_CONFIG``), then environment variables ``SIGNER_<FIELD>``
(plus the plain ``HOST``, ``PORT`` and ``LOG_LEVEL``), then explicit keyword overrides
(the command line, tests). No other module reads the environment.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from providers import profiles
from providers.config import HttpUrl, RemoteConfig
from signer.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_PREFIX = "SIGNER_"
#: Plain names honoured besides ``SIGNER_*`` (what container platforms set).
ENV_ALIASES: Mapping[str, str] = {
    "HOST": "host",
    "PORT": "port",
    "LOG_LEVEL": "log_level",
    # Knative's SinkBinding injects the CloudEvents sink as K_SINK.
    "K_SINK": "sink_url",
}
DEFAULT_CONFIG = Path("config/default.toml")
#: The shortest admin key accepted.
MIN_ADMIN_KEY = 16

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
)


def _split_commas(value: object) -> object:
    """Let list settings come as ``"a,b,c"`` from the environment."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _json_object(value: object) -> object:
    """Let mapping settings come as a JSON object from the environment."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from None
    return value


CommaList = Annotated[tuple[str, ...], BeforeValidator(_split_commas)]
CommaInts = Annotated[tuple[int, ...], BeforeValidator(_split_commas)]


class Settings(BaseModel):
    """Every setting of the service; the README's table lists them with their env names."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    # -- server
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_url_bytes: int = Field(8192, ge=256, le=1024 * 1024)
    sign_timeout_s: float = Field(10.0, gt=0, le=300)
    shutdown_timeout_s: float = Field(10.0, ge=0, le=300)
    #: After SIGTERM, keep serving this long with /health answering 503 "draining" (longer
    #: than the balancer's check interval, so it stops sending first); then stop accepting.
    drain_delay_s: float = Field(0.0, ge=0, le=300)
    #: This replica's name in /health and the logs; unset: the host name.
    replica_id: str | None = Field(None, min_length=1, max_length=128)
    #: Peers (addresses or CIDRs, e.g. HAProxy's) whose X-Forwarded-For names the client.
    trusted_proxies: CommaList = ()
    read_timeout_s: float = Field(10.0, gt=0, le=600)
    keepalive_timeout_s: float = Field(15.0, gt=0, le=3600)
    max_connections: int = Field(1000, ge=1, le=1_000_000)
    workers: int = Field(1, ge=1, le=64)

    # -- the chain: circuit breaker per provider, signature cache
    breaker_failures: int = Field(5, ge=1, le=1000)
    breaker_cooldown_s: float = Field(30.0, gt=0, le=3600)
    cache_ttl_s: float = Field(0.0, ge=0, le=3600)
    cache_max_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024 * 1024)
    remotes: Annotated[dict[str, RemoteConfig], BeforeValidator(_json_object)] = Field(
        default_factory=dict
    )

    # -- access control (all off on embedded defaults)
    admin_key: SecretStr | None = None
    api_keys_file: Path | None = None
    api_keys: CommaList = ()
    rate_limit_rps: float | None = Field(None, gt=0, le=1_000_000)
    rate_limit_burst: int | None = Field(None, ge=1, le=1_000_000)
    rate_limit_per_minute: int | None = Field(None, ge=1, le=100_000_000)
    rate_limit_per_hour: int | None = Field(None, ge=1, le=100_000_000)
    rate_limit_per_day: int | None = Field(None, ge=1, le=100_000_000)
    #: With Redis unreachable: ``open`` lets requests through unlimited, ``closed`` refuses
    #: them (503 state_unavailable) until it is back.
    rate_limit_fail: Literal["open", "closed"] = "open"

    # -- shared state between workers and replicas (signer/state/redis.py)
    #: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS); unset: in-process state.
    redis_url: SecretStr | None = None
    #: Prefix of every Redis key and channel (several services may share one Redis).
    redis_prefix: str = Field("tiktok-signer", min_length=1, max_length=64)

    # -- what may be signed
    providers: CommaList = ("browser", "native")
    allowed_hosts: CommaList = ("tiktok.com", "tiktokv.com", "tiktokw.us", "tiktokv.us")
    tiktok_www_url: HttpUrl = "https://www.tiktok.com"
    tiktok_webcast_url: HttpUrl = "https://webcast.tiktok.com"
    tiktok_ws_url: str = "wss://webcast-ws.tiktok.com"

    # -- the Euler-compatible LIVE API (signer/live)
    #: ``direct`` (2026 player: a signed socket URL in prefix mode), ``fetch`` (2025: the
    #: signed ``webcast/im/fetch/`` relayed), ``auto``: direct when the build has a socket signer.
    live_transport: Literal["auto", "direct", "fetch"] = "auto"
    #: Persona: ``tz_name`` of LIVE requests.
    timezone: str = Field("America/New_York", min_length=1, max_length=64)

    # -- persona: the browser every signature claims to be (shared by all providers)
    user_agent: str = DEFAULT_USER_AGENT
    #: Unset: the platform a real browser of ``user_agent`` reports (Win32 for the default).
    browser_platform: str | None = None
    browser_language: str = "en-US"
    browser_os: str = "windows"
    screen_width: int = Field(1920, ge=320, le=10000)
    screen_height: int = Field(1080, ge=240, le=10000)
    device_scale_factor: float = Field(1.0, gt=0, le=8)
    #: Unset: the SDK profile's environment (``providers/profiles.py``).
    sdk_flags: CommaInts | None = None
    sdk_canvas: int | None = Field(None, ge=0, le=0xFFFFFFFF)

    # -- X-Gnarly version strings (unset: what the profile of sdk_version writes)
    gnarly_version: str | None = None
    gnarly_sdk_build: str | None = None
    gnarly_field_order: str = "session"

    # -- signing sessions (a native session or a browser page) are renewed this often
    session_max_signatures: int = Field(500, ge=1)
    session_max_age_s: float = Field(1800.0, gt=0)

    # -- browser provider: TikTok's SDK in headless Chromium
    sdk_source: Literal["file", "live"] = "file"
    sdk_version: str = profiles.DEFAULT_BUILD
    sdk_cache_dir: Path | None = None
    chromium_path: Path = Path("/usr/bin/chromium")
    browser_pages: int = Field(2, ge=1, le=64)
    browser_batch_max: int = Field(64, ge=1, le=10000)
    browser_queue_max: int = Field(1000, ge=1, le=1_000_000)
    browser_stealth: bool = True
    browser_start_timeout_s: float = Field(30.0, gt=0, le=600)

    data_dir: Path = Path("data")

    # -- partner integrations (signer/partner, signer/store)
    #: The store: ``sqlite:///PATH`` or ``postgresql://...``; unset: SQLite in the data dir.
    database_url: SecretStr | None = None
    #: Encrypts stored secrets; unset: generated into ``<data dir>/secret.key`` (0600).
    secret_key: SecretStr | None = None
    #: Where verified webhooks go as CloudEvents (``K_SINK`` too).
    sink_url: HttpUrl | None = None
    #: CloudEvents HTTP content mode of the deliveries.
    sink_mode: Literal["structured", "binary"] = "structured"
    #: One delivery attempt's limit; failed deliveries are retried with backoff from
    #: ``outbox_retry_base_s``, doubling up to ``outbox_retry_max_s``, until the sink takes them.
    sink_timeout_s: float = Field(10.0, gt=0, le=300)
    outbox_retry_base_s: float = Field(1.0, gt=0, le=3600)
    outbox_retry_max_s: float = Field(300.0, gt=0, le=86400)
    #: How far a TikTok-Signature ``t=`` may be from now, either way.
    webhook_tolerance_s: int = Field(300, ge=1, le=86400)
    #: TikTok Shop: the Open API, the token endpoints' origin, the authorize pages.
    shop_api_url: HttpUrl = "https://open-api.tiktokglobalshop.com"
    shop_auth_url: HttpUrl = "https://auth.tiktok-shops.com"
    shop_authorize_url: HttpUrl = "https://services.tiktokshop.com/open/authorize"
    shop_legacy_authorize_url: HttpUrl = "https://auth.tiktok-shops.com/oauth/authorize"
    #: One call to the Shop API or its token endpoints.
    shop_timeout_s: float = Field(15.0, gt=0, le=300)
    #: How long an OAuth ``state`` stays valid (a seller logs in meanwhile).
    oauth_state_ttl_s: float = Field(1800.0, ge=60, le=86400)
    #: Refresh a token pair this long before the access token expires (and at least daily);
    #: the refresher looks every ``shop_refresh_interval_s``.
    shop_refresh_before_s: float = Field(21600.0, ge=60, le=30 * 86400)
    shop_refresh_interval_s: float = Field(300.0, ge=1, le=86400)
    #: The Business Plugin's authorization page (``external_data`` goes in its query).
    business_authorization_url: HttpUrl = "https://ads.tiktok.com/business-extension/auth"

    # -- the algorithm-change monitor (tiktok-signer monitor) and its alerts
    #: What the monitor probes.
    service_url: HttpUrl = "http://127.0.0.1:8080"
    #: Also fetch the live site's SDK and send TikTok a canary; unset: on when sdk_source=live.
    monitor_live: bool | None = None
    #: On a detected breakage, take the emergency step through /admin (needs admin_key).
    monitor_emergency: bool = False
    #: Where the monitor writes its Prometheus textfile (node-exporter's textfile collector).
    monitor_textfile: Path | None = None
    alert_slack_url: SecretStr | None = None
    alert_webhook_url: SecretStr | None = None
    #: ``smtp://user:password@host:port`` (``smtps://`` for implicit TLS; ``?starttls=1``).
    alert_smtp_url: SecretStr | None = None
    alert_email_to: CommaList = ()

    @field_validator("providers")
    @classmethod
    def _providers_not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one provider is needed")
        if len(set(value)) != len(value):
            raise ValueError("a provider is listed twice")
        return value

    @field_validator("admin_key")
    @classmethod
    def _long_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty key must not mount an /admin that nobody can open; a short one is guessable.
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_KEY:
            raise ValueError(f"must be at least {MIN_ADMIN_KEY} characters (unset: no /admin)")
        return value

    @field_validator("remotes")
    @classmethod
    def _remote_names(cls, value: dict[str, RemoteConfig]) -> dict[str, RemoteConfig]:
        for name in value:
            if not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"remote name {name!r}: use letters, digits, - and _")
            if name in {"browser", "native"}:
                raise ValueError(f"remote name {name!r} is a built-in provider's name")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_lowercase(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(host.lower().lstrip(".") for host in value)

    @field_validator("sdk_flags")
    @classmethod
    def _three_bytes(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (len(value) != 3 or not all(0 <= byte <= 255 for byte in value)):
            raise ValueError("must be three bytes, e.g. 6,65,14")
        return value

    @field_validator("sdk_version")
    @classmethod
    def _known_build(cls, value: str) -> str:
        if value not in profiles.PROFILES:
            raise ValueError(
                f"no profile for SDK build {value!r} (known: {', '.join(profiles.PROFILES)})"
            )
        return value

    @field_validator("tiktok_ws_url")
    @classmethod
    def _socket_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"ws", "wss"} or not parts.hostname:
            raise ValueError("must be an absolute ws:// or wss:// URL")
        return value.rstrip("/")

    @field_validator("gnarly_field_order")
    @classmethod
    def _known_order(cls, value: str) -> str:
        if value in {"session", "ascending", "carcabot"}:
            return value
        try:
            ids = [int(part) for part in value.split(",")]
        except ValueError:
            raise ValueError(
                "must be session, ascending, carcabot or a comma list of field ids"
            ) from None
        if sorted(ids) not in (list(range(16)), list(range(17))):
            raise ValueError(
                "an explicit order must list the field ids 0..15 (2025 builds) or 0..16 once each"
            )
        return value

    @property
    def profile(self) -> profiles.Profile:
        """The profile of the SDK build served in ``file`` mode and imitated by native."""
        return profiles.get(self.sdk_version)

    @property
    def flags(self) -> tuple[int, int, int]:
        """``sdk_flags`` as the 3-tuple the codecs take (the profile's when unset)."""
        if self.sdk_flags is None:
            return self.profile.flags
        first, second, third = self.sdk_flags
        return (first, second, third)

    @property
    def sdk_dir(self) -> Path:
        """Where ``tiktok-signer sdk fetch`` keeps the pinned SDK files."""
        return self.sdk_cache_dir or self.data_dir / "sdk"

    @property
    def signable_hosts(self) -> frozenset[str]:
        """The allowlist plus the hosts of the configured TikTok origins."""
        hosts = set(self.allowed_hosts)
        for url in (self.tiktok_www_url, self.tiktok_webcast_url, self.tiktok_ws_url):
            host = urlsplit(url).hostname
            if host:
                hosts.add(host.lower())
        return frozenset(hosts)

    @property
    def origin_ports(self) -> frozenset[tuple[str, int]]:
        """(host, port) of the configured TikTok origins that name a port (fakes in tests)."""
        found = set()
        for url in (self.tiktok_www_url, self.tiktok_webcast_url, self.tiktok_ws_url):
            parts = urlsplit(url)
            if parts.hostname and parts.port is not None:
                found.add((parts.hostname.lower(), parts.port))
        return frozenset(found)


def env_values(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Pick the settings out of an environment; also return unknown ``SIGNER_*`` names."""
    fields = Settings.model_fields
    values: dict[str, str] = {}
    for alias, name in ENV_ALIASES.items():
        if alias in environ:
            values[name] = environ[alias]
    unknown: list[str] = []
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in fields:
            values[name] = value
        else:
            unknown.append(key)
    return values, sorted(unknown)


def read_toml(path: Path) -> dict[str, Any]:
    """Read a settings file; every key must be a setting's name."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from every source, in the documented precedence.

    ``config_file`` (``--config``) wins over ``SIGNER_CONFIG``; with neither,
    ``config/default.toml`` is read when it exists. Raises :class:`ConfigError` naming the
    first invalid setting.
    """
    environ = environ or {}
    explicit = config_file or (
        Path(environ[f"{ENV_PREFIX}CONFIG"]) if environ.get(f"{ENV_PREFIX}CONFIG") else None
    )
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}
    if explicit is not None or DEFAULT_CONFIG.is_file():
        path = explicit or DEFAULT_CONFIG
        for key, value in read_toml(path).items():
            merged[key] = value
            source[key] = f"config key {key!r} in {path}"
    env, _unknown = env_values(environ)
    for key, value in env.items():
        merged[key] = value
        source[key] = f"env {ENV_PREFIX}{key.upper()}"
    for key, value in overrides.items():
        if value is not None:
            merged[key] = value
            source[key] = f"option {key}"
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        where = source.get(name, "built-in default")
        if error["type"] == "extra_forbidden":
            raise ConfigError(f"unknown setting {name!r} ({where})") from None
        raise ConfigError(f"invalid setting {name} ({where}): {error['msg']}") from None

"""The configuration slices the providers take: plain values, no Playwright, no service.

The service maps its settings to these (``signer.wiring``); tests build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

if TYPE_CHECKING:
    from pathlib import Path


def absolute_http_url(value: str) -> str:
    """An absolute http(s) URL, without a trailing slash (a pydantic validator)."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(absolute_http_url)]


class RemoteConfig(BaseModel):
    """One upstream sign server (an entry of ``SIGNER_REMOTES``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: HttpUrl
    format: Literal["signtok", "carcabot", "euler"]
    api_key: SecretStr | None = None
    timeout_s: float = Field(5.0, gt=0, le=120)


@dataclass(frozen=True, slots=True)
class NativeConfig:
    """The native provider: X-Gnarly field order policy and session renewal."""

    #: ``session`` (random per session), ``ascending``, ``carcabot`` or a comma list of ids.
    order_policy: str = "session"
    max_signatures: int = 500
    max_age_s: float = 1800.0


@dataclass(frozen=True, slots=True)
class BrowserConfig:
    """Everything the browser pool needs (tests build it directly)."""

    chromium_path: Path
    origin: str
    sdk_source: str = "file"
    #: The SDK file served in ``file`` mode; when None, the pinned ``sdk_version`` in
    #: ``sdk_dir`` (verified when the provider is built).
    sdk_file: Path | None = None
    sdk_dir: Path | None = None
    sdk_version: str = "5.1.3"
    pages: int = 2
    batch_max: int = 64
    #: Requests waiting for a page; past it a request is declined as overloaded at once.
    queue_max: int = 1000
    stealth: bool = True
    start_timeout_s: float = 30.0
    #: The sign timeout: a batch that outlives it costs its page.
    batch_timeout_s: float = 10.0
    #: How long a request may wait for a page before it is declined as overloaded; None:
    #: a share of ``batch_timeout_s``, so that it is declined before the chain times it out.
    queue_timeout_s: float | None = None
    max_signatures: int = 500
    max_age_s: float = 1800.0
    #: Extra scripts run before the SDK in every page (tests pin Date and Math.random).
    init_scripts: tuple[str, ...] = ()
    #: Use the persona's user agent (off: Chromium's own, as in the SDK vector runs).
    persona_user_agent: bool = True
    #: Sign one probe request on every new page before it serves (off in the vector
    #: tests, where the SDK's request counter must start at the first real request).
    probe_on_open: bool = True

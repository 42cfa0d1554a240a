"""tiktok-signer: a self-hosted signing service for TikTok web and LIVE requests."""

from importlib.metadata import PackageNotFoundError, version

try:
    #: The one version literal is ``pyproject.toml``'s; the installed metadata carries it.
    __version__ = version("tiktok-signer")
except PackageNotFoundError:  # pragma: no cover - run from a checkout that was not installed
    __version__ = "0+unknown"

"""tiktok-signer: a self-hosted signing service for TikTok web and LIVE requests."""

__version__ = "0.1.0"

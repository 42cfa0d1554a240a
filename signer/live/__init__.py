"""The Euler-compatible LIVE API: the routes TikTokLive and tiktok-live-connector call."""

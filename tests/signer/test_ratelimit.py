"""Rate limits: the token bucket and the minute, hour and day windows together."""

from __future__ import annotations

import pytest

from signer.access.ratelimit import RateLimiter
from signer.errors import ConfigError
from signer.settings import Settings
from tests.fakes.clock import FakeClock

START = 20834 * 86400.0  # midnight UTC: a whole day, hour and minute


def test_a_refusal_by_the_bucket_spends_nothing_of_the_windows() -> None:
    """A request the bucket refuses is not counted in the minute window."""
    clock = FakeClock(START)
    limiter = RateLimiter(1, 1, per_minute=5, clock=clock)
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed
    assert limiter.usage("a")["minute"].remaining == 4


def test_a_full_window_refuses_until_it_ends() -> None:
    """Past the hourly cap the answer says the hour's end, and the next hour lets it pass."""
    clock = FakeClock(START)
    limiter = RateLimiter(None, per_hour=1, clock=clock)
    clock.advance(600)
    assert limiter.check("a").allowed
    refused = limiter.check("a")
    assert (refused.allowed, refused.label, refused.retry_after_s) == (False, "hour", 3000)
    assert refused.headers()["Retry-After"] == "3000"
    clock.advance(3000)
    assert limiter.check("a").allowed


def test_headers_describe_the_limit_closest_to_exhaustion() -> None:
    """With a roomy bucket and a nearly full day, the day's numbers are in the headers."""
    limiter = RateLimiter(100, 100, per_day=3, clock=FakeClock(START))
    decision = limiter.check("a")
    assert (decision.label, decision.limit, decision.remaining) == ("day", 3, 2)
    assert decision.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": "86400",
    }


def test_usage_of_an_unknown_client_is_whole() -> None:
    """A client never seen has every configured window whole; others are unlimited (None)."""
    usage = RateLimiter(None, per_minute=7, clock=FakeClock(START)).usage("new")
    assert usage["minute"].view() == {"max": 7, "remaining": 7, "reset_at": int(START + 60)}
    assert usage["day"].view() == {"max": None, "remaining": None, "reset_at": None}


def test_windows_alone_make_a_limiter() -> None:
    """SIGNER_RATE_LIMIT_PER_MINUTE without an RPS turns limiting on, without a bucket."""
    limiter = RateLimiter.from_settings(Settings(providers=("native",), rate_limit_per_minute=9))
    assert limiter is not None
    assert (limiter.rps, limiter.describe()) == (None, "9 a minute")


def test_burst_without_rps_is_a_settings_error() -> None:
    """A bucket size without a refill rate names both settings."""
    with pytest.raises(ConfigError, match="SIGNER_RATE_LIMIT_BURST needs SIGNER_RATE_LIMIT_RPS"):
        RateLimiter.from_settings(Settings(providers=("native",), rate_limit_burst=5))


def test_idle_clients_are_forgotten_after_their_longest_window() -> None:
    """A client idle for longer than its longest window is dropped (it would start whole)."""
    clock = FakeClock(START)
    limiter = RateLimiter(None, per_minute=1, per_hour=1, clock=clock)
    limiter.check("a")
    clock.advance(3599)
    limiter.check("b")
    assert limiter.bucket_count == 2
    clock.advance(2)
    limiter.check("c")
    assert limiter.bucket_count == 2

"""The Redis backend of :class:`~signer.state.SharedState`: every worker and replica shares it all.

Selected by ``SIGNER_REDIS_URL``. Every key and the pub/sub channel start with
``SIGNER_REDIS_PREFIX``; this is the only module that imports the Redis driver, and the URL
(it may hold a password) is never logged.

* **Rate limits**: one hash per client (``<prefix>:rate:<client>``) holds the bucket's tokens
  and stamp and each window's start and count. One Lua script (:data:`_RATE_SCRIPT`, called
  with EVALSHA and loaded again on NOSCRIPT) reads the hash, refills the bucket, checks every
  window and counts the request, on Redis's own clock (``TIME``): one round trip, atomic, and
  replicas with skewed clocks agree. A refused request spends nothing. The hash expires once
  everything would be whole again, so an idle client costs nothing. The decision is then
  shaped exactly as :class:`~signer.access.ratelimit.RateLimiter` shapes it. With Redis
  unreachable, ``SIGNER_RATE_LIMIT_FAIL=open`` lets requests through (a warning at most every
  :data:`WARN_EVERY_S`), ``closed`` answers 503 ``state_unavailable``.
* **Signature cache**: an entry is the result as JSON under ``<prefix>:cache:entry:<sha256 of
  the key>``, stored with the TTL (``PX``). The byte bound is kept by a second Lua script
  (:data:`_CACHE_PUT_SCRIPT`): a sorted set of entries by insertion time and a hash of their
  sizes; a put drops expired entries from the books, then the oldest entries until the total
  fits ``SIGNER_CACHE_MAX_BYTES``, like the in-process cache. An entry's size is its JSON plus
  :data:`CACHE_ENTRY_OVERHEAD` for the key and the books. A Redis failure is a miss.
* **Operator state**: one JSON value under ``<prefix>:operator`` with its version. A change is
  checked and applied against the stored value in a WATCH/MULTI/EXEC loop that stores it and
  publishes it on the channel ``<prefix>:operator``; every replica subscribes (reconnecting with
  backoff) and adopts newer versions, and polls the stored value every
  :data:`POLL_INTERVAL_S` in case a message was missed. The poll also stores this replica's
  state when Redis lost a newer one (a restart without persistence), so the newest version a
  replica knows survives. Reading :attr:`RedisState.operator` never does I/O.

The scripts name keys they derive (evicted cache entries): one Redis server (or a primary
with replicas/Sentinel) is supported, not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import math
import time
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError

from providers.typing import Navigator, SignResult
from signer.access.ratelimit import (
    UNLIMITED,
    WINDOWS,
    Decision,
    RateLimiter,
    WindowUsage,
    window_decision,
)
from signer.errors import StateUnavailable
from signer.state import operator
from signer.state.operator import Followed, Maintenance, OperatorState

if TYPE_CHECKING:
    from signer.cache import CacheKey
    from signer.settings import Settings
    from signer.state.operator import OperatorChange

log = structlog.get_logger("signer.state")

#: Seconds to connect to Redis, and to wait for any one answer: a request never hangs on it.
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 1.0
#: How often the stored operator state is read in case a published change was missed.
POLL_INTERVAL_S = 3.0
#: The subscription's reconnect backoff (doubling from the first to the last).
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0
#: The same warning (Redis unreachable) is logged at most once per this many seconds.
WARN_EVERY_S = 10.0
#: Attempts of an operator change whose stored value kept changing underneath it.
CHANGE_ATTEMPTS = 20
#: What a cache entry costs in Redis beyond its JSON: its key, the index and size records.
CACHE_ENTRY_OVERHEAD = 256
#: Stale index records a cache put drops at most (the rest go with later puts or the trim).
_EXPIRED_PER_PUT = 64
# How long the subscription waits for a message before it looks at the poll and closing.
_LISTEN_TURN_S = 0.25
# Float slack so a bucket refilled to 0.9999999999 still counts as one token (as in memory).
_EPSILON = 1e-9
_FAILURES = (RedisError, OSError)

# KEYS[1] the client's hash. ARGV: 'hit' (count) or 'peek' (read), rps (0: no bucket), burst,
# then name, length, cap of each window. Reply: allowed (1/0), now (s), tokens (after the
# request when counted), then each window's start and its count before this request.
_RATE_SCRIPT = """
local key = KEYS[1]
local hit = ARGV[1] == 'hit'
local rps = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local fields = redis.call('HGETALL', key)
local held = {}
for i = 1, #fields, 2 do held[fields[i]] = fields[i + 1] end
local tokens = burst
if rps > 0 and held['tokens'] then
  local elapsed = math.max(0, now - tonumber(held['stamp']))
  tokens = math.min(burst, tonumber(held['tokens']) + elapsed * rps)
end
local allowed = not (rps > 0 and tokens + 1e-9 < 1)
local windows = {}
for i = 4, #ARGV, 3 do
  local name, length, cap = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local start = math.floor(now / length) * length
  local count = 0
  if tonumber(held[name .. ':start']) == start then count = tonumber(held[name .. ':count']) end
  if count >= cap then allowed = false end
  windows[#windows + 1] = {name, length, start, count}
end
if hit and allowed then
  local update = {}
  local whole_in = 0
  if rps > 0 then
    tokens = tokens - 1
    update[#update + 1] = 'tokens'
    update[#update + 1] = string.format('%.17g', tokens)
    update[#update + 1] = 'stamp'
    update[#update + 1] = string.format('%.6f', now)
    whole_in = (burst - tokens) / rps
  end
  for _, w in ipairs(windows) do
    update[#update + 1] = w[1] .. ':start'
    update[#update + 1] = string.format('%d', w[3])
    update[#update + 1] = w[1] .. ':count'
    update[#update + 1] = w[4] + 1
    whole_in = math.max(whole_in, w[3] + w[2] - now)
  end
  redis.call('HSET', key, unpack(update))
  redis.call('PEXPIRE', key, math.max(1, math.ceil(whole_in * 1000)))
end
local reply = {allowed and 1 or 0, string.format('%.6f', now), string.format('%.17g', tokens)}
for _, w in ipairs(windows) do
  reply[#reply + 1] = string.format('%d', w[3])
  reply[#reply + 1] = w[4]
end
return reply
"""

# KEYS: the index (sorted set: entry id by insertion ms), the sizes (hash), the byte total,
# the entry. ARGV: entry id, JSON, TTL ms, byte bound, entry size, the entry keys' prefix.
_CACHE_PUT_SCRIPT = """
local index, sizes, total, entry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, payload, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local bound, size, prefix = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local held = tonumber(redis.call('GET', total) or '0')
local function drop(old)
  held = held - tonumber(redis.call('HGET', sizes, old) or '0')
  redis.call('HDEL', sizes, old)
  redis.call('ZREM', index, old)
  if old ~= id then redis.call('DEL', prefix .. old) end
end
local expired = redis.call('ZRANGEBYSCORE', index, '-inf', now - ttl, 'LIMIT', 0, ARGV[7])
for _, old in ipairs(expired) do drop(old) end
if redis.call('ZSCORE', index, id) then drop(id) end
redis.call('SET', entry, payload, 'PX', ttl)
redis.call('ZADD', index, now, id)
redis.call('HSET', sizes, id, size)
held = held + size
while held > bound do
  local oldest = redis.call('ZRANGE', index, 0, 0)
  if #oldest == 0 then held = 0 break end
  drop(oldest[1])
  if oldest[1] == id then redis.call('DEL', entry) end
end
redis.call('SET', total, math.max(0, held), 'PX', ttl)
redis.call('PEXPIRE', index, ttl)
redis.call('PEXPIRE', sizes, ttl)
return held
"""

# KEYS[1] the operator state. ARGV: this replica's state as JSON, its version, the channel.
# Stores it when Redis has none or an older one (and publishes it then); replies the stored.
_SYNC_SCRIPT = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['version'] >= tonumber(ARGV[2]) then return raw end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return ARGV[1]
"""


class RedisState(Followed):
    """Operator state, rate limits and the signature cache in one Redis, shared by all.

    ``limiter`` gives the limits (its counters stay unused: they live in Redis); None turns
    rate limiting off. ``fail_open`` lets requests through while Redis is unreachable.
    """

    def __init__(
        self,
        url: str,
        initial: OperatorState,
        *,
        prefix: str = "tiktok-signer",
        limiter: RateLimiter | None = None,
        cache_ttl_s: float = 0.0,
        cache_max_bytes: int = 64 * 1024 * 1024,
        fail_open: bool = True,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._client = Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            # One retry on a dropped connection (a pooled one Redis closed when it restarted);
            # none on a timeout: the caller decides at once (open, closed, a miss).
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        super().__init__(initial)
        self._limiter = limiter
        self._limit_args = _limit_args(limiter)
        self._cache_ttl_ms = max(1, round(cache_ttl_s * 1000)) if cache_ttl_s > 0 else 0
        self._cache_max_bytes = cache_max_bytes
        self._fail_open = fail_open
        self._poll_interval_s = poll_interval_s
        self._prefix = prefix
        self._operator_key = f"{prefix}:operator"
        #: The pub/sub channel of operator changes (channels and keys are separate names).
        self.channel = f"{prefix}:operator"
        self._rate_script = self._client.register_script(_RATE_SCRIPT)
        self._cache_script = self._client.register_script(_CACHE_PUT_SCRIPT)
        self._sync_script = self._client.register_script(_SYNC_SCRIPT)
        self._follower: asyncio.Task[None] | None = None
        self._closing = False
        self._warned: dict[str, tuple[float, int]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, initial: OperatorState) -> RedisState:
        """The backend for ``SIGNER_REDIS_URL`` (the caller checked that it is set)."""
        if settings.redis_url is None:
            raise ValueError("SIGNER_REDIS_URL is not set")
        return cls(
            settings.redis_url.get_secret_value(),
            initial,
            prefix=settings.redis_prefix,
            limiter=RateLimiter.from_settings(settings),
            cache_ttl_s=settings.cache_ttl_s,
            cache_max_bytes=settings.cache_max_bytes,
            fail_open=settings.rate_limit_fail == "open",
        )

    # -- operator state

    async def change(self, change: OperatorChange) -> OperatorState:
        """Apply a change to the stored state, publish it; return it once stored and adopted.

        Raises :class:`~signer.errors.StateUnavailable` when Redis cannot be reached.
        """
        operator.check(self._operator, change)  # a bad change answers before it travels
        try:
            new = await self._store_change(change)
        except _FAILURES as exc:
            raise StateUnavailable(
                f"the change was not applied: Redis is unreachable ({_describe(exc)})"
            ) from None
        self.adopt(new)
        log.warning("operator_change", version=new.version, **new.changes[-1])
        return new

    async def _store_change(self, change: OperatorChange) -> OperatorState:
        for _ in range(CHANGE_ATTEMPTS):
            async with self._client.pipeline(transaction=True) as pipe:
                await pipe.watch(self._operator_key)
                raw = await pipe.get(self._operator_key)
                stored = None if raw is None else _load_operator(raw)
                # Redis may have lost the state (restarted empty): ours is then the newest.
                current = (
                    self._operator
                    if stored is None or stored.version < self._operator.version
                    else stored
                )
                new = operator.apply(current, change)  # BadRequest: nothing stored
                payload = _dump_operator(new)
                pipe.multi()  # type: ignore[no-untyped-call]  # unannotated in redis-py
                pipe.set(self._operator_key, payload)
                pipe.publish(self.channel, payload)
                try:
                    await pipe.execute()
                except WatchError:
                    continue  # another replica changed it meanwhile: apply to theirs
                return new
        raise StateUnavailable("the operator state kept changing underneath the change; retry")

    async def _sync(self) -> None:
        """Adopt the stored state; store ours when Redis has none or an older one."""
        raw = await self._sync_script(
            keys=[self._operator_key],
            args=[_dump_operator(self._operator), self._operator.version, self.channel],
        )
        self._adopt_raw(raw)

    def _adopt_raw(self, raw: bytes) -> None:
        try:
            state = _load_operator(raw)
        except (ValueError, KeyError, TypeError) as exc:
            self._warn("redis_operator_state_unreadable", exc)
            return
        self.adopt(state)

    async def _follow(self) -> None:
        """Subscribe to operator changes and poll the stored state; reconnect when Redis drops."""
        loop = asyncio.get_running_loop()
        delay = RECONNECT_MIN_S
        lost = False
        while not self._closing:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._sync()  # whatever changed while we were not listening
                if lost:
                    log.info("redis_subscription_restored", version=self._operator.version)
                    lost = False
                delay = RECONNECT_MIN_S
                next_poll = loop.time() + self._poll_interval_s
                while not self._closing:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=_LISTEN_TURN_S
                    )
                    if message is not None and message.get("type") == "message":
                        self._adopt_raw(message["data"])
                    if loop.time() >= next_poll:
                        await self._sync()
                        next_poll = loop.time() + self._poll_interval_s
            except _FAILURES as exc:
                lost = True
                self._warn("redis_subscription_lost", exc, retry_in_s=delay)
            finally:
                with contextlib.suppress(*_FAILURES):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    # -- rate limits

    async def hit(self, client: str) -> Decision:
        """Count one request of ``client`` in Redis (one round trip); refused spends nothing."""
        limiter = self._limiter
        if limiter is None:
            return UNLIMITED
        try:
            reply = await self._rate_script(
                keys=[self._rate_key(client)], args=["hit", *self._limit_args]
            )
        except _FAILURES as exc:
            return self._limits_unavailable(limiter, exc)
        return _decide(limiter, reply)

    async def usage(self, client: str) -> dict[str, WindowUsage]:
        """The client's minute, hour and day windows as Redis holds them, spending nothing."""
        found = {name: WindowUsage(None, None, None) for name, _ in WINDOWS}
        limiter = self._limiter
        if limiter is None or not limiter.windows:
            return found
        try:
            reply = await self._rate_script(
                keys=[self._rate_key(client)], args=["peek", *self._limit_args]
            )
            starts = [
                (float(reply[3 + 2 * i]), int(reply[4 + 2 * i]))
                for i in range(len(limiter.windows))
            ]
        except _FAILURES as exc:
            self._limits_unavailable(limiter, exc)  # closed: raises
            now = time.time()
            starts = [(math.floor(now / length) * length, 0) for _, length, _ in limiter.windows]
        for (name, length, cap), (start, count) in zip(limiter.windows, starts, strict=True):
            found[name] = WindowUsage(cap, max(0, cap - count), int(start + length))
        return found

    def _rate_key(self, client: str) -> str:
        return f"{self._prefix}:rate:{client}"

    def _limits_unavailable(self, limiter: RateLimiter, exc: BaseException) -> Decision:
        """Fail open (allow, warn now and then) or closed (503) while Redis is unreachable."""
        if not self._fail_open:
            raise StateUnavailable(
                "the rate limits cannot be checked: the shared state is unreachable",
                headers={"Retry-After": "1"},
            )
        self._warn("rate_limit_fail_open", exc)
        # Allowed, and described as whole: nothing was counted.
        label, _, limit = ("second", 0, limiter.burst) if limiter.rps else limiter.windows[0]
        return Decision(
            allowed=True, limit=limit, remaining=limit, reset_s=0, retry_after_s=0, label=label
        )

    # -- signature cache

    async def cache_get(self, key: CacheKey) -> SignResult | None:
        """A cached signature younger than the TTL, or None (also when Redis fails)."""
        if not self._cache_ttl_ms:
            return None
        try:
            raw = await self._client.get(self._entry_key(_entry_id(key)))
        except _FAILURES as exc:
            self._warn("redis_cache_unavailable", exc)
            return None
        if raw is None:
            return None
        try:
            return _load_result(raw)
        except (ValueError, KeyError, TypeError) as exc:
            self._warn("redis_cache_entry_unreadable", exc)
            return None

    async def cache_put(self, key: CacheKey, result: SignResult) -> None:
        """Store a signature for the TTL; the oldest entries go past the byte bound."""
        if not self._cache_ttl_ms:
            return
        entry_id = _entry_id(key)
        payload = orjson.dumps(dataclasses.asdict(result))
        size = len(payload) + CACHE_ENTRY_OVERHEAD
        if size > self._cache_max_bytes:
            return  # larger than the whole cache: not worth evicting everything for
        books = f"{self._prefix}:cache"
        try:
            await self._cache_script(
                keys=[
                    f"{books}:index",
                    f"{books}:sizes",
                    f"{books}:bytes",
                    self._entry_key(entry_id),
                ],
                args=[
                    entry_id,
                    payload,
                    self._cache_ttl_ms,
                    self._cache_max_bytes,
                    size,
                    self._entry_key(""),
                    _EXPIRED_PER_PUT,
                ],
            )
        except _FAILURES as exc:
            self._warn("redis_cache_unavailable", exc)

    async def cache_bytes(self) -> int:
        """The bytes the cache's books hold now (for tests and diagnostics)."""
        raw = await self._client.get(f"{self._prefix}:cache:bytes")
        return 0 if raw is None else int(raw)

    def _entry_key(self, entry_id: str) -> str:
        return f"{self._prefix}:cache:entry:{entry_id}"

    # -- life cycle

    async def start(self) -> None:
        """Load (or store) the operator state, then follow changes in the background.

        Redis unreachable at start is no failure: the configured state holds until the
        subscription connects, which it keeps trying.
        """
        try:
            await self._sync()
        except _FAILURES as exc:
            self._warn("redis_unreachable_at_start", exc)
        self._follower = asyncio.create_task(self._follow(), name="redis-operator-follower")

    async def aclose(self) -> None:
        """Stop following and close the connections."""
        self._closing = True
        follower, self._follower = self._follower, None
        # The driver may swallow a cancellation that races its own read timeout: cancel
        # again until the task is done (the loop also stops at its next turn).
        while follower is not None and not follower.done():
            follower.cancel()
            await asyncio.wait({follower}, timeout=0.1)
        await self._client.aclose()

    def _warn(self, event: str, exc: BaseException, **fields: Any) -> None:
        """Log ``event`` at most once per :data:`WARN_EVERY_S`, with how many were held back."""
        now = time.monotonic()
        last, held_back = self._warned.get(event, (-math.inf, 0))
        if now - last < WARN_EVERY_S:
            self._warned[event] = (last, held_back + 1)
            return
        self._warned[event] = (now, 0)
        log.warning(event, error=_describe(exc), suppressed=held_back, **fields)


def _limit_args(limiter: RateLimiter | None) -> list[str | int | float]:
    """The rate script's arguments after the mode: rps, burst, then each window."""
    if limiter is None:
        return []
    args: list[str | int | float] = [repr(limiter.rps or 0.0), limiter.burst]
    for name, length, cap in limiter.windows:
        args += [name, length, cap]
    return args


def _decide(limiter: RateLimiter, reply: list[Any]) -> Decision:
    """The script's reply as the decision the in-process limiter would give."""
    allowed = int(reply[0]) == 1
    now = float(reply[1])
    tokens = float(reply[2])
    windows = [
        (name, length, cap, float(reply[3 + 2 * i]), int(reply[4 + 2 * i]))
        for i, (name, length, cap) in enumerate(limiter.windows)
    ]
    if not allowed:
        refused = [
            window_decision(name, length, cap, start, count + 1, now)
            for name, length, cap, start, count in windows
            if count >= cap
        ]
        if limiter.rps is not None and (tokens + _EPSILON < 1 or not refused):
            refused.append(limiter.bucket_decision(tokens))
        return max(refused, key=lambda decision: decision.retry_after_s)
    passed = [] if limiter.rps is None else [limiter.bucket_decision(tokens, spent=True)]
    passed += [
        window_decision(name, length, cap, start, count + 1, now)
        for name, length, cap, start, count in windows
    ]
    # The headers describe the limit closest to exhaustion.
    return min(passed, key=lambda decision: decision.remaining / decision.limit)


def _entry_id(key: CacheKey) -> str:
    """A cache key as a fixed-length Redis key part (the key holds URLs and msTokens)."""
    return hashlib.sha256(orjson.dumps(list(key))).hexdigest()


def _load_result(raw: bytes | str) -> SignResult:
    data = orjson.loads(raw)
    return SignResult(**{**data, "navigator": Navigator(**data["navigator"])})


def _dump_operator(state: OperatorState) -> bytes:
    return orjson.dumps(
        {
            "version": state.version,
            "order": list(state.order),
            "disabled": sorted(state.disabled),
            "maintenance": dataclasses.asdict(state.maintenance),
            "changes": list(state.changes),
        },
        default=str,  # a note's detail is shown, never read back: its text is enough
    )


def _load_operator(raw: bytes | str) -> OperatorState:
    data = orjson.loads(raw)
    return OperatorState(
        order=tuple(data["order"]),
        disabled=frozenset(data["disabled"]),
        maintenance=Maintenance(**data["maintenance"]),
        changes=tuple(data["changes"]),
        version=int(data["version"]),
    )


def _describe(exc: BaseException) -> str:
    """One short line about a Redis failure (its class and message; never the URL)."""
    return f"{type(exc).__name__}: {exc}"[:200]

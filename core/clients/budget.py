"""Adapter: the per-installation GitHub write budget, a token bucket shared through Redis.

GitHub's secondary limits allow about 80 content-creating requests a minute and 500 an hour.
Two buckets are kept per installation in one Redis hash, updated atomically by a Lua script:
a minute bucket (a small burst, refilled at one write a second) and an hour bucket (a larger
burst, refilled slowly), sized so that burst + refill over the window stays under each limit.
A write takes a token from both. When one is empty the caller may *reserve* the next token
(wait up to `max_wait`, then write) or is told how long to wait (`RateLimited`). A reservation
not followed by a write (the caller gave up, GitHub refused it before storing anything) is
refunded, so failed attempts never push the next free slot away.

Writes are not equal (`WriteKind`). Final writes (`success`, the superseded deployment's
`inactive`, a check run's conclusion) may take the last token: people wait for them, and they end
a rollout. First writes (a commit's deployment, first status and check run) leave
`FINAL_RESERVE` tokens for the final ones, waiting briefly for them. Progress edits (the comment,
a check run moving from Building to Deploying) are overwritten a moment later: they only go when
they leave `PROGRESS_RESERVE` tokens behind and never wait for one (`keep`); the caller puts them
off and writes the newest state later.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from redis.asyncio import Redis

_KEY = "catalyst:github:budget"

# KEYS[1] hash; ARGV: now, take (1 take/0 peek/-1 refund), max_wait, then per bucket: keep (tokens
# that must stay behind), cap, rate. `wait` is the time until a write may go (keep + 1 tokens).
_BUCKET_SCRIPT = """
local now = tonumber(ARGV[1])
local take = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tokens = {}
local wait = 0
local kept_wait = 0
local low = nil
for i = 0, 1 do
  local keep = tonumber(ARGV[4 + i * 3])
  local cap = tonumber(ARGV[5 + i * 3])
  local rate = tonumber(ARGV[6 + i * 3])
  local have = tonumber(redis.call('HGET', KEYS[1], 't' .. i) or cap)
  local at = tonumber(redis.call('HGET', KEYS[1], 'at') or now)
  have = math.min(cap, have + math.max(now - at, 0) * rate)
  if take < 0 then have = math.min(cap, have + 1) end
  tokens[i] = have
  -- 1e-6: a caller who waited exactly the time named must not be told to wait 1e-8 s more
  if have + 1e-6 < keep + 1 then
    local this = (keep + 1 - have) / rate
    wait = math.max(wait, this)
    if keep > 0 then kept_wait = math.max(kept_wait, this) end
  end
  if low == nil or have < low then low = have end
end
-- A token may be reserved ahead (taken now, written when it exists) only from a bucket with no
-- reserve to keep: a write that must leave tokens behind waits until they are there.
local granted = kept_wait == 0 and wait <= max_wait
if take > 0 and granted then
  tokens[0] = tokens[0] - 1
  tokens[1] = tokens[1] - 1
end
redis.call('HSET', KEYS[1], 't0', tostring(tokens[0]), 't1', tostring(tokens[1]),
  'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 7200)
return {tostring(wait), tostring(low), granted and 1 or 0}
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One window's bucket: `burst` tokens at most, refilled at `per_second`."""

    burst: float
    per_second: float

    def most_in(self, seconds: float) -> float:
        """The most writes this bucket lets through in any window of `seconds`."""
        return self.burst + self.per_second * seconds


# Burst plus refill over the window: 20 + 60 * 0.9 = 74 writes in any minute (< 80) and
# 150 + 3600 * 0.094 = 488.4 in any hour (< 500). A big hour burst lets a busy moment go out
# fast; the slow refill keeps a busy hour under the limit.
MINUTE = Bucket(burst=20.0, per_second=0.9)
HOUR = Bucket(burst=150.0, per_second=0.094)
# What final writes keep for themselves in the minute bucket: `success`, the superseded
# `inactive` and the check run's conclusion of one rollout (3). Not in the hour bucket: once a
# busy hour has drained it, every token is the next one, and a new PR's first status is worth as
# much as another PR's success. Progress writes leave one new head's first writes (its
# deployment, check run and first status) on top of that, in both buckets.
FINAL_RESERVE = 3.0
PROGRESS_RESERVE = 8.0
Keep = tuple[float, float]  # tokens to leave behind: (minute bucket, hour bucket)


class WriteKind(enum.Enum):
    """How much of the budget a write may use (see the module docstring)."""

    FINAL = "final"  # may take the last token, and reserve the next one
    FIRST = "first"  # leaves FINAL_RESERVE tokens; waits briefly until it can
    PROGRESS = "progress"  # leaves PROGRESS_RESERVE tokens; never waits (put off instead)

    @property
    def keep(self) -> Keep:
        """Tokens this kind of write must leave in the (minute, hour) buckets."""
        if self is WriteKind.FIRST:
            return (FINAL_RESERVE, 0.0)
        if self is WriteKind.PROGRESS:
            return (PROGRESS_RESERVE, PROGRESS_RESERVE)
        return (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Grant:
    """The outcome of asking for a token: wait this long (0: now), or not granted at all."""

    granted: bool
    wait: float
    remaining: float


class WriteBudget:
    """Token buckets per installation scope, shared by every worker through Redis."""

    def __init__(
        self, redis: Redis, *, minute: Bucket = MINUTE, hour: Bucket = HOUR, max_wait: float = 3.0
    ) -> None:
        self._redis = redis
        self._buckets = (minute, hour)
        self._max_wait = max_wait

    async def reserve(self, scope: str, *, now: float, keep: Keep = (0.0, 0.0)) -> Grant:
        """Take a token now or reserve the next one within `max_wait`; else say how long.

        With `keep` (first and progress writes) the token is taken only when `keep` tokens stay
        behind in each bucket that keeps some, and never reserved ahead from such a bucket: it
        must not eat into what the others keep.
        """
        wait, low, granted = await self._run(scope, now=now, take=1, keep=keep)
        return Grant(granted, wait, low)

    async def wait_for(self, scope: str, *, now: float, keep: Keep) -> float:
        """Seconds until a write that leaves `keep` tokens may go (0: now); takes nothing."""
        wait, _, _ = await self._run(scope, now=now, take=0, keep=keep)
        return wait

    async def refund(self, scope: str, *, now: float) -> None:
        """Give back a token whose write did not happen."""
        await self._run(scope, now=now, take=-1)

    async def remaining(self, scope: str, *, now: float) -> float:
        """Tokens left in the emptier bucket (negative while reservations are outstanding)."""
        _, low, _ = await self._run(scope, now=now, take=0)
        return low

    async def _run(
        self,
        scope: str,
        *,
        now: float,
        take: int,
        keep: Keep = (0.0, 0.0),
    ) -> tuple[float, float, bool]:
        script = self._redis.register_script(_BUCKET_SCRIPT)
        args: list[str] = [repr(now), str(take), repr(self._max_wait)]
        for kept, bucket in zip(keep, self._buckets, strict=True):
            args += [repr(kept), repr(bucket.burst), repr(bucket.per_second)]
        wait, low, granted = await script(keys=[f"{_KEY}:{scope}"], args=args)
        return float(wait), float(low), bool(int(granted))

"""Adapter: the one Redis lock: short-lived, owner-checked, renewed by a thread while held.

A lock is a key set with NX and a TTL to a token only its holder knows; renewing and releasing
are Lua scripts that act only while the key still holds that token, so a holder that lost its
lock (stalled past the TTL) never extends or deletes someone else's. A `Renewer` thread extends
the lock every third of its TTL on a blocking client of its own thread's use, because a holder's
own code may block (Kubernetes calls stall an event loop) for longer than the TTL. A dead holder
(SIGKILL, lost node) blocks the others for at most the TTL.

Two faces over this one implementation: the reconciler's blocking `KeyGate.lock`
(`reconciler.keys`) and the workers' async `renewed_lock` (`workers.locks`).
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger("catalyst.locks")

RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def millis(seconds: float) -> int:
    """A TTL in whole milliseconds (at least one)."""
    return max(1, int(seconds * 1000))


def try_acquire(client: redis.Redis, key: str, token: str, ttl: float) -> bool:
    """Take `key` for `ttl` seconds when nobody holds it."""
    return bool(client.set(key, token, nx=True, px=millis(ttl)))


def release(client: redis.Redis, key: str, token: str) -> bool:
    """Delete `key` if it still holds `token`; False when it expired (or someone else took it)."""
    return bool(client.eval(RELEASE_SCRIPT, 1, key, token))


class Renewer:
    """Extends a held lock every `ttl / 3` from its own thread until stopped, the lock is lost,
    or `max_hold` seconds have passed (a bound on a hung holder)."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        token: str,
        *,
        ttl: float,
        max_hold: float | None = None,
    ) -> None:
        self._client, self._key, self._token = client, key, token
        self._ttl, self._max_hold = ttl, max_hold
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"renew {key}", daemon=True)
        self.lost = False

    def start(self) -> None:
        """Begin renewing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the holder releases the lock)."""
        self._stopped.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        until = None if self._max_hold is None else time.monotonic() + self._max_hold
        while not self._stopped.wait(self._ttl / 3):
            if until is not None and time.monotonic() >= until:
                return
            if not self._renew_once():
                self.lost = True  # expired while the holder stalled; writes stay guarded
                log.warning("lost lock %s while held (renewal came too late)", self._key)
                return

    def _renew_once(self) -> bool:
        try:
            return bool(
                self._client.eval(RENEW_SCRIPT, 1, self._key, self._token, millis(self._ttl))
            )
        except redis.RedisError as exc:
            # Redis is briefly away: keep trying while the lock may still be ours.
            log.warning("could not renew lock %s: %s", self._key, exc)
            return True

"""Pure: checking a delivery's `X-Hub-Signature-256` and naming why it failed (no I/O).

The receiver answers every failure with the same bare 401; the reason only feeds the
verification-failure metric, so an attacker learns nothing from the response. `Verifier` checks
incrementally: the header is judged before any body byte is read (missing or malformed: refused
at once), then every chunk feeds one HMAC per secret as it arrives, so a body is never buffered
and copied only to find out it was not signed. `failure_reason` checks a whole body at once.
"""

from __future__ import annotations

import hashlib
import hmac

from core.signing import PREFIX

_HEX = frozenset("0123456789abcdef")


def header_digest(header: str | None) -> bytes | str:
    """The 32-byte digest a well-formed header carries, else the failure label."""
    if not header:
        return "missing"
    if not header.startswith(PREFIX):
        return "malformed"
    digest = header[len(PREFIX) :]
    if len(digest) != 64 or not _HEX.issuperset(digest):
        return "malformed"
    return bytes.fromhex(digest)


class Verifier:
    """An HMAC-SHA256 per secret, fed chunk by chunk while the body is read."""

    def __init__(self, expected: bytes, secrets: list[bytes]) -> None:
        self._expected = expected
        self._macs = [hmac.new(secret, digestmod=hashlib.sha256) for secret in secrets]

    def update(self, chunk: bytes) -> None:
        """Feed the next body chunk."""
        for mac in self._macs:
            mac.update(chunk)

    def failure_reason(self) -> str | None:
        """None when one secret signed the body read so far (all compared, constant time)."""
        results = [hmac.compare_digest(mac.digest(), self._expected) for mac in self._macs]
        return None if any(results) else "mismatch"


def failure_reason(body: bytes, header: str | None, secrets: list[bytes]) -> str | None:
    """None when `header` signs `body` under one of `secrets`, else a short metric label.

    Every secret is compared in constant time, and all are tried even after a match, so timing
    does not reveal which secret (or whether any) matched.
    """
    expected = header_digest(header)
    if isinstance(expected, str):
        return expected
    verifier = Verifier(expected, secrets)
    verifier.update(body)
    return verifier.failure_reason()

"""Pure: remove secrets and stack traces from text that leaves the cluster (no I/O).

Shared by the GitHub projection (descriptions, the sticky comment) and the reconciler (a failed
build's log tail, redacted before it is stored on the Environment status).
"""

from __future__ import annotations

import re

_SECRET_PATTERNS = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})\b"),
    re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{12,}"),
    re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|access[_-]?key)(\s*[=:]\s*)\S+"),
    re.compile(r"(?i)(://[^/\s:@]*:)[^@\s]+@"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),  # Stripe keys
    re.compile(r"\bwhsec_[A-Za-z0-9]{16,}\b"),
)
# Secrets after a key name, keeping the key: JSON (docker's `"auth"`, `"password"`) and the
# space-separated form tools print (`aws_secret_access_key  wJalr...`).
_KEYED = (
    (
        re.compile(
            r'(?i)("(?:auth|password|passwd|secret|token|identitytoken|api[_-]?key|'
            r'access[_-]?key|client[_-]?secret|private[_-]?key)"\s*:\s*)"(?:[^"\\]|\\.)*"'
        ),
        r'\1"[redacted]"',
    ),
    (
        re.compile(
            r"(?i)\b(aws_?secret_?access_?key|aws_?session_?token)([\s\"':=]+)[A-Za-z0-9/+=]{16,}"
        ),
        r"\1\2[redacted]",
    ),
)
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.S)


def redact(text: str) -> str:
    """Remove secrets and stack traces from text that will be shown on GitHub."""
    return redact_secrets(_TRACEBACK.sub("(details in the build log)", text))


def redact_secrets(text: str) -> str:
    """Remove secrets only: for a build log, whose own stack traces are what the author needs."""
    for keyed, replacement in _KEYED:
        text = keyed.sub(replacement, text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def _mask(match: re.Match[str]) -> str:
    # Keep a key name or URL user so the reader still sees what was hidden.
    groups = match.groups()
    if len(groups) >= 2 and groups[1] is not None and groups[1].strip() in {"=", ":"}:
        return f"{groups[0]}{groups[1]}[redacted]"
    if match.group(0).startswith("://"):
        return f"{groups[0]}[redacted]@"
    return "[redacted]"

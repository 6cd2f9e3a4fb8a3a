"""Redaction of secrets in text that leaves the cluster (build log tails, GitHub comments)."""

from __future__ import annotations

import pytest

from core.redaction import redact_secrets

CASES = [
    # (log line, what must disappear, what must stay)
    ('{"auths":{"r.io":{"auth":"dXNlcjpodW50ZXIy"}}}', "dXNlcjpodW50ZXIy", '"auth":"[redacted]"'),
    ('{"username": "ci", "password": "hunter2!"}', "hunter2!", '"password": "[redacted]"'),
    ('{"identitytoken": "eyJhbGciOi.abc"}', "eyJhbGciOi.abc", '"identitytoken": "[redacted]"'),
    (
        "aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key [redacted]",
    ),
    (
        "AWS_SESSION_TOKEN  FwoGZXIvYXdzEJr//////////wEaDOn",
        "FwoGZXIvYXdzEJr",
        "AWS_SESSION_TOKEN",
    ),
    ("export SLACK=xoxb-123456789012-abcdefABCDEF", "xoxb-123456789012-abcdefABCDEF", "SLACK="),
    (
        "posting to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX done",
        "T000/B000/XXXXXXXXXXXXXXXX",
        "done",
    ),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe"),
    ("key rk_test_51HxxxxxxxxxxxxxxxxxxxxX", "rk_test_51HxxxxxxxxxxxxxxxxxxxxX", "key"),
    ("whsec_abcdefghijklmnopqrstuvwxyz", "whsec_abcdefghijklmnopqrstuvwxyz", ""),
    ("redis://:s3cretpass@redis:6379/0", "s3cretpass", "redis://:[redacted]@redis"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", ""),
]


@pytest.mark.parametrize(("line", "secret", "kept"), CASES, ids=[c[1][:16] for c in CASES])
def test_secrets_are_redacted_and_the_context_kept(line: str, secret: str, kept: str) -> None:
    out = redact_secrets(line)
    assert secret not in out
    assert kept in out


def test_ordinary_log_lines_are_untouched() -> None:
    line = 'Step 3/7 : RUN npm ci --auth-type=legacy && echo "{\\"name\\": \\"web\\"}"'
    assert redact_secrets(line) == line

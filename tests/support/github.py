"""Test support: GitHub webhook deliveries, signed as GitHub signs them, and vendored examples.

`signed_delivery` returns the headers and the exact body bytes to post; the examples under
tests/fixtures/github/webhooks/ come from npm `@octokit/webhooks-examples` (MIT, see LICENSE there;
regenerate with scripts/vendor-webhook-examples.py).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.signing import sign

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "github" / "webhooks"


def signed_delivery(
    event: str,
    payload: dict[str, Any] | bytes,
    secret: str | bytes,
    *,
    delivery_id: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a delivery of `event`, signed with `secret` (X-Hub-Signature-256).

    A dict payload is serialised compactly; bytes are sent (and signed) exactly as given.
    """
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    key = secret if isinstance(secret, bytes) else secret.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": sign(body, key),
    }
    return headers, body


def example_paths(*events: str) -> list[Path]:
    """Vendored example files of `events` (all when none given), variants included, sorted."""
    paths = sorted(EXAMPLES_DIR.glob("*.json"))
    if not events:
        return paths
    return [p for p in paths if example_event(p) in events]


def example_event(path: Path) -> str:
    """The event of a vendored example, from its file name (`[variant.]<event>.<action>...`)."""
    parts = path.name.split(".")
    return parts[1] if parts[0] == "variant" else parts[0]


def load_example(name: str) -> dict[str, Any]:
    """One vendored example by file name."""
    return dict(json.loads((EXAMPLES_DIR / name).read_text()))


def generate_app_key() -> tuple[str, str]:
    """A fresh RSA App key: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def private_key_pem() -> str:
    """A throwaway GitHub App private key (PEM)."""
    return generate_app_key()[0]

"""Deploy artefacts: the GitHub App manifest (deploy/github-app.yml) asks for what the App needs.

Checks the manifest parses, keeps the App private, points its webhook at /webhook and lists the
permissions and events the workers and receiver rely on, and nothing the docs say cannot be listed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.deploy.rendering import REPO

MANIFEST = REPO / "deploy" / "github-app.yml"
PERMISSIONS = {
    "deployments": "write",
    "pull_requests": "write",
    "issues": "write",
    "contents": "read",
    "metadata": "read",
    "checks": "write",
}
EVENTS = {"pull_request", "push", "issue_comment", "check_run", "check_suite"}
AUTOMATIC_EVENTS = {"installation", "installation_repositories"}
MANIFEST_KEYS = {
    "name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url",
    "description", "public", "default_events", "default_permissions",
    "request_oauth_on_install", "setup_on_update",
}  # fmt: skip


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_manifest_uses_only_documented_keys(manifest: dict[str, Any]) -> None:
    assert set(manifest) <= MANIFEST_KEYS
    assert {"name", "url", "hook_attributes", "redirect_url"} <= set(manifest)


def test_app_is_private_and_its_webhook_is_the_receiver(manifest: dict[str, Any]) -> None:
    assert manifest["public"] is False
    hook = urlparse(manifest["hook_attributes"]["url"])
    assert (hook.scheme, hook.path) == ("https", "/webhook")
    assert manifest["hook_attributes"].get("active", True) is True
    assert urlparse(manifest["redirect_url"]).scheme == "https"


def test_permissions_are_exactly_what_the_app_uses(manifest: dict[str, Any]) -> None:
    assert manifest["default_permissions"] == PERMISSIONS


def test_administration_is_offered_only_as_a_commented_option() -> None:
    lines = MANIFEST.read_text().splitlines()
    assert any(line.strip() == "# administration: write" for line in lines)


def test_events_are_the_handled_ones(manifest: dict[str, Any]) -> None:
    assert set(manifest["default_events"]) == EVENTS
    assert not AUTOMATIC_EVENTS & set(manifest["default_events"])
    assert "You cannot manually subscribe" in MANIFEST.read_text()


def test_the_oauth_callback_is_the_dashboards(manifest: dict[str, Any]) -> None:
    from dashboard.auth import CALLBACK_PATH

    (callback,) = manifest["callback_urls"]
    assert callback.startswith("https://") and callback.endswith(CALLBACK_PATH)

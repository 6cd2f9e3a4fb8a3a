"""Pure: links into the dashboard (no I/O).

The PR comment, the check run and the CLI point people at an environment's dashboard page; this
is the one place that spells those URLs, so the dashboard's routes and the links cannot drift.
"""

from __future__ import annotations

from urllib.parse import quote

ENVIRONMENT_PATH = "/environments/{namespace}/{name}"


def environment_path(namespace: str, name: str) -> str:
    """The dashboard path of one Environment (each part percent-encoded)."""
    return ENVIRONMENT_PATH.format(namespace=quote(namespace, safe=""), name=quote(name, safe=""))


def environment_page_url(dashboard_url: str | None, *, namespace: str, name: str) -> str | None:
    """The absolute URL of the Environment's page, or None when no dashboard is configured."""
    if not dashboard_url:
        return None
    return dashboard_url.rstrip("/") + environment_path(namespace, name)

"""Flow: the one router combining every event family's router."""

from __future__ import annotations

from webhook.routers import Router, checks, installation, issue_comment, pull_request, push


def build_router() -> Router:
    """A router covering every event the receiver handles."""
    return Router(
        pull_request.router,
        push.router,
        issue_comment.router,
        installation.router,
        checks.router,
    )

"""The dashboard's pages, sign-in, CSRF and permission rules, through its HTTP interface."""

from __future__ import annotations

import logging

import pytest
from starlette.routing import Route

from dashboard.app import ROUTES
from tests.support import dashboard_world as world

from .conftest import DASHBOARD, Dash

ENV_PAGE = f"/environments/{world.PROJECT_NS}/{world.ENV_NAME}"
FORK_PAGE = f"/environments/{world.PROJECT_NS}/{world.FORK_NAME}"
SHELL_QUERY = f"?pod={world.POD}&container={world.CONTAINER}"


def test_signed_out_people_see_the_sign_in_page_and_are_sent_to_it(dash: Dash) -> None:
    assert "Sign in with GitHub" in dash.client.get("/").text
    page = dash.client.get(ENV_PAGE, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=%2Fenvironments%2F")


def test_sign_in_sets_a_sealed_http_only_lax_cookie_and_returns_to_the_page(dash: Dash) -> None:
    dash.github.state.oauth_user = "writer"
    to_github = dash.client.get(f"/login?next={ENV_PAGE}", follow_redirects=False)
    assert to_github.headers["location"].startswith(
        "http://github.test/login/oauth/authorize?client_id=Iv1.dashboardtest"
    )
    import httpx

    back = dash.github.handle(httpx.Request("GET", to_github.headers["location"]))
    done = dash.client.get(back.headers["location"], follow_redirects=False)
    assert done.headers["location"] == ENV_PAGE
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "writer" not in cookie


def test_a_callback_whose_state_does_not_match_is_refused(dash: Dash) -> None:
    dash.client.get("/login", follow_redirects=False)
    page = dash.client.get("/auth/callback?code=code1&state=forged", follow_redirects=False)
    assert page.status_code == 400
    assert "did not start here" in page.text
    assert "catalyst_session" not in page.headers.get("set-cookie", "")


def test_list_shows_readable_environments_with_pr_links(dash: Dash) -> None:
    dash.sign_in("reader")
    page = dash.client.get("/").text
    assert world.ENV_NAME in page and world.FORK_NAME in page
    assert 'href="http://github.test/acme/shop/pull/1"' in page
    assert "Ready" in page and "fork" in page


def test_list_filters_by_project_and_phase(dash: Dash) -> None:
    dash.sign_in("reader")
    assert world.ENV_NAME in dash.client.get("/environments/rows?project=shop&phase=Ready").text
    empty = dash.client.get("/environments/rows?phase=Failed").text
    assert world.ENV_NAME not in empty and "match the filter" in empty


def test_people_without_read_access_see_nothing_and_a_not_found_page(dash: Dash) -> None:
    dash.sign_in("outsider")
    assert world.ENV_NAME not in dash.client.get("/").text
    page = dash.client.get(ENV_PAGE)
    assert page.status_code == 404 and "is not there" in page.text


def test_environment_page_shows_conditions_pods_events_and_metrics_line(dash: Dash) -> None:
    dash.sign_in("writer")
    page = dash.client.get(ENV_PAGE)
    assert page.status_code == 200
    text = page.text
    assert "RolloutComplete" in text and "1/1 pods ready" in text
    assert world.POD in text and "web: OOMKilled (exit 137)" in text
    assert "back-off restarting" in text
    assert "does not serve metrics.k8s.io" in text
    assert f"/terminal?pod={world.POD}" in text


def test_a_reader_sees_why_there_is_no_shell_and_the_terminal_is_refused(dash: Dash) -> None:
    dash.sign_in("reader")
    assert "A shell needs write permission" in dash.client.get(ENV_PAGE).text
    page = dash.client.get(ENV_PAGE + "/terminal" + SHELL_QUERY)
    assert page.status_code == 403 and "you have read" in page.text


@pytest.mark.parametrize(
    ("login", "status"), [("writer", 403), ("maintainer", 200), ("admin", 200)]
)
def test_a_fork_preview_shell_needs_maintain(dash: Dash, login: str, status: int) -> None:
    dash.sign_in(login)
    assert dash.client.get(FORK_PAGE + "/terminal" + SHELL_QUERY).status_code == status


def test_a_missing_environment_gets_the_gone_page_with_causes_and_retry(dash: Dash) -> None:
    dash.sign_in("writer")
    page = dash.client.get(f"/environments/{world.PROJECT_NS}/pr-404")
    assert page.status_code == 404
    assert "Environment <code>acme-shop/pr-404</code> is not there" in page.text
    for cause in ("deleted", "pull request was closed", "time to live", "not been reconciled"):
        assert cause in page.text
    assert 'id="retry"' in page.text and "Traceback" not in page.text


def test_an_environment_whose_namespace_is_gone_says_so(dash: Dash) -> None:
    dash.sign_in("writer")
    dash.kf.put_object(world.environment("pr-3", pr=3, namespace="acme-shop-pr-3"))
    page = dash.client.get(f"/environments/{world.PROJECT_NS}/pr-3")
    assert page.status_code == 404
    assert "Namespace <code>acme-shop-pr-3</code> is not there" in page.text


def test_log_stream_sends_the_tail_as_events(dash: Dash) -> None:
    dash.sign_in("reader")
    body = dash.client.get(ENV_PAGE + "/logs" + SHELL_QUERY + "&follow=0").text
    assert "event: line\ndata: GET / 200\n" in body and "event: end" in body


def test_sign_out_needs_the_csrf_token(dash: Dash) -> None:
    dash.sign_in("writer")
    assert dash.client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert dash.client.post("/logout").status_code == 403
    done = dash.client.post("/logout", data={"csrf": dash.csrf()}, follow_redirects=False)
    assert done.status_code == 303
    assert "Sign in with GitHub" in dash.client.get("/").text


def test_every_state_changing_route_refuses_a_request_without_the_token(dash: Dash) -> None:
    dash.sign_in("writer")
    changing = [
        r for r in ROUTES if isinstance(r, Route) and (r.methods or set()) - {"GET", "HEAD"}
    ]
    assert changing
    for route in changing:
        assert dash.client.post(route.path, data={"csrf": "x"}).status_code == 403, route.path


def test_a_forged_session_cookie_is_signed_out(dash: Dash) -> None:
    dash.client.cookies.set("catalyst_session", "gAAAAAforged")
    assert "Sign in with GitHub" in dash.client.get("/").text


def _socket_path(page: str) -> str:
    return page + "/exec" + SHELL_QUERY


def _socket_headers(dash: Dash, origin: str) -> dict[str, str]:
    # The test client's websocket handshake does not send its cookie jar: a browser would.
    return {
        "origin": origin,
        "cookie": f"catalyst_session={dash.client.cookies['catalyst_session']}",
    }


def test_terminal_runs_a_command_and_writes_one_audit_line(
    dash: Dash, caplog: pytest.LogCaptureFixture
) -> None:
    dash.sign_in("writer")
    url = _socket_path(ENV_PAGE) + "&csrf=" + dash.csrf()
    caplog.set_level(logging.INFO, logger="catalyst.dashboard.terminal")
    with dash.client.websocket_connect(url, headers=_socket_headers(dash, DASHBOARD)) as ws:
        ws.send_text('{"type": "resize", "cols": 100, "rows": 30}')
        ws.send_text('{"type": "input", "data": "echo hi-there\\r"}')
        seen = ""
        while "hi-there\r\n$ " not in seen:
            seen += ws.receive_text()
        ws.send_text('{"type": "input", "data": "exit\\r"}')
        while '"type": "exit"' not in seen:
            seen += ws.receive_text()
    audits = [r.getMessage() for r in caplog.records if "terminal session" in r.getMessage()]
    assert len(audits) == 1
    assert f"user=writer pod={world.ENV_NS}/{world.POD} start=" in audits[0]
    assert (100, 30) in dash.kf.api.exec_log[-1].resizes


@pytest.mark.parametrize(
    ("login", "csrf", "origin", "why"),
    [
        ("reader", True, DASHBOARD, "needs write"),
        ("writer", False, DASHBOARD, "security token"),
        ("writer", True, "http://evil.test", "not opened from the dashboard"),
    ],
)
def test_terminal_socket_refuses(dash: Dash, login: str, csrf: bool, origin: str, why: str) -> None:
    dash.sign_in(login)
    token = dash.csrf() if csrf else "forged"
    url = _socket_path(ENV_PAGE) + "&csrf=" + token
    count = len(dash.kf.api.exec_log)
    with dash.client.websocket_connect(url, headers=_socket_headers(dash, origin)) as ws:
        assert why in ws.receive_text()
    assert len(dash.kf.api.exec_log) == count


def test_an_idle_terminal_is_closed(dash: Dash) -> None:
    dash.sign_in("writer")
    dash.client.app.state.deps.terminal_idle_seconds = 1.0  # type: ignore[attr-defined]
    url = _socket_path(ENV_PAGE) + "&csrf=" + dash.csrf()
    seen = ""
    with dash.client.websocket_connect(url, headers=_socket_headers(dash, DASHBOARD)) as ws:
        while "[closed: no input for 1 seconds]" not in seen:
            seen += ws.receive_text()


def test_a_status_url_that_is_not_http_is_shown_but_never_linked(dash: Dash) -> None:
    dash.sign_in("writer")
    env = world.environment("pr-6", pr=6, namespace=world.ENV_NS)
    env["status"]["url"] = "javascript:alert(1)"
    dash.kf.put_object(env)
    page = dash.client.get(f"/environments/{world.PROJECT_NS}/pr-6").text
    assert "javascript:alert(1)" in page and 'href="javascript:' not in page
    assert 'href="javascript:' not in dash.client.get("/").text

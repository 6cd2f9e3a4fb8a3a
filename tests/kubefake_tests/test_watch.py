"""Watch through ``kubernetes.watch.Watch``: resume from a resourceVersion, live events,
selectors, timeouts, bookmarks, and 410 Gone when the history window has moved on."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubefake import KubeFake

from .helpers import (
    GROUP,
    PLURAL,
    VERSION,
    custom,
    environment,
    environment_crd,
    new_watch,
    typed,
)

ARGS = (GROUP, VERSION, "default", PLURAL)


def _events(api: Any, count: int = 0, **kwargs: Any) -> list[tuple[str, str]]:
    """Events of a watch; stops after ``count`` events (0: read until the server ends it)."""
    w = new_watch()
    out: list[tuple[str, str]] = []
    for event in w.stream(api.list_namespaced_custom_object, *ARGS, **kwargs):
        out.append((event["type"], event["raw_object"]["metadata"].get("name", "")))
        if len(out) == count:
            w.stop()
    return out


def test_watch_resumes_after_resource_version(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("before"))
    rv = api.list_namespaced_custom_object(*ARGS)["metadata"]["resourceVersion"]
    api.create_namespaced_custom_object(*ARGS, environment("after"))
    api.patch_namespaced_custom_object(*ARGS, "after", {"spec": {"sha": "x"}})
    api.delete_namespaced_custom_object(*ARGS, "before")
    events = _events(api, 3, resource_version=rv, timeout_seconds=5)
    assert events == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "before")]


def test_watch_without_resource_version_lists_current_state(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("a"))
    started = time.monotonic()
    assert _events(api, timeout_seconds=1) == [("ADDED", "a")]
    assert 0.9 < time.monotonic() - started < 3  # timeoutSeconds honoured


def test_live_events_from_another_thread(kf: KubeFake) -> None:
    api = custom(kf)
    rv = api.list_namespaced_custom_object(*ARGS)["metadata"]["resourceVersion"]
    w = new_watch()
    seen: list[tuple[str, float]] = []

    def writer() -> None:
        time.sleep(0.1)
        custom(kf).create_namespaced_custom_object(*ARGS, environment("live"))

    threading.Thread(target=writer, daemon=True).start()
    started = time.monotonic()
    for event in w.stream(
        api.list_namespaced_custom_object, *ARGS, resource_version=rv, timeout_seconds=5
    ):
        seen.append((event["raw_object"]["metadata"]["name"], time.monotonic() - started))
        w.stop()
    assert seen[0][0] == "live" and seen[0][1] < 1.0


def test_watch_with_typed_client_deserialises(kf: KubeFake) -> None:
    api = typed(client.CoreV1Api, kf)
    api.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    )
    w = new_watch()
    objs: list[Any] = []
    for event in w.stream(api.list_namespaced_config_map, "default", timeout_seconds=5):
        objs.append(event["object"])
        w.stop()
    first = objs[0]
    assert isinstance(first, client.V1ConfigMap)
    assert first.metadata is not None and first.metadata.name == "c"


def test_label_selector_watch_turns_unmatching_into_deleted(kf: KubeFake) -> None:
    api = custom(kf)
    rv = api.list_namespaced_custom_object(*ARGS)["metadata"]["resourceVersion"]
    body = environment("e1")
    body["metadata"]["labels"] = {"tier": "preview"}
    api.create_namespaced_custom_object(*ARGS, body)
    api.create_namespaced_custom_object(*ARGS, environment("other"))
    api.patch_namespaced_custom_object(*ARGS, "e1", {"metadata": {"labels": {"tier": "gone"}}})
    events = _events(api, 2, resource_version=rv, timeout_seconds=5, label_selector="tier=preview")
    assert events == [("ADDED", "e1"), ("DELETED", "e1")]


def test_field_selector_watch(kf: KubeFake) -> None:
    api = custom(kf)
    rv = api.list_namespaced_custom_object(*ARGS)["metadata"]["resourceVersion"]
    for name in ("a", "b"):
        api.create_namespaced_custom_object(*ARGS, environment(name))
    events = _events(
        api, 1, resource_version=rv, timeout_seconds=5, field_selector="metadata.name=b"
    )
    assert events == [("ADDED", "b")]


def test_bookmark_at_end_of_watch(kf: KubeFake) -> None:
    api = custom(kf)
    events = list(
        new_watch().stream(
            api.list_namespaced_custom_object, *ARGS, timeout_seconds=1, allow_watch_bookmarks=True
        )
    )
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert events[0]["raw_object"]["metadata"]["resourceVersion"]


@pytest.fixture
def small() -> Any:
    with KubeFake([environment_crd()], history_size=3) as fake:
        yield fake


def test_too_old_resource_version_is_410(small: KubeFake) -> None:
    api = custom(small)
    for i in range(5):
        api.create_namespaced_custom_object(*ARGS, environment(f"e{i}"))
    with pytest.raises(ApiException) as info:
        _events(api, resource_version="1", timeout_seconds=1)
    assert info.value.status == 410


def test_410_after_the_clients_single_retry(small: KubeFake) -> None:
    api = custom(small)
    for i in range(5):
        api.create_namespaced_custom_object(*ARGS, environment(f"e{i}"))
    small.clear_requests()
    with pytest.raises(ApiException) as info:
        _events(api, resource_version="2")  # no timeout: the client retries once
    assert info.value.status == 410
    assert [r.verb for r in small.requests()] == ["watch", "watch"]


def test_recent_resource_version_within_window_is_served(small: KubeFake) -> None:
    api = custom(small)
    for i in range(5):
        api.create_namespaced_custom_object(*ARGS, environment(f"e{i}"))
    rv = int(api.get_namespaced_custom_object(*ARGS, "e3")["metadata"]["resourceVersion"])
    assert _events(api, 1, resource_version=str(rv), timeout_seconds=5) == [("ADDED", "e4")]


def test_expire_watch_history_helper(kf: KubeFake) -> None:
    api = custom(kf)
    rv = api.list_namespaced_custom_object(*ARGS)["metadata"]["resourceVersion"]
    api.create_namespaced_custom_object(*ARGS, environment("a"))
    kf.expire_watch_history()
    with pytest.raises(ApiException) as info:
        _events(api, resource_version=rv, timeout_seconds=1)
    assert info.value.status == 410


def test_raw_watch_is_chunked_ndjson_with_watch_1(kf: KubeFake) -> None:
    custom(kf).create_namespaced_custom_object(*ARGS, environment("a"))
    conn = http.client.HTTPConnection("127.0.0.1", kf.port, timeout=5)
    conn.request(
        "GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}?watch=1&timeoutSeconds=1"
    )
    response = conn.getresponse()
    assert response.getheader("transfer-encoding") == "chunked"
    lines = [json.loads(line) for line in response.read().splitlines() if line]
    conn.close()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "a")]


def test_server_forgets_disconnected_watchers(kf: KubeFake) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", kf.port, timeout=5)
    conn.request("GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}?watch=true")
    conn.getresponse()
    assert len(kf.store._subscribers) == 1
    conn.close()
    deadline = time.monotonic() + 30
    while kf.store._subscribers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert kf.store._subscribers == []

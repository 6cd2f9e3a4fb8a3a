"""Fault injection (409/500/410/slow) and the request log."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubefake import Fault, KubeFake

from .helpers import GROUP, PLURAL, VERSION, custom, environment, new_watch, typed

ARGS = (GROUP, VERSION, "default", PLURAL)


def test_conflict_on_first_two_patches_then_normal(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("e1"))
    rule = kf.faults.add(status=409, verb="patch", resource="environments", times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            api.patch_namespaced_custom_object(*ARGS, "e1", {"spec": {"sha": "a"}})
        assert info.value.status == 409
    api.patch_namespaced_custom_object(*ARGS, "e1", {"spec": {"sha": "a"}})
    assert rule.hits == 2 and rule.exhausted


def test_500_by_method_and_path_regex_until_cleared(kf: KubeFake) -> None:
    api = typed(client.CoreV1Api, kf)
    kf.fault(status=500, method="GET", path=r"/namespaces/default/configmaps$", times=None)
    for _ in range(3):
        with pytest.raises(ApiException) as info:
            api.list_namespaced_config_map("default")
        assert info.value.status == 500 and "InternalError" in str(info.value.body)
    api.list_namespace()  # other paths unaffected
    kf.clear_faults()
    api.list_namespaced_config_map("default")


def test_probability_zero_never_fires(kf: KubeFake) -> None:
    kf.faults.add(Fault(status=500, times=None, probability=0.0))
    typed(client.CoreV1Api, kf).list_namespace()


def test_429_without_retry_after_raises(kf: KubeFake) -> None:
    kf.fault(status=429, resource="namespaces")
    with pytest.raises(ApiException) as info:
        typed(client.CoreV1Api, kf).list_namespace()
    assert info.value.status == 429 and "TooManyRequests" in str(info.value.body)


def test_429_with_retry_after_is_retried_by_urllib3(kf: KubeFake) -> None:
    # urllib3's default Retry honours Retry-After on 413/429/503 for every method,
    # so the client silently repeats the request (after the advertised delay).
    kf.fault(status=429, resource="namespaces", retry_after=0)
    typed(client.CoreV1Api, kf).list_namespace()
    assert [r.status for r in kf.requests()] == [429, 200]


def test_slow_request_then_served(kf: KubeFake) -> None:
    kf.fault(status=None, delay=0.3, resource="namespaces", verb="list")
    started = time.monotonic()
    typed(client.CoreV1Api, kf).list_namespace()
    assert time.monotonic() - started >= 0.3


def test_hung_request_hits_client_timeout(kf: KubeFake) -> None:
    # urllib3 retries a GET after a read timeout (3 times by default), so the fault
    # must keep firing for the caller to see the timeout.
    kf.fault(status=None, delay=1, resource="namespaces", times=None)
    with pytest.raises(Exception, match=r"(?i)timed out"):
        typed(client.CoreV1Api, kf).list_namespace(_request_timeout=0.2)


def test_watch_410_fault_arrives_as_error_event(kf: KubeFake) -> None:
    kf.fault(status=410, verb="watch", resource="environments")
    stream = new_watch().stream(
        custom(kf).list_namespaced_custom_object, *ARGS, resource_version="1", timeout_seconds=1
    )
    with pytest.raises(ApiException) as info:
        list(stream)
    assert info.value.status == 410


def test_request_log_counts_writes(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("e1"))
    api.get_namespaced_custom_object(*ARGS, "e1")
    api.list_namespaced_custom_object(*ARGS)
    api.patch_namespaced_custom_object_status(*ARGS, "e1", {"status": {"phase": "Ready"}})
    writes = kf.writes("environments")
    assert [(w.method, w.verb, w.subresource) for w in writes] == [
        ("POST", "create", None),
        ("PATCH", "patch", "status"),
    ]
    assert [r.verb for r in kf.requests()] == ["create", "get", "list", "patch"]
    assert writes[1].content_type == "application/merge-patch+json" and writes[1].status == 200
    assert kf.log.filter(verb="get")[0].name == "e1"
    kf.clear_requests()
    assert kf.requests() == [] and len(kf.log) == 0


def test_failed_requests_are_logged_with_status(kf: KubeFake) -> None:
    with pytest.raises(ApiException):
        custom(kf).get_namespaced_custom_object(*ARGS, "nope")
    assert [(r.status, r.namespace) for r in kf.requests()] == [(404, "default")]

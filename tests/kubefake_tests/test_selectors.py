"""Label and field selectors: the parser on its own, then list through the client."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.kubefake import ApiError, KubeFake
from tests.kubefake.selectors import field_matcher, label_matcher

from .helpers import GROUP, PLURAL, VERSION, custom, environment, typed

OBJ = {"metadata": {"name": "n", "namespace": "ns", "labels": {"app": "web", "pr": "2"}}}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app in (web,api)", True),
        ("app notin (web)", False),
        ("pr", True),
        ("!pr", False),
        ("!missing", True),
        ("app in (web, api),pr!=3", True),
        ("app=web,missing", False),
    ],
)
def test_label_selector_operators(selector: str, expected: bool) -> None:
    matcher = label_matcher(selector)
    assert matcher is not None and matcher(OBJ) is expected


def test_bad_label_selector_is_400() -> None:
    with pytest.raises(ApiError) as info:
        label_matcher("app in web")
    assert info.value.code == 400


def test_field_selector() -> None:
    matcher = field_matcher("metadata.name=n,metadata.namespace!=other")
    assert matcher is not None and matcher(OBJ)
    with pytest.raises(ApiError):
        field_matcher("spec.x=1")


def test_list_with_selectors_through_client(kf: KubeFake) -> None:
    api = custom(kf)
    for name, pr in (("a", 1), ("b", 2), ("c", 3)):
        body = environment(name, pr=pr)
        body["metadata"]["labels"] = {"pr": str(pr), "app": "env"}
        api.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)

    def names(**kwargs: str) -> list[str]:
        out = api.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, **kwargs)
        return [i["metadata"]["name"] for i in out["items"]]

    assert names(label_selector="pr in (1,3)") == ["a", "c"]
    assert names(label_selector="app=env,pr notin (1)") == ["b", "c"]
    assert names(label_selector="!app") == []
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]


def test_field_selector_on_namespace(kf: KubeFake) -> None:
    api = typed(client.CoreV1Api, kf)
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="x")))
    for ns in ("default", "x"):
        api.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
        )
    out = api.list_config_map_for_all_namespaces(field_selector="metadata.namespace=x")
    assert [i.metadata.namespace for i in out.items] == ["x"]

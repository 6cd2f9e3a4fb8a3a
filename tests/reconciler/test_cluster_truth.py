"""Issue 17 on the fake API server made as strict as a kubelet: what a real cluster shows.

Crashing reconciles become a condition, fork previews start without the app Secrets, a missing
Secret fails at once, and Kaniko gets the flags the registry and `/catalyst rebuild` need.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core import naming
from reconciler.plan import plan_with_reads
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    ENV_NS,
    PROJECT_NS,
    SETTINGS,
    SHA2,
    environment_obj,
    make_rig,
    ready_image_rig,
    seed,
)
from tests.reconciler.test_build_logs import set_spec

INGRESS = SETTINGS.ingress_namespace


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status.get("conditions") or [] if c["type"] == "Ready")


def test_a_reconcile_that_keeps_crashing_is_a_condition_with_the_error(
    kubefake: KubeFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = ready_image_rig(kubefake)

    def crashing(obs: Any) -> Any:
        raise KeyError("kind")

    monkeypatch.setattr("reconciler.reconcile.plan_with_reads", crashing)
    with pytest.raises(KeyError):
        rig.run()
    status = rig.status()
    assert status["phase"] == "Failed"
    ready = ready_condition(status)
    assert ready["reason"] == "ReconcileError"
    assert "KeyError: 'kind'" in ready["message"]
    kubefake.clear_requests()
    with pytest.raises(KeyError):
        rig.run()
    assert kubefake.writes() == []  # the same crash again: nothing new to write or publish
    monkeypatch.setattr("reconciler.reconcile.plan_with_reads", plan_with_reads)
    rig.run_until(rig.phase_is("Ready"))
    assert ready_condition(rig.status())["status"] == "True"
    assert naming.FINALIZER in (rig.env() or {})["metadata"]["finalizers"]


def tls_source(kubefake: KubeFake, cert: str) -> None:
    kubefake.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INGRESS}})
    kubefake.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SETTINGS.tls_secret, "namespace": INGRESS},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": cert, "tls.key": "a2V5"},
        }
    )


def test_the_wildcard_tls_secret_is_copied_into_the_preview_namespace_and_kept_current(
    kubefake: KubeFake,
) -> None:
    seed(kubefake, builds=False)
    tls_source(kubefake, "b25l")
    kubefake.controllers.enable("deployments", "namespaces")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))
    copy: Any = kubefake.get("secrets", str(SETTINGS.tls_secret), ENV_NS)
    assert copy["type"] == "kubernetes.io/tls" and copy["data"]["tls.crt"] == "b25l"
    ingress: Any = kubefake.get("ingresses", "web", ENV_NS)
    assert ingress["spec"]["tls"][0]["secretName"] == SETTINGS.tls_secret
    tls_source(kubefake, "dHdv")  # renewed
    set_spec(kubefake, sources=[{"name": "main", "commitSha": SHA2, "branch": "feature/x"}])
    rig.run_until(lambda: rig.status().get("commitSha") == SHA2)
    renewed: Any = kubefake.get("secrets", str(SETTINGS.tls_secret), ENV_NS)
    assert renewed["data"]["tls.crt"] == "dHdv"


def test_cert_manager_issues_each_preview_its_own_certificate(kubefake: KubeFake) -> None:
    seed(kubefake, builds=False)
    tls_source(kubefake, "b25l")
    kubefake.controllers.enable("deployments", "namespaces")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.reconciler.settings = dataclasses.replace(SETTINGS, cert_issuer="letsencrypt")
    rig.run_until(rig.phase_is("Ready"))
    ingress: Any = kubefake.get("ingresses", "web", ENV_NS)
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["spec"]["tls"] == [
        {"hosts": [ingress["spec"]["rules"][0]["host"]], "secretName": "preview-tls"}
    ]
    assert kubefake.get("secrets", str(SETTINGS.tls_secret), ENV_NS) is None  # nothing copied


def with_app_secret_env(kubefake: KubeFake, **config: Any) -> None:
    project: Any = kubefake.get("projects", "shop", "acme")
    template = project["spec"]["templates"]["development"]["config"]
    template["env"].append(
        {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}
    )
    template.update(config)
    kubefake.put_object(project)


def app_env(kubefake: KubeFake) -> dict[str, Any]:
    web: Any = kubefake.get("deployments", "web", ENV_NS)
    env = web["spec"]["template"]["spec"]["containers"][0]["env"]
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in env}


def test_a_fork_preview_of_a_template_with_app_secrets_starts_with_its_fork_env(
    kubefake: KubeFake,
) -> None:
    seed(kubefake)
    with_app_secret_env(kubefake, forkEnv=[{"name": "DB", "value": "sqlite:///tmp/fork.db"}])
    kubefake.controllers.enable("jobs", "namespaces", "pods")  # pods judged like a kubelet
    fork = environment_obj()
    fork["spec"]["sources"][0]["fork"] = True
    kubefake.put_object(fork)
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))
    assert app_env(kubefake)["DB"] == "sqlite:///tmp/fork.db"
    assert kubefake.get("secrets", "db", ENV_NS) is None  # never copied for a fork


def test_a_fork_preview_without_fork_env_starts_without_the_secret_variable(
    kubefake: KubeFake,
) -> None:
    seed(kubefake)
    with_app_secret_env(kubefake)
    kubefake.controllers.enable("jobs", "namespaces", "pods")
    fork = environment_obj()
    fork["spec"]["sources"][0]["fork"] = True
    kubefake.put_object(fork)
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Ready"))
    assert "DB" not in app_env(kubefake) and app_env(kubefake)["MODE"] == "preview"


def test_a_same_repository_preview_missing_its_secret_fails_at_once_naming_it(
    kubefake: KubeFake,
) -> None:
    seed(kubefake)
    with_app_secret_env(kubefake)
    kubefake.controllers.enable("jobs", "namespaces", "pods")
    kubefake.put_object(environment_obj())
    rig = make_rig(kubefake)
    rig.run_until(rig.phase_is("Failed"))
    status = rig.status()
    ready = ready_condition(status)
    assert ready["reason"] == "SecretMissing"
    assert "'db'" in ready["message"] and "env DB" in ready["message"]
    assert kubefake.list("jobs", ENV_NS) == []  # nothing built for a preview that cannot start
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": PROJECT_NS},
    }
    kubefake.put_object({**secret, "data": {"user": "YQ=="}})
    rig.run_until(lambda: "no key 'url'" in ready_condition(rig.status())["message"])
    kubefake.put_object({**secret, "data": {"url": "cG9zdGdyZXM6Ly8="}})
    rig.run_until(rig.phase_is("Ready"))
    assert kubefake.get("secrets", "db", ENV_NS) is not None

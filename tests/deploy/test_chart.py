"""Deploy artefacts: the Helm chart of catalyst-preview renders, lints and validates strictly.

Renders deploy/chart with the real helm v3 for the default values and for ci/full-values.yaml
(every option on), validates every object against the Kubernetes 1.29 schemas in strict mode, and
checks the security and least-privilege facts the chart promises.
"""

from __future__ import annotations

import argparse
import base64
from typing import Any

import kubernetes_validate
import pytest

from cli.main import build_parser, worker_argv
from core.settings import ENV_PREFIX, Settings
from tests.deploy.rendering import (
    CHART,
    FULL_VALUES,
    NAMESPACE,
    RELEASE,
    Manifest,
    component_name,
    find,
    of_kind,
    render,
    run_helm,
    value_args,
)

PROCESSES = ("web", "worker", "reconciler", "beat")
RELEASE_FULLNAME = component_name("x").removesuffix("-x")
CATALYST_GROUP = "catalyst.catalyst.dev"
RECONCILER_MANAGED = {
    "": {"namespaces", "resourcequotas", "limitranges", "serviceaccounts", "secrets"},
    "batch": {"jobs"},
    "networking.k8s.io": {"networkpolicies"},
    "rbac.authorization.k8s.io": {"rolebindings"},
}  # fmt: skip
# What previews deploy is written as the namespace's deployer; the reconciler only reads it.
RECONCILER_READS = {
    "": {"configmaps", "services", "persistentvolumeclaims", "pods", "pods/log"},
    "apps": {"deployments", "statefulsets", "replicasets"},
    "networking.k8s.io": {"ingresses"},
}
DEPLOYER_MANAGED = {
    "": {"configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims", "pods"},
    "apps": {"deployments", "statefulsets"},
    "batch": {"jobs", "cronjobs"},
    "networking.k8s.io": {"ingresses"},
    "autoscaling": {"horizontalpodautoscalers"},
    "policy": {"poddisruptionbudgets"},
}
CRUD = {"get", "list", "watch", "create", "update", "patch", "delete"}
READ = {"get", "list", "watch"}
VARIANTS = {
    "default": ((), ()),
    "full": ((FULL_VALUES,), ()),
    "external-redis-url": ((), ("redis.enabled=false", "redis.external.url=redis://r:6379/1")),
    "external-redis-secret": (
        (),
        ("redis.enabled=false", "redis.external.existingSecret=redis-conn"),
    ),
    "existing-secret": ((), ("github.secret.existingSecret=my-app-secret",)),
}


@pytest.fixture(scope="module")
def default() -> list[Manifest]:
    return render()


@pytest.fixture(scope="module")
def full() -> list[Manifest]:
    return render([FULL_VALUES])


def container(manifests: list[Manifest], process: str) -> dict[str, Any]:
    """The one container of a process Deployment."""
    pod = find(manifests, "Deployment", component_name(process))["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    return dict(only)


def env_names(manifests: list[Manifest], process: str) -> set[str]:
    """Names of the env vars set directly on a process container."""
    return {e["name"] for e in container(manifests, process)["env"]}


def bindings_of(manifests: list[Manifest], sa_name: str) -> list[Manifest]:
    """Every RoleBinding/ClusterRoleBinding with the ServiceAccount among its subjects."""
    kinds = ("RoleBinding", "ClusterRoleBinding")
    return [
        b
        for b in manifests
        if b["kind"] in kinds
        and any(s["kind"] == "ServiceAccount" and s["name"] == sa_name for s in b["subjects"])
    ]


def rules_of(manifests: list[Manifest], kind: str, name: str) -> list[dict[str, Any]]:
    return list(find(manifests, kind, name)["rules"])


# --- lint and strict schema validation -------------------------------------------------------


@pytest.mark.parametrize("values_files", [(), (FULL_VALUES,)], ids=["default", "full"])
def test_helm_lint_strict_passes(values_files: tuple[Any, ...]) -> None:
    out = run_helm("lint", str(CHART), "--strict", *value_args(values_files))
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_validates_strictly_against_kubernetes_1_29(variant: str) -> None:
    files, sets = VARIANTS[variant]
    manifests = render(files, sets)
    assert len(of_kind(manifests, "Deployment")) >= 4
    for manifest in manifests:
        # ValidatingAdmissionPolicy is GA (admissionregistration.k8s.io/v1) from 1.30 on
        version = "1.30" if manifest["kind"].startswith("ValidatingAdmission") else "1.29"
        kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_rejects_a_misspelt_field(default: list[Manifest]) -> None:
    """Guards the check above: strict mode must catch an unknown field."""
    broken = find(default, "Service", component_name("web"))
    broken = {**broken, "spec": {**broken["spec"], "selecter": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.29", strict=True)


def test_missing_required_values_fail_with_a_clear_message() -> None:
    chart_args = ["template", "rel", str(CHART)]
    for sets, needle in (
        (["github.secret.create=true"], "github.secret.privateKey is required"),
        (["redis.enabled=false"], "redis.external.url is required"),
        (["ingress.enabled=true", "ingress.tls.enabled=true"], "ingress.tls.secretName"),
    ):
        with pytest.raises(pytest.fail.Exception, match=needle):
            run_helm(*chart_args, *value_args(sets=sets))


# --- processes: one image, the CLI accepts what the chart passes -----------------------------


@pytest.mark.parametrize("fixture", ["default", "full"])
def test_four_processes_run_the_same_image_with_their_subcommand(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    images = {container(manifests, p)["image"] for p in PROCESSES}
    assert len(images) == 1
    for process in PROCESSES:
        args = container(manifests, process)["args"]
        parsed = build_parser().parse_args(args)
        assert parsed.command == process


def test_full_values_reach_the_process_flags(full: list[Manifest]) -> None:
    worker = build_parser().parse_args(container(full, "worker")["args"])
    assert worker.concurrency == 4 and worker.log_level == "DEBUG"
    assert find(full, "Deployment", component_name("worker"))["spec"]["replicas"] == 3


def test_beat_is_a_singleton_that_never_overlaps(full: list[Manifest]) -> None:
    beat = find(full, "Deployment", component_name("beat"))["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}


# --- pod security ------------------------------------------------------------------------------


@pytest.mark.parametrize("process", PROCESSES)
def test_process_pods_are_hardened(default: list[Manifest], process: str) -> None:
    pod = find(default, "Deployment", component_name(process))["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(default, process)["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    tmp = {v["name"]: v for v in pod["volumes"]}["tmp"]
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in container(default, process)["volumeMounts"]
    assert container(default, process)["resources"]["limits"]["memory"]


def test_redis_requires_a_password_from_a_secret_every_process_uses(
    default: list[Manifest],
) -> None:
    secret = find(default, "Secret", component_name("redis"))
    assert len(base64.b64decode(secret["data"]["redis-password"])) == 32
    redis = container(default, "redis")
    args = redis["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    for env in [{e["name"]: e for e in redis["env"]}] + [
        {e["name"]: e for e in container(default, p)["env"]} for p in PROCESSES
    ]:
        ref = env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": component_name("redis"), "key": "redis-password"}
    assert {e["name"] for e in redis["env"]} >= {"REDISCLI_AUTH"}  # the probes authenticate


def test_redis_existing_secret_is_used_and_none_is_generated() -> None:
    manifests = render(sets=["redis.auth.existingSecret=mine"])
    assert component_name("redis") not in {
        s["metadata"]["name"] for s in of_kind(manifests, "Secret")
    }
    env = {e["name"]: e for e in container(manifests, "worker")["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mine"


def test_redis_admits_only_this_releases_processes(default: list[Manifest]) -> None:
    policy = find(default, "NetworkPolicy", component_name("redis"))
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
    (components,) = peer["podSelector"]["matchExpressions"]
    assert set(components["values"]) >= set(PROCESSES)
    assert "namespaceSelector" not in peer  # this namespace only


def test_redis_maxmemory_is_80_percent_of_its_limit_and_persists_by_default(
    default: list[Manifest],
) -> None:
    args = container(default, "redis")["args"]
    assert args[args.index("--maxmemory") + 1] == str(256 * 1024 * 1024 * 80 // 100)
    manifests = render(sets=["redis.resources.limits.memory=1Gi"])
    args = container(manifests, "redis")["args"]
    assert args[args.index("--maxmemory") + 1] == str(1024**3 * 80 // 100)
    assert find(default, "PersistentVolumeClaim", component_name("redis"))


def test_redis_runs_non_root_with_noeviction_and_appendonly(full: list[Manifest]) -> None:
    redis = container(full, "redis")
    args = redis["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--appendonly") + 1] == "yes"
    assert redis["securityContext"]["readOnlyRootFilesystem"] is True
    pod = find(full, "Deployment", component_name("redis"))["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    claim = {v["name"]: v for v in pod["volumes"]}["data"]["persistentVolumeClaim"]
    assert find(full, "PersistentVolumeClaim", claim["claimName"])


# --- probes --------------------------------------------------------------------------------------


def test_web_probes_health_and_readiness_on_port_8000(default: list[Manifest]) -> None:
    web = container(default, "web")
    ports = {p["name"]: p["containerPort"] for p in web["ports"]}
    assert ports == {"http": 8000}
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


@pytest.mark.parametrize("process", ["reconciler", "beat"])
def test_background_processes_serve_metrics_and_are_probed_there(
    full: list[Manifest], process: str
) -> None:
    proc = container(full, process)
    env = {e["name"]: e.get("value") for e in proc["env"]}
    assert env[f"{ENV_PREFIX}METRICS_PORT"] == "9100"
    assert {p["name"]: p["containerPort"] for p in proc["ports"]} == {"metrics": 9100}
    assert proc["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_worker_liveness_pings_this_pods_celery_node(default: list[Manifest]) -> None:
    """The probe greps `@$HOSTNAME` among `inspect ping` replies; the CLI must name nodes so."""
    probe = " ".join(container(default, "worker")["livenessProbe"]["exec"]["command"])
    argv = worker_argv(argparse.Namespace(concurrency=2, log_level="INFO"))
    node = argv[argv.index("-n") + 1]
    app = argv[argv.index("-A") + 1]
    assert node.endswith("@%h"), "worker node names must end in @<hostname> for the probe"
    assert f"-A {app} inspect ping" in probe
    assert '"@${HOSTNAME}\\""' in probe


def test_web_has_a_disruption_budget_selecting_its_pods(default: list[Manifest]) -> None:
    pdb = find(default, "PodDisruptionBudget", component_name("web"))
    labels = find(default, "Deployment", component_name("web"))["spec"]["template"]["metadata"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels["labels"].items()
    assert pdb["spec"]["maxUnavailable"] == 1


# --- configuration and secrets ----------------------------------------------------------------


def catalyst_settings_set(manifests: list[Manifest], process: str) -> set[str]:
    """Lower-cased Settings field names a process container receives (env + ConfigMap)."""
    config = of_kind(manifests, "ConfigMap")[0]["data"]
    names = env_names(manifests, process) | set(config)
    return {n.removeprefix(ENV_PREFIX).lower() for n in names if n.startswith(ENV_PREFIX)}


@pytest.mark.parametrize("process", PROCESSES)
def test_every_catalyst_variable_is_a_real_setting(full: list[Manifest], process: str) -> None:
    assert catalyst_settings_set(full, process) <= set(Settings.model_fields)


def test_full_values_configure_every_setting(full: list[Manifest]) -> None:
    given = catalyst_settings_set(full, "worker") | catalyst_settings_set(full, "dashboard")
    # The key comes as a file; the inline-PEM alternative stays unset on purpose. The
    # managed-service password key is the reconciler's alone.
    assert set(Settings.model_fields) - given == {"github_private_key", "service_password_key"}
    assert "service_password_key" in catalyst_settings_set(full, "reconciler")


def test_only_the_reconciler_gets_the_generated_service_password_key(
    default: list[Manifest],
) -> None:
    secret = find(default, "Secret", f"{RELEASE_FULLNAME}-service-key")
    assert len(base64.b64decode(secret["data"]["service-password-key"])) == 48
    for process in PROCESSES:
        env = {e["name"]: e for e in container(default, process)["env"]}
        has_key = f"{ENV_PREFIX}SERVICE_PASSWORD_KEY" in env
        assert has_key is (process == "reconciler")


@pytest.mark.parametrize("process", PROCESSES)
def test_secrets_come_by_reference_never_inline(full: list[Manifest], process: str) -> None:
    env = {e["name"]: e for e in container(full, process)["env"]}
    ref = env[f"{ENV_PREFIX}WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": component_name("github"), "key": "webhook-secret"}
    rendered = str(find(full, "Deployment", component_name(process)))
    assert "full-values-webhook-secret" not in rendered
    assert "not-a-real-key" not in rendered


@pytest.mark.parametrize("process", PROCESSES)
def test_only_worker_and_reconciler_get_the_app_private_key(
    default: list[Manifest], process: str
) -> None:
    pod = find(default, "Deployment", component_name(process))["spec"]["template"]["spec"]
    secret_volumes = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    has_key = f"{ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE" in env_names(default, process)
    expected = process in ("worker", "reconciler")
    assert has_key is expected
    assert secret_volumes == ([component_name("github")] if expected else [])


def test_chart_creates_the_secret_only_when_asked(
    default: list[Manifest], full: list[Manifest]
) -> None:
    assert sorted(s["metadata"]["name"] for s in of_kind(default, "Secret")) == [
        component_name("redis"),
        f"{RELEASE_FULLNAME}-service-key",
    ]
    secret = find(full, "Secret", component_name("github"))
    assert set(secret["data"]) == {"private-key.pem", "webhook-secret"}


def test_existing_secret_is_referenced_by_every_process() -> None:
    manifests = render(sets=["github.secret.existingSecret=my-app-secret"])
    for process in PROCESSES:
        env = {e["name"]: e for e in container(manifests, process)["env"]}
        ref = env[f"{ENV_PREFIX}WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "my-app-secret"


def test_redis_url_points_at_the_chart_redis_or_the_external_one(default: list[Manifest]) -> None:
    def redis_env(manifests: list[Manifest]) -> dict[str, Any]:
        env = {e["name"]: e for e in container(manifests, "worker")["env"]}
        return dict(env[f"{ENV_PREFIX}REDIS_URL"])

    in_chart = redis_env(default)["value"]
    assert in_chart == f"redis://:$(REDIS_PASSWORD)@{component_name('redis')}:6379/0"
    assert find(default, "Service", component_name("redis"))["spec"]["ports"][0]["port"] == 6379
    external = render(sets=["redis.enabled=false", "redis.external.url=rediss://r:6380/2"])
    assert redis_env(external)["value"] == "rediss://r:6380/2"
    assert [d for d in of_kind(external, "Deployment") if "redis" in d["metadata"]["name"]] == []
    secret = render(sets=["redis.enabled=false", "redis.external.existingSecret=conn"])
    assert redis_env(secret)["valueFrom"]["secretKeyRef"] == {"name": "conn", "key": "redis-url"}


def test_ingress_exposes_only_the_webhook_path(full: list[Manifest]) -> None:
    ingress = find(full, "Ingress", component_name("web"))["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [
        {"hosts": ["catalyst.example.com"], "secretName": "catalyst-webhook-tls"}
    ]
    (rule,) = ingress["rules"]
    (path,) = rule["http"]["paths"]
    assert rule["host"] == "catalyst.example.com"
    assert (path["path"], path["pathType"]) == ("/webhook", "Exact")
    assert path["backend"]["service"] == {"name": component_name("web"), "port": {"name": "http"}}


# --- RBAC: least privilege per process ---------------------------------------------------------


def test_ingress_caps_the_request_body(full: list[Manifest]) -> None:
    ingress = find(full, "Ingress", component_name("web"))
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "25m"


@pytest.mark.parametrize("process", ["web", "beat"])
def test_web_and_beat_have_no_cluster_access(default: list[Manifest], process: str) -> None:
    sa = find(default, "ServiceAccount", component_name(process))
    pod = find(default, "Deployment", component_name(process))["spec"]["template"]["spec"]
    assert sa["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == component_name(process)
    assert bindings_of(default, component_name(process)) == []


def test_every_process_has_its_own_service_account(default: list[Manifest]) -> None:
    accounts = {sa["metadata"]["name"] for sa in of_kind(default, "ServiceAccount")}
    assert accounts == {component_name(p) for p in PROCESSES}


def test_worker_touches_only_catalyst_environments_and_reads_projects(
    default: list[Manifest],
) -> None:
    (binding,) = bindings_of(default, component_name("worker"))
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": component_name("worker"),
    }
    grants: dict[str, set[str]] = {}
    for rule in rules_of(default, "ClusterRole", component_name("worker")):
        assert rule["apiGroups"] == [CATALYST_GROUP]
        for resource in rule["resources"]:
            grants.setdefault(resource, set()).update(rule["verbs"])
    assert grants == {"environments": CRUD, "projects": READ}


def grants_of(manifests: list[Manifest], role: str) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs of a ClusterRole (rules limited by resourceNames apart)."""
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules_of(manifests, "ClusterRole", role):
        if rule.get("resourceNames"):
            continue
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def reconciler_grants(manifests: list[Manifest]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs of the reconciler's ClusterRole."""
    return grants_of(manifests, component_name("reconciler"))


def deployer_grants(manifests: list[Manifest]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs of the deployer ClusterRole."""
    return grants_of(manifests, f"{RELEASE_FULLNAME}-deployer")


def expand(table: dict[str, set[str]], verbs: set[str]) -> dict[tuple[str, str], set[str]]:
    return {(group, r): verbs for group, resources in table.items() for r in resources}


def test_reconciler_cluster_role_is_exactly_what_it_manages(default: list[Manifest]) -> None:
    grants = reconciler_grants(default)
    expected = expand(RECONCILER_MANAGED, CRUD) | expand(RECONCILER_READS, READ)
    expected |= {("", "events"): {"create"}, ("events.k8s.io", "events"): {"create"}}
    for kind in ("environments", "projects"):
        expected[(CATALYST_GROUP, kind)] = {"get", "list", "watch", "update", "patch"}
        expected[(CATALYST_GROUP, f"{kind}/status")] = {"get", "update", "patch"}
        expected[(CATALYST_GROUP, f"{kind}/finalizers")] = {"update"}
    assert grants == expected


def test_reconciler_binds_only_the_deployer_and_pod_reader_roles(default: list[Manifest]) -> None:
    rules = rules_of(default, "ClusterRole", component_name("reconciler"))
    named = [r for r in rules if r.get("resourceNames")]
    roles = [f"{RELEASE_FULLNAME}-deployer", f"{RELEASE_FULLNAME}-pod-reader"]
    assert sorted((r["resources"], r["verbs"], r["resourceNames"]) for r in named) == [
        (["clusterroles"], ["bind"], roles),
        (["serviceaccounts"], ["impersonate"], ["catalyst-deployer"]),
    ]
    data = find(default, "ConfigMap", RELEASE_FULLNAME)["data"]
    assert data["CATALYST_DEPLOYER_CLUSTER_ROLE"] == f"{RELEASE_FULLNAME}-deployer"
    assert data["CATALYST_POD_READER_CLUSTER_ROLE"] == f"{RELEASE_FULLNAME}-pod-reader"


def test_the_pod_reader_role_reads_pods_and_logs_and_the_chart_binds_it_nowhere(
    default: list[Manifest],
) -> None:
    """The reconciler binds it per preview namespace to the worker (see the settings below)."""
    role = f"{RELEASE_FULLNAME}-pod-reader"
    assert grants_of(default, role) == {("", "pods"): {"get", "list"}, ("", "pods/log"): {"get"}}
    bindings = of_kind(default, "RoleBinding") + of_kind(default, "ClusterRoleBinding")
    assert [b["metadata"]["name"] for b in bindings if b["roleRef"]["name"] == role] == []
    data = find(default, "ConfigMap", RELEASE_FULLNAME)["data"]
    assert data["CATALYST_WORKER_SERVICE_ACCOUNT"] == component_name("worker")
    assert data["CATALYST_WORKER_SERVICE_ACCOUNT_NAMESPACE"] == NAMESPACE


def test_deployer_may_write_only_namespaced_application_kinds(default: list[Manifest]) -> None:
    grants = deployer_grants(default)
    assert {k for k, v in grants.items() if v == CRUD} == set(expand(DEPLOYER_MANAGED, CRUD))
    assert all(v <= READ for k, v in grants.items() if v != CRUD)


def test_admission_policy_keeps_preview_ingress_hosts_to_the_preview_domain(
    default: list[Manifest],
) -> None:
    (policy,) = of_kind(default, "ValidatingAdmissionPolicy")
    (binding,) = of_kind(default, "ValidatingAdmissionPolicyBinding")
    (host,) = policy["spec"]["variables"]
    assert host["expression"] == "namespaceObject.metadata.name + '.preview.localhost'"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "catalyst-preview",
        "catalyst.dev/namespace-type": "environment",
    }


def test_reconciler_leases_are_namespaced_to_the_release(default: list[Manifest]) -> None:
    assert not any(resource == "leases" for _, resource in reconciler_grants(default))
    name = f"{component_name('reconciler')}-leader-election"
    (rule,) = rules_of(default, "Role", name)
    assert (rule["apiGroups"], rule["resources"]) == (["coordination.k8s.io"], ["leases"])
    binding = find(default, "RoleBinding", name)
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": component_name("reconciler"), "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize("fixture", ["default", "full"])
def test_no_role_uses_wildcards_or_privilege_escalation_verbs(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    for role in of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], role["metadata"]["name"]
            assert "escalate" not in rule["verbs"]
            if {"bind", "impersonate"} & set(rule["verbs"]):  # only ever on named objects
                assert rule["resourceNames"] and "*" not in rule["resourceNames"]


def test_helm_extra_rules_extend_only_the_deployer(
    default: list[Manifest], full: list[Manifest]
) -> None:
    assert reconciler_grants(full) == reconciler_grants(default)
    added = set(deployer_grants(full)) - set(deployer_grants(default))
    assert added == {("monitoring.coreos.com", "servicemonitors")}
    worker_rules = rules_of(full, "ClusterRole", component_name("worker"))
    assert worker_rules == rules_of(default, "ClusterRole", component_name("worker"))


# --- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_is_off_by_default_and_on_with_its_own_account(
    default: list[Manifest], full: list[Manifest]
) -> None:
    assert [d for d in of_kind(default, "Deployment") if "dashboard" in d["metadata"]["name"]] == []
    args = container(full, "dashboard")["args"]
    assert build_parser().parse_args(args).command == "dashboard"
    pod = find(full, "Deployment", component_name("dashboard"))["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == component_name("dashboard")
    assert pod["automountServiceAccountToken"] is True
    assert container(full, "dashboard")["ports"][0]["name"] == "http"
    assert find(full, "Service", component_name("dashboard"))["spec"]["ports"][0]["targetPort"] == (
        "http"
    )


def test_the_dashboard_reads_never_secrets_and_creates_only_pods_exec(
    full: list[Manifest],
) -> None:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules_of(full, "ClusterRole", component_name("dashboard")):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    assert grants == {
        (CATALYST_GROUP, "environments"): READ,
        (CATALYST_GROUP, "projects"): READ,
        ("", "pods"): READ,
        ("", "pods/log"): READ,
        ("", "events"): READ,
        ("", "namespaces"): {"get"},
        ("", "pods/exec"): {"create", "get"},
        ("metrics.k8s.io", "pods"): {"get", "list"},
    }
    (binding,) = bindings_of(full, component_name("dashboard"))
    assert binding["roleRef"]["name"] == component_name("dashboard")


def test_the_dashboard_gets_its_secrets_by_reference_and_no_app_key(full: list[Manifest]) -> None:
    env = {e["name"]: e for e in container(full, "dashboard")["env"]}
    for name, key in (
        ("GITHUB_CLIENT_SECRET", "client-secret"),
        ("DASHBOARD_SESSION_KEY", "session-key"),
    ):
        ref = env[f"{ENV_PREFIX}{name}"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": component_name("dashboard"), "key": key}
    assert f"{ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE" not in env
    rendered = str(find(full, "Deployment", component_name("dashboard")))
    assert "full-values-client-secret" not in rendered and "full-values-session-key" not in rendered
    config = of_kind(full, "ConfigMap")[0]["data"]
    assert config[f"{ENV_PREFIX}DASHBOARD_URL"] == "https://previews.example.com"
    assert config[f"{ENV_PREFIX}GITHUB_CLIENT_ID"] == "Iv1.fullvalues"


def test_the_dashboard_ingress_serves_its_public_host(full: list[Manifest]) -> None:
    ingress = find(full, "Ingress", component_name("dashboard"))["spec"]
    assert ingress["rules"][0]["host"] == "previews.example.com"
    assert ingress["tls"] == [{"hosts": ["previews.example.com"], "secretName": "previews-tls"}]

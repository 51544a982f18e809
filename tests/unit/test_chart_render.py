"""`helm lint` and `helm template` of the chart: the defaults and each notable option
(the value files in helm/heartbeat/ci/, plus single --set switches). No cluster: what the
API server says about the result is tests/k8s/test_chart.py's job."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "heartbeat"
VARIANTS = sorted(CHART.glob("ci/*-values.yaml"))
NS = "monitoring"
RELEASE = "hb"
WORKLOADS = ("Deployment", "StatefulSet")


def helm() -> str:
    from hb_controlplane.binaries import binary

    path = binary("helm")
    if not os.access(path, os.X_OK):
        pytest.fail(f"helm is not built ({path}): run scripts/build-controlplane.sh")
    return str(path)


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KUBECONFIG": os.devnull})


def render(*sets: str, files: tuple[Path, ...] = (), crds: bool = False) -> list[dict[str, Any]]:
    args = ["template", RELEASE, str(CHART), "-n", NS]
    for f in files:
        args += ["-f", str(f)]
    for s in sets:
        args += ["--set", s]
    if crds:
        args.append("--include-crds")
    result = run_helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(*sets: str) -> str:
    args = ["template", RELEASE, str(CHART), "-n", NS]
    for s in sets:
        args += ["--set", s]
    result = run_helm(*args)
    assert result.returncode != 0, "expected helm template to fail"
    return result.stderr


def find(docs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{kind} *{suffix}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def container(doc: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(doc)["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env(doc: dict[str, Any]) -> dict[str, Any]:
    """name -> value, or -> valueFrom for references."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(doc).get("env", [])}


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (d for d in docs if d["kind"] in WORKLOADS)


# -- lint -------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, *VARIANTS], ids=lambda p: p.name if p else "defaults")
def test_helm_lint(values: Path | None) -> None:
    args = ["lint", str(CHART), "--strict", "-n", NS]
    if values:
        args += ["-f", str(values)]
    result = run_helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("bad", [
    "pingserver.replicaz=2",  # a typo is an error, not silently ignored
    "redis.mode=sentinel",
    "pingserver.service.type=External",
    "operator.watchNamespaces[0]=Bad_Name",
    "redis.bundled.appendfsync=sometimes",
    "siteRoot=example.com",
])
def test_schema_rejects(bad: str) -> None:
    result = run_helm("lint", str(CHART), "--set", bad)
    assert result.returncode != 0
    assert "schema" in result.stdout + result.stderr


# -- defaults ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defaults() -> list[dict[str, Any]]:
    return render()


def test_default_objects(defaults: list[dict[str, Any]]) -> None:
    assert kinds(defaults) == sorted([
        "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Deployment",
        "Deployment", "PodDisruptionBudget", "PodDisruptionBudget", "Secret", "Service",
        "Service", "Service", "ServiceAccount", "ServiceAccount", "StatefulSet"])
    for doc in defaults:
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == NS, doc["metadata"]["name"]
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/part-of"] == "heartbeat-operator"


def test_every_container_is_hardened(defaults: list[dict[str, Any]]) -> None:
    for doc in workloads(defaults):
        pod = pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["privileged"] is False


def test_only_the_operator_gets_an_api_token(defaults: list[dict[str, Any]]) -> None:
    tokens = {doc["metadata"]["name"]: pod_spec(doc)["automountServiceAccountToken"]
              for doc in workloads(defaults)}
    assert tokens == {"hb-heartbeat-operator": True, "hb-heartbeat-pingserver": False,
                      "hb-heartbeat-worker": False, "hb-heartbeat-redis": False}
    plain = find(defaults, "ServiceAccount", "hb-heartbeat")
    assert plain["automountServiceAccountToken"] is False
    bound = find(defaults, "ClusterRoleBinding")["subjects"]
    assert bound == [{"kind": "ServiceAccount", "name": "hb-heartbeat-operator",
                      "namespace": NS}]


def test_image_defaults_to_the_app_version(defaults: list[dict[str, Any]]) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    images = {container(d)["image"] for d in workloads(defaults) if d["kind"] == "Deployment"}
    assert images == {f"heartbeat-operator:{app_version}"}
    roles = {container(d)["args"][0] for d in workloads(defaults) if d["kind"] == "Deployment"}
    assert roles == {"server", "worker", "operator"}


def test_operator_deployment(defaults: list[dict[str, Any]]) -> None:
    op = find(defaults, "Deployment", "-operator")
    assert op["spec"]["replicas"] == 1
    assert op["spec"]["strategy"] == {"type": "Recreate"}
    c = container(op)
    assert c["args"] == ["operator"]  # peering on: no --standalone
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert "readinessProbe" not in c
    e = env(op)
    assert e["HB_PINGSERVER_URL"] == f"http://hb-heartbeat-pingserver.{NS}.svc.cluster.local:8000"
    assert e["HB_NAMESPACES"] == ""
    assert e["HB_OPERATOR_NAMESPACE"] == NS
    assert e["HB_LIVENESS"] == "http://0.0.0.0:8080/healthz"
    for name, key in (("HB_API_KEY", "api-key"), ("HB_CLUSTER_SECRET", "cluster-secret"),
                      ("HB_PING_KEY", "ping-key")):
        assert e[name] == {"secretKeyRef": {"name": "hb-heartbeat", "key": key}}


def test_pingserver_and_worker(defaults: list[dict[str, Any]]) -> None:
    ps = find(defaults, "Deployment", "-pingserver")
    assert ps["spec"]["replicas"] == 2
    c = container(ps)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    e = env(ps)
    # The password stays out of the URL (HB_REDIS_PASSWORD): it need not be URL-safe.
    assert e["HB_REDIS_URL"] == f"redis://hb-heartbeat-redis.{NS}.svc.cluster.local:6379/0"
    assert e["HB_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "hb-heartbeat",
                                                       "key": "redis-password"}}
    assert e["HB_SITE_ROOT"] == f"http://hb-heartbeat-pingserver.{NS}.svc.cluster.local:8000"
    assert "PROMETHEUS_MULTIPROC_DIR" not in e
    worker = find(defaults, "Deployment", "-worker")
    assert container(worker)["args"] == ["worker", "--metrics-port=9100"]
    assert env(worker)["HB_ALLOW_PRIVATE_WEBHOOKS"] == "false"
    assert env(worker)["HB_METRICS_ADDR"] == "0.0.0.0"  # reachable by probes and Prometheus
    assert container(worker)["livenessProbe"]["httpGet"] == {"path": "/metrics",
                                                             "port": "metrics"}
    assert find(defaults, "Service", "-worker-metrics")["spec"]["ports"][0]["port"] == 9100
    svc = find(defaults, "Service", "-pingserver")
    assert svc["spec"]["type"] == "ClusterIP"
    for name in ("-pingserver", "-worker"):
        assert find(defaults, "PodDisruptionBudget", name)["spec"]["maxUnavailable"] == 1


def test_bundled_redis_keeps_an_append_only_file(defaults: list[dict[str, Any]]) -> None:
    sts = find(defaults, "StatefulSet", "-redis")
    assert sts["spec"]["replicas"] == 1
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    conf = find(defaults, "ConfigMap", "-redis")["data"]["redis.conf"]
    assert "appendonly yes" in conf and "appendfsync everysec" in conf
    assert "maxmemory-policy noeviction" in conf
    assert "protected-mode no" not in conf
    c = container(sts)
    assert "requirepass" not in conf and "REDIS_PASSWORD" in env(sts)
    assert "$REDIS_PASSWORD" not in c["command"]  # never on a command line
    assert pod_spec(sts)["securityContext"]["runAsUser"] == 999


def test_generated_secret(defaults: list[dict[str, Any]]) -> None:
    secret = find(defaults, "Secret")
    assert secret["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert sorted(data) == ["api-key", "api-key-readonly", "cluster-secret", "ping-key",
                            "redis-password"]
    assert len(data["ping-key"]) == 22 and data["ping-key"].isalnum()
    assert data["ping-key"] == data["ping-key"].lower()
    assert len(data["cluster-secret"]) >= 16
    assert len(set(data.values())) == len(data)


def test_generated_keys_appear_only_in_the_secret(defaults: list[dict[str, Any]]) -> None:
    values = {base64.b64decode(v).decode() for v in find(defaults, "Secret")["data"].values()}
    others = json.dumps([d for d in defaults if d["kind"] != "Secret"])
    assert not [v for v in values if v in others]


def test_crds_come_from_the_crds_folder() -> None:
    without = render()
    assert "CustomResourceDefinition" not in kinds(without)
    names = {d["metadata"]["name"] for d in render(crds=True)
             if d["kind"] == "CustomResourceDefinition"}
    assert {"heartbeatchecks.heartbeat.dev", "alertchannels.heartbeat.dev"} <= names


def test_operator_rbac_is_least_privilege(defaults: list[dict[str, Any]]) -> None:
    rules = find(defaults, "ClusterRole")["rules"]
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert "escalate" not in rule["verbs"] and "bind" not in rule["verbs"]
        assert "impersonate" not in rule["verbs"]
    secrets = [r for r in rules if "secrets" in r["resources"]]
    assert [sorted(r["verbs"]) for r in secrets] == [["create", "get", "patch"]]
    assert not any("delete" in r["verbs"] for r in rules
                   if r["apiGroups"] != ["heartbeat.dev"])


# -- options ----------------------------------------------------------------------------------


def test_kind_values() -> None:
    docs = render(files=(CHART / "ci" / "kind-values.yaml",))
    svc = find(docs, "Service", "-pingserver")
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["nodePort"] == 30080
    assert env(find(docs, "Deployment", "-worker"))["HB_ALLOW_PRIVATE_WEBHOOKS"] == "true"
    assert container(find(docs, "Deployment", "-pingserver"))["image"] == "heartbeat-operator:dev"
    kind_config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    mapped = [m["containerPort"] for n in kind_config["nodes"]
              for m in n.get("extraPortMappings", [])]
    assert 30080 in mapped


def test_external_redis() -> None:
    docs = render(files=(CHART / "ci" / "external-redis-values.yaml",))
    assert "StatefulSet" not in kinds(docs)
    assert "redis-password" not in find(docs, "Secret")["data"]
    e = env(find(docs, "Deployment", "-pingserver"))
    assert e["HB_REDIS_URL"] == "rediss://redis.example.internal:6380/2"
    assert e["HB_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "managed-redis",
                                                       "key": "password"}}
    assert e["HB_REDIS_CLUSTER"] == "true"


def test_external_redis_without_password() -> None:
    docs = render("redis.mode=external", "redis.auth.enabled=false",
                  "redis.external.url=redis://r:6379/0?health_check_interval=10")
    e = env(find(docs, "Deployment", "-worker"))
    assert e["HB_REDIS_URL"] == "redis://r:6379/0?health_check_interval=10"
    assert "HB_REDIS_PASSWORD" not in e


@pytest.mark.parametrize(("sets", "message"), [
    (("redis.mode=external",), "needs redis.external.url"),
    (("redis.mode=external", "redis.external.url=redis://r:6379/0"), "existingSecret"),
])
def test_contradictory_values_fail(sets: tuple[str, ...], message: str) -> None:
    assert message in render_error(*sets)


def test_production_values() -> None:
    docs = render(files=(CHART / "ci" / "production-values.yaml",))
    assert "Secret" not in kinds(docs)  # keys come from auth.existingSecret
    ps = find(docs, "Deployment", "-pingserver")
    e = env(ps)
    assert e["HB_API_KEY"] == {"secretKeyRef": {"name": "heartbeat-keys", "key": "api-key"}}
    assert e["HB_SITE_ROOT"] == "https://heartbeat.example.com"
    assert e["PROMETHEUS_MULTIPROC_DIR"] == "/run/prometheus"
    assert e["HB_MIN_TIMEOUT"] == "30"
    assert {"name": "prometheus", "mountPath": "/run/prometheus"} in container(ps)["volumeMounts"]
    assert container(ps)["image"].endswith("@sha256:" + "0" * 64)
    assert pod_spec(ps)["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod_spec(ps)["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert container(ps)["resources"]["requests"]["cpu"] == "100m"
    ing = find(docs, "Ingress")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"][0]["secretName"] == "heartbeat-tls"
    assert ing["spec"]["rules"][0]["host"] == "heartbeat.example.com"
    worker = env(find(docs, "Deployment", "-worker"))
    assert worker["HB_SMTP_HOST"] == "smtp.example.com"
    assert worker["HB_SMTP_PASSWORD"] == {"secretKeyRef": {"name": "smtp", "key": "password"}}
    assert container(find(docs, "Deployment", "-operator"))["args"] == ["operator", "--verbose"]
    policies = {d["metadata"]["name"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies == {f"hb-heartbeat-{n}" for n in ("pingserver", "worker", "operator",
                                                      "redis")}
    redis_np = find(docs, "NetworkPolicy", "-redis")
    allowed = [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
               for p in redis_np["spec"]["ingress"][0]["from"]]
    assert allowed == ["pingserver", "worker"]
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert len(monitors) == 2
    assert all(m["metadata"]["labels"]["release"] == "prometheus" for m in monitors)
    pingserver_monitor = next(m for m in monitors if not m["metadata"]["name"].endswith("worker"))
    assert pingserver_monitor["spec"]["endpoints"][0]["bearerTokenSecret"] == {
        "name": "heartbeat-keys", "key": "api-key-readonly"}
    assert all(d["metadata"]["labels"]["team"] == "platform" for d in docs)
    conf = find(docs, "ConfigMap", "-redis")["data"]["redis.conf"]
    assert "maxmemory 512mb" in conf and "appendfsync always" in conf


def test_namespaced_operator() -> None:
    docs = render(files=(CHART / "ci" / "namespaced-values.yaml",))
    roles = {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"}
    bindings = {d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"}
    assert roles == bindings == {"team-a", "team-b"}
    cluster_rules = find(docs, "ClusterRole")["rules"]
    assert {r for rule in cluster_rules for r in rule["resources"]} == {
        "customresourcedefinitions", "namespaces"}
    role = next(d for d in docs if d["kind"] == "Role")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"kopfpeerings", "heartbeatchecks", "secrets"} <= resources
    assert "clusterkopfpeerings" not in resources
    op = find(docs, "Deployment", "-operator")
    assert container(op)["args"] == ["operator", "--standalone"]
    e = env(op)
    assert e["HB_NAMESPACES"] == "team-a,team-b"
    assert "HB_OPERATOR_NAMESPACE" not in e  # the release namespace is not watched
    sts = find(docs, "StatefulSet", "-redis")
    assert "volumeClaimTemplates" not in sts["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(sts)["volumes"]
    assert "protected-mode no" in find(docs, "ConfigMap", "-redis")["data"]["redis.conf"]
    assert "HB_REDIS_PASSWORD" not in env(find(docs, "Deployment", "-pingserver"))
    assert "PodDisruptionBudget" not in kinds(docs)
    assert container(find(docs, "Deployment", "-worker"))["args"] == ["worker",
                                                                      "--metrics-port=0"]
    assert not [d for d in docs if d["metadata"]["name"].endswith("-worker-metrics")]
    assert "HB_METRICS_ADDR" not in env(find(docs, "Deployment", "-worker"))


def test_namespaced_operator_keeps_state_in_the_release_namespace_when_watched() -> None:
    docs = render(f"operator.watchNamespaces={{{NS},team-a}}")
    assert env(find(docs, "Deployment", "-operator"))["HB_OPERATOR_NAMESPACE"] == NS


def test_without_operator() -> None:
    docs = render(files=(CHART / "ci" / "no-operator-values.yaml",))
    assert not [d for d in docs if "operator" in d["metadata"]["name"]]
    assert not {"ClusterRole", "ClusterRoleBinding", "Role"} & set(kinds(docs))


def test_site_root_and_names_can_be_set() -> None:
    docs = render("siteRoot=https://hb.example.org/", "fullnameOverride=beat")
    e = env(find(docs, "Deployment", "beat-pingserver"))
    assert e["HB_SITE_ROOT"] == "https://hb.example.org"
    assert e["HB_REDIS_URL"] == "redis://beat-redis.monitoring.svc.cluster.local:6379/0"

"""The chart against the real control plane: every rendered variant applied with server-side
dry run (schemas, field validation, RBAC escalation checks), a real `helm install` and
`helm upgrade` (the generated Secret survives), the operator's RBAC checked verb by verb as
its ServiceAccount, and the operator itself run with that ServiceAccount's token against a
HeartbeatCheck and an AlertChannel, so a missing rule fails a test."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client

from hb_controlplane.cluster import ControlPlane
from hb_controlplane.procs import ControlPlaneError
from hb_controlplane.wait import wait_for
from tests.conftest import ARTIFACTS, PingServer
from tests.k8s.conftest import delete_namespace
from tests.k8s.test_operator_harness import Batch, cronjob_body
from tests.support.redis_server import free_port

pytestmark = pytest.mark.k8s

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "heartbeat"
VARIANTS = sorted(CHART.glob("ci/*-values.yaml"))
TIMEOUT = 60.0
GROUP, VERSION = "heartbeat.dev", "v1alpha1"

# What the operator does with the Kubernetes API, from operator/heartbeat_operator/ (main.py:
# Kopf handlers, indexes, the configmap daemon, events; kube.py: Secrets, the state ConfigMap,
# status patches, peering) plus Kopf's own needs. (verb, resource, namespaced)
OPERATOR_NEEDS: list[tuple[str, str, bool]] = [
    # Kopf: scanning and namespaces
    ("list", "customresourcedefinitions.apiextensions.k8s.io", False),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", False),
    ("list", "namespaces", False),
    ("watch", "namespaces", False),
    # Kopf peering (cluster-wide operator); kube.ensure_peering creates the object
    ("get", "clusterkopfpeerings.kopf.dev", False),
    ("list", "clusterkopfpeerings.kopf.dev", False),
    ("watch", "clusterkopfpeerings.kopf.dev", False),
    ("patch", "clusterkopfpeerings.kopf.dev", False),
    ("create", "clusterkopfpeerings.kopf.dev", False),
    # HeartbeatCheck / AlertChannel: handlers, indexes, finalizers, status
    *[(verb, f"{plural}.{GROUP}", True)
      for plural in ("heartbeatchecks", "alertchannels")
      for verb in ("get", "list", "watch", "patch", "create", "delete")],
    *[(verb, f"{plural}.{GROUP}/status", True)
      for plural in ("heartbeatchecks", "alertchannels") for verb in ("get", "patch")],
    # HeartbeatSilence: handlers, timers, finalizer, status
    *[(verb, f"heartbeatsilences.{GROUP}", True) for verb in ("get", "list", "watch", "patch")],
    *[(verb, f"heartbeatsilences.{GROUP}/status", True) for verb in ("get", "patch")],
    # Annotated CronJobs (read only) and their Jobs (the ledger annotation), failed pods'
    # log tails
    ("get", "cronjobs.batch", True), ("list", "cronjobs.batch", True),
    ("watch", "cronjobs.batch", True),
    ("get", "jobs.batch", True), ("list", "jobs.batch", True), ("watch", "jobs.batch", True),
    ("patch", "jobs.batch", True),
    ("get", "pods", True), ("list", "pods", True), ("get", "pods/log", True),
    # Namespaces: the monitor-cronjobs opt-in
    ("get", "namespaces", False),
    # Secrets: channel credentials, the ping-key Secret
    ("get", "secrets", True), ("create", "secrets", True), ("patch", "secrets", True),
    # The state ConfigMap and its daemon
    ("get", "configmaps", True), ("list", "configmaps", True), ("watch", "configmaps", True),
    ("create", "configmaps", True), ("patch", "configmaps", True),
    # Events: posted; the CronJob controller's watched
    ("create", "events", True), ("patch", "events", True),
    ("list", "events", True), ("watch", "events", True),
]
# Least privilege: what it must not be able to do.
OPERATOR_MUST_NOT: list[tuple[str, str, bool]] = [
    ("list", "secrets", True),
    ("delete", "secrets", True),
    ("create", "pods", True),
    ("delete", "pods", True),
    ("create", "deployments.apps", True),
    ("delete", "cronjobs.batch", True),
    ("patch", "cronjobs.batch", True),
    ("delete", "jobs.batch", True),
    ("create", "jobs.batch", True),
    ("delete", "namespaces", False),
    ("create", "clusterroles.rbac.authorization.k8s.io", False),
    ("create", "rolebindings.rbac.authorization.k8s.io", True),
    ("impersonate", "serviceaccounts", True),
    ("create", "serviceaccounts/token", True),
]


# -- helpers ----------------------------------------------------------------------------------


def helm(cp: ControlPlane, home: Path, *args: str, check: bool = True
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig), "HELM_CACHE_HOME": str(home / "c"),
           "HELM_CONFIG_HOME": str(home / "f"), "HELM_DATA_HOME": str(home / "d")}
    result = subprocess.run([str(cp.bin_dir / "helm"), *args], capture_output=True, text=True,
                            timeout=180, env=env)
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
    return result


def render(cp: ControlPlane, home: Path, release: str, namespace: str, *args: str) -> str:
    return helm(cp, home, "template", release, str(CHART), "-n", namespace, *args).stdout


def docs_of(manifest: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifest) if d]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_namespace(kube_api: client.ApiClient, name: str) -> None:
    meta = client.V1ObjectMeta(name=name, labels={"hb-test": "true"})
    client.CoreV1Api(kube_api).create_namespace(client.V1Namespace(metadata=meta))


def can_i(cp: ControlPlane, sa: str, verb: str, resource: str, namespace: str | None) -> bool:
    scope = ["-n", namespace] if namespace else ["--all-namespaces"]
    out = cp.kubectl("auth", "can-i", verb, resource, f"--as={sa}", *scope, check=False)
    return out.strip() == "yes"


SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com", "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "plural": "servicemonitors",
                  "singular": "servicemonitor", "listKind": "ServiceMonitorList"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


@pytest.fixture(scope="module")
def crds(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The chart's CRDs, plus a stand-in ServiceMonitor CRD (the Prometheus Operator's is not
    installed) so that serviceMonitor.enabled can be dry-run too."""
    control_plane.apply(CHART / "crds")
    stub = tmp_path_factory.mktemp("crd") / "servicemonitor.yaml"
    stub.write_text(yaml.safe_dump(SERVICE_MONITOR_CRD))
    control_plane.apply(stub)
    for name in ("heartbeatchecks.heartbeat.dev", "alertchannels.heartbeat.dev",
                 "kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev",
                 "servicemonitors.monitoring.coreos.com"):
        control_plane.wait_crd_established(name)
    yield
    control_plane.kubectl("delete", "-f", str(stub), "--wait=false", check=False)


@pytest.fixture
def helm_home(tmp_path: Path) -> Path:
    return tmp_path / "helm"


# -- server-side dry run of every variant ------------------------------------------------------


@pytest.mark.parametrize("values", [None, *VARIANTS], ids=lambda p: p.name if p else "defaults")
def test_rendered_manifests_pass_server_side_dry_run(
        values: Path | None, crds: None, control_plane: ControlPlane,
        kube_api: client.ApiClient, namespace: str, helm_home: Path, tmp_path: Path) -> None:
    args = ["-f", str(values)] if values else []
    extra: list[str] = []
    if values and values.name == "namespaced-values.yaml":
        # Roles go into the watched namespaces, which must exist.
        extra = [unique("t-watched")]
        create_namespace(kube_api, extra[0])
        args += ["--set", f"operator.watchNamespaces={{{namespace},{extra[0]}}}"]
    try:
        manifest = tmp_path / "rendered.yaml"
        manifest.write_text(render(control_plane, helm_home, unique("dry"), namespace, *args))
        out = control_plane.kubectl("apply", "--server-side", "--dry-run=server",
                                    "--validate=strict", "-f", str(manifest))
        applied = [line for line in out.splitlines() if "serverside-applied" in line]
        assert len(applied) == len(docs_of(manifest.read_text())), out
    finally:
        for ns in extra:
            delete_namespace(client.CoreV1Api(kube_api), ns, TIMEOUT)


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_examples_pass_server_side_dry_run(example: Path, crds: None,
                                           control_plane: ControlPlane, namespace: str) -> None:
    """The quickstart's manifests, custom resources included (CRD schema and CEL rules)."""
    out = control_plane.kubectl("apply", "--server-side", "--dry-run=server", "--validate=strict",
                                "-n", namespace, "-f", str(example))
    applied = [line for line in out.splitlines() if "serverside-applied" in line]
    assert len(applied) == len(docs_of(example.read_text())), out


def test_dry_run_catches_a_schema_mistake(crds: None, control_plane: ControlPlane,
                                         namespace: str, helm_home: Path,
                                         tmp_path: Path) -> None:
    """The dry run is a real check: a misspelt field in a Deployment is refused."""
    manifest = render(control_plane, helm_home, "broken", namespace)
    docs = docs_of(manifest)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment))
    with pytest.raises(ControlPlaneError, match="livenessProbes"):
        control_plane.kubectl("apply", "--server-side", "--dry-run=server", "--validate=strict",
                              "-f", str(path))


# -- a real helm install and upgrade -------------------------------------------------------------


def secret_data(kube_api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    secret = client.CoreV1Api(kube_api).read_namespaced_secret(name, namespace)
    return {k: str(v) for k, v in (secret.data or {}).items()}


def test_helm_install_upgrade_keeps_generated_keys(
        crds: None, control_plane: ControlPlane, kube_api: client.ApiClient, namespace: str,
        helm_home: Path) -> None:
    release = unique("rel")
    name = f"{release}-heartbeat"
    try:
        installed = helm(control_plane, helm_home, "install", release, str(CHART), "-n",
                         namespace, "-f", str(CHART / "ci" / "kind-values.yaml"))
        assert "heartbeat.dev/monitor=true" in installed.stdout  # NOTES.txt
        assert f"{name}-pingserver.{namespace}.svc.cluster.local:8000" in installed.stdout
        first = secret_data(kube_api, namespace, name)
        assert sorted(first) == ["api-key", "api-key-readonly", "cluster-secret", "ping-key",
                                 "redis-password"]
        helm(control_plane, helm_home, "upgrade", release, str(CHART), "-n", namespace,
             "-f", str(CHART / "ci" / "kind-values.yaml"), "--set", "worker.replicas=2")
        assert secret_data(kube_api, namespace, name) == first
        apps = client.AppsV1Api(kube_api)
        assert apps.read_namespaced_deployment(f"{name}-worker", namespace).spec.replicas == 2
        operator = apps.read_namespaced_deployment(f"{name}-operator", namespace)
        assert operator.spec and operator.spec.strategy
        assert operator.spec.strategy.type == "Recreate"
    finally:
        helm(control_plane, helm_home, "uninstall", release, "-n", namespace, check=False)
    # helm.sh/resource-policy: keep — the keys (and so every ping URL) outlive an uninstall.
    assert secret_data(kube_api, namespace, name) == first


# -- RBAC, verb by verb, as the ServiceAccount ----------------------------------------------------


class Rbac:
    """The chart's operator RBAC (and ServiceAccount) created for real; cluster-scoped
    objects removed afterwards."""

    def __init__(self, cp: ControlPlane, home: Path, namespace: str, tmp: Path,
                 *args: str) -> None:
        self.cp = cp
        self.release = unique("rbac")
        kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
        docs = [d for d in docs_of(render(cp, home, self.release, namespace, *args))
                if d["kind"] in kinds and "operator" in d["metadata"]["name"]]
        self.path = tmp / f"{self.release}.yaml"
        self.path.write_text(yaml.safe_dump_all(docs))
        sa = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
        self.sa_name = sa
        self.user = f"system:serviceaccount:{namespace}:{sa}"
        cp.apply(self.path)

    def delete(self) -> None:
        self.cp.kubectl("delete", "-f", str(self.path), "--ignore-not-found", "--wait=false",
                        check=False)


@pytest.fixture
def cluster_rbac(control_plane: ControlPlane, namespace: str, helm_home: Path,
                 tmp_path: Path) -> Iterator[Rbac]:
    rbac = Rbac(control_plane, helm_home, namespace, tmp_path)
    yield rbac
    rbac.delete()


def test_operator_service_account_has_what_the_operator_uses(
        crds: None, control_plane: ControlPlane, cluster_rbac: Rbac, namespace: str) -> None:
    missing = [f"{verb} {res}" for verb, res, namespaced in OPERATOR_NEEDS
               if not can_i(control_plane, cluster_rbac.user, verb, res,
                            namespace if namespaced else None)]
    assert not missing, f"the chart's RBAC lacks: {missing}"
    # Cluster-wide operator: the namespaced permissions hold in every namespace.
    assert can_i(control_plane, cluster_rbac.user, "watch", "heartbeatchecks.heartbeat.dev",
                 None)


def test_operator_service_account_has_nothing_more(
        crds: None, control_plane: ControlPlane, cluster_rbac: Rbac, namespace: str) -> None:
    extra = [f"{verb} {res}" for verb, res, namespaced in OPERATOR_MUST_NOT
             if can_i(control_plane, cluster_rbac.user, verb, res,
                      namespace if namespaced else None)]
    assert not extra, f"the chart's RBAC grants too much: {extra}"


def test_namespaced_rbac_stays_in_its_namespaces(
        crds: None, control_plane: ControlPlane, kube_api: client.ApiClient, namespace: str,
        helm_home: Path, tmp_path: Path) -> None:
    other = unique("t-other")
    create_namespace(kube_api, other)
    rbac = Rbac(control_plane, helm_home, namespace, tmp_path, "-f",
                str(CHART / "ci" / "namespaced-values.yaml"),
                "--set", f"operator.watchNamespaces={{{namespace}}}")
    try:
        ns_needs = [(v, r) for v, r, namespaced in OPERATOR_NEEDS
                    if namespaced or r.startswith(("customresourcedefinitions", "namespaces"))]
        missing = [f"{v} {r}" for v, r in ns_needs
                   if not can_i(control_plane, rbac.user, v, r, namespace)]
        assert not missing, missing
        assert can_i(control_plane, rbac.user, "patch", "kopfpeerings.kopf.dev", namespace)
        assert not can_i(control_plane, rbac.user, "get", "secrets", other)
        assert not can_i(control_plane, rbac.user, "list", "heartbeatchecks.heartbeat.dev", other)
        assert not can_i(control_plane, rbac.user, "list", "clusterkopfpeerings.kopf.dev", None)
    finally:
        rbac.delete()
        delete_namespace(client.CoreV1Api(kube_api), other, TIMEOUT)


# -- the operator itself, authenticated as the chart's ServiceAccount ------------------------------


def service_account_kubeconfig(cp: ControlPlane, namespace: str, sa: str, path: Path) -> Path:
    """A kubeconfig with a real token of the ServiceAccount (TokenRequest): the operator is
    authorized exactly as the chart's pod would be."""
    token = cp.kubectl("create", "token", sa, "-n", namespace, "--duration=1h").strip()
    admin = yaml.safe_load(cp.kubeconfig.read_text())
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": sa, "context": {"cluster": admin["clusters"][0]["name"],
                                              "user": sa, "namespace": namespace}}],
        "current-context": sa,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class Operator:
    """`hb operator` in a subprocess, as the chart's Deployment runs it."""

    def __init__(self, kubeconfig: Path, env: dict[str, str]) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.log = ARTIFACTS / f"operator-chart-rbac-{uuid.uuid4().hex[:6]}.log"
        self.liveness = f"http://127.0.0.1:{free_port()}/healthz"
        full = {k: v for k, v in os.environ.items() if not k.startswith(("HB_", "KUBE"))}
        full.update({"KUBECONFIG": str(kubeconfig), "HB_LIVENESS": self.liveness, **env})
        # A high peering priority: this replica is the active one even if a peer of an
        # earlier test is still listed.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hb", "operator", "--", "--priority=1000000", "--verbose"],
            env=full, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited: {self.output()[-3000:]}")
        try:
            return requests.get(self.liveness, timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(45)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def custom_object(kube_api: client.ApiClient, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
    try:
        found = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    assert isinstance(found, dict)
    return found


def status_field(kube_api: client.ApiClient, plural: str, namespace: str, name: str,
                 field: str) -> Any:
    obj = custom_object(kube_api, plural, namespace, name)
    return ((obj or {}).get("status") or {}).get(field)


@pytest.fixture(params=["all-namespaces", "one-namespace"])
def operator_rbac(request: pytest.FixtureRequest, control_plane: ControlPlane, namespace: str,
                  helm_home: Path, tmp_path: Path) -> Iterator[tuple[Rbac, str]]:
    """The chart's RBAC for a cluster-wide operator (ClusterRole), or for one watching only
    `namespace` (Role); with the HB_NAMESPACES value the chart would give it."""
    if request.param == "all-namespaces":
        rbac, watched = Rbac(control_plane, helm_home, namespace, tmp_path), ""
    else:
        rbac = Rbac(control_plane, helm_home, namespace, tmp_path,
                    "--set", f"operator.watchNamespaces={{{namespace}}}")
        watched = namespace
    yield rbac, watched
    rbac.delete()


def test_operator_reconciles_as_the_chart_service_account(
        crds: None, control_plane: ControlPlane, kube_api: client.ApiClient,
        operator_rbac: tuple[Rbac, str], namespace: str, pingserver: PingServer,
        tmp_path: Path) -> None:
    rbac, watched = operator_rbac
    kubeconfig = service_account_kubeconfig(control_plane, namespace, rbac.sa_name,
                                            tmp_path / "sa.kubeconfig")
    core = client.CoreV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="hook"),
        string_data={"url": "https://hooks.example.com/heartbeat"}))
    operator = Operator(kubeconfig, {
        "HB_PINGSERVER_URL": pingserver.url, "HB_API_KEY": "default-rw-key",
        "HB_PING_KEY": "defaultpingkey", "HB_CLUSTER_SECRET": secrets.token_urlsafe(24),
        "HB_NAMESPACES": watched, "HB_OPERATOR_NAMESPACE": namespace,
        "HB_FEED_INTERVAL": "1s"})
    try:
        wait_for(operator.alive, TIMEOUT, message="the operator's liveness endpoint")
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "alertchannels", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "AlertChannel",
            "metadata": {"name": "ops"},
            "spec": {"kind": "webhook", "webhook": {"down": {"url": {"secretKeyRef": {
                "name": "hook", "key": "url"}}}}}})
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "heartbeatchecks", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "HeartbeatCheck",
            "metadata": {"name": "nightly"},
            "spec": {"period": "1h", "grace": "10m", "channels": ["ops"]}})

        wait_for(lambda: status_field(kube_api, "alertchannels", namespace, "ops", "channelID"),
                 TIMEOUT, message="the AlertChannel registered (Secret read as the SA)")
        ping_url = wait_for(
            lambda: status_field(kube_api, "heartbeatchecks", namespace, "nightly", "pingURL"),
            TIMEOUT, message="the HeartbeatCheck registered (status patched as the SA)")
        assert ping_url.startswith(f"{pingserver.url}/ping/")
        check = requests.get(ping_url.replace("/ping/", "/api/v3/checks/"), timeout=5,
                             headers={"X-Api-Key": "default-rw-key"})
        assert check.status_code == 200
        assert check.json()["name"] == f"{namespace}/nightly"
        # The ping-key Secret (created as the SA) and, once pinged, the CheckUp Event
        # (the flips feed read and the Event posted as the SA).
        wait_for(lambda: _secret_exists(core, namespace, "heartbeat-ping-key"), TIMEOUT,
                 message="the ping-key Secret")
        # A fresh operator skips flips older than its first read of the feed.
        wait_for(lambda: "flips feed: ready" in operator.output(), TIMEOUT,
                 message="the operator reading the flips feed")
        assert requests.get(ping_url, timeout=5).status_code == 200
        wait_for(lambda: _event_reasons(core, namespace) & {"CheckUp"}, TIMEOUT,
                 message="the CheckUp event")
        # The state ConfigMap (created as the SA) carries the background loop.
        core.read_namespaced_config_map("heartbeat-operator-state", namespace)

        # An annotated CronJob: its check created, a failed Job's pods and log read, the
        # ledger written on the Job, the CronJob controller's Events watched (as the SA).
        batch = Batch(kube_api, namespace)
        batch.create_cronjob(cronjob_body("etl", annotations={
            "heartbeat.dev/monitor": "true"}))
        wait_for(lambda: status_field(kube_api, "heartbeatchecks", namespace, "etl",
                                      "checkID"), TIMEOUT, message="the CronJob's check")
        job = batch.run("etl", fail_exit=4)
        batch.wait_ledger(job.metadata.name, "start,fail")
        batch.batch.delete_namespaced_cron_job("etl", namespace)
        wait_for(lambda: custom_object(kube_api, "heartbeatchecks", namespace, "etl") is None,
                 TIMEOUT, message="the CronJob's check garbage-collected")

        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "heartbeatchecks",
                                               "nightly")
        wait_for(lambda: custom_object(kube_api, "heartbeatchecks", namespace, "nightly")
                 is None, TIMEOUT, message="the HeartbeatCheck's finalizer released")
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "alertchannels",
                                               "ops")
        wait_for(lambda: custom_object(kube_api, "alertchannels", namespace, "ops") is None,
                 TIMEOUT, message="the AlertChannel's finalizer released")
    finally:
        code = operator.stop()
    output = operator.output()
    forbidden = [line for line in output.splitlines()
                 if "forbidden" in line.lower() or " 403" in line]
    assert not forbidden, "\n".join(forbidden[:20])
    assert code == 0, output[-3000:]


def _secret_exists(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_secret(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _event_reasons(core: client.CoreV1Api, namespace: str) -> set[str]:
    return {e.reason for e in core.list_namespaced_event(namespace).items if e.reason}


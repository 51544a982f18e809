"""Smoke tests of the real control plane: CRDs, Job/CronJob controllers with kwok, namespace
deletion, garbage collection and the pinned versions."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from hb_controlplane.binaries import read_versions
from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import wait_for
from tests.k8s.conftest import namespace_gone

pytestmark = pytest.mark.k8s

GROUP = "smoke.heartbeat.dev"
VERSION = "v1alpha1"
PLURAL = "widgets"
CRD_NAME = f"{PLURAL}.{GROUP}"
FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
TIMEOUT = 60.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def widget_crd() -> dict[str, Any]:
    spec_schema = {"type": "object", "properties": {"size": {"type": "integer", "minimum": 0}}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec_schema},
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def widget_crd_applied(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> str:
    path = tmp_path_factory.mktemp("crd") / "widgets.yaml"
    path.write_text(yaml.safe_dump(widget_crd()))
    control_plane.apply(path)
    control_plane.wait_crd_established(CRD_NAME)
    return CRD_NAME


# -- (a) CRDs and custom objects ----------------------------------------------------------------


def watch_for_added(
    custom: client.CustomObjectsApi, namespace: str, since: str, name: str
) -> dict[str, Any]:
    stream = watch.Watch()
    for event in stream.stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        resource_version=since,
        timeout_seconds=int(TIMEOUT),
    ):
        if event["type"] == "ADDED" and event["object"]["metadata"]["name"] == name:
            stream.stop()
            return dict(event["object"])
    raise AssertionError(f"no ADDED event for widget {name} within {TIMEOUT:g}s")


def as_dict(value: object) -> dict[str, Any]:
    # CustomObjectsApi is typed as returning `object`; for custom resources it is parsed JSON.
    assert isinstance(value, dict)
    return value


def widget_gone(custom: client.CustomObjectsApi, namespace: str, name: str) -> bool:
    try:
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except client.ApiException as exc:
        return exc.status == 404
    return False


def test_crd_established_and_custom_object_lifecycle(
    widget_crd_applied: str, kube_api: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    since = as_dict(custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
    name = unique("widget")
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 3},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    added = watch_for_added(custom, namespace, since["metadata"]["resourceVersion"], name)
    assert added["spec"] == {"size": 3}
    listed = as_dict(custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
    assert [item["metadata"]["name"] for item in listed["items"]] == [name]

    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    wait_for(lambda: widget_gone(custom, namespace, name), TIMEOUT, message=f"{name} deleted")


def test_crd_schema_is_enforced(
    widget_crd_applied: str, kube_api: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": unique("bad")},
        "spec": {"size": -1},
    }
    with pytest.raises(client.ApiException) as info:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert info.value.status == 422


# -- (b) CronJob -> Job -> pod on the kwok node ----------------------------------------------


def cronjob(
    name: str, pod_labels: dict[str, str], pod_annotations: dict[str, str]
) -> client.V1CronJob:
    container = client.V1Container(name="main", image="busybox:stable", command=["true"])
    pod_template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=pod_labels, annotations=pod_annotations),
        spec=client.V1PodSpec(restart_policy="Never", containers=[container]),
    )
    job_spec = client.V1JobSpec(backoff_limit=0, template=pod_template)
    return client.V1CronJob(
        api_version="batch/v1",
        kind="CronJob",
        metadata=client.V1ObjectMeta(name=name),
        # Suspended: only the manual Job below may run, never a scheduled one.
        spec=client.V1CronJobSpec(
            schedule="0 0 1 1 *",
            suspend=True,
            job_template=client.V1JobTemplateSpec(spec=job_spec),
        ),
    )


def job_from_cronjob(cron: client.V1CronJob, name: str) -> client.V1Job:
    """What `kubectl create job NAME --from=cronjob/CRON` sends."""
    assert cron.metadata and cron.metadata.name and cron.metadata.uid and cron.spec
    template = cron.spec.job_template
    owner = client.V1OwnerReference(
        api_version="batch/v1",
        kind="CronJob",
        name=cron.metadata.name,
        uid=cron.metadata.uid,
        controller=True,
    )
    meta = client.V1ObjectMeta(
        name=name,
        annotations={"cronjob.kubernetes.io/instantiate": "manual"},
        labels=template.metadata.labels if template.metadata else None,
        owner_references=[owner],
    )
    return client.V1Job(api_version="batch/v1", kind="Job", metadata=meta, spec=template.spec)


def run_job_from_cronjob(
    kube_api: client.ApiClient, namespace: str, labels: dict[str, str], annotations: dict[str, str]
) -> str:
    batch = client.BatchV1Api(kube_api)
    cron_name = unique("cron")
    cron = batch.create_namespaced_cron_job(namespace, cronjob(cron_name, labels, annotations))
    job_name = unique(f"{cron_name}-manual")[:63]
    job = batch.create_namespaced_job(namespace, job_from_cronjob(cron, job_name))
    assert job.metadata and job.metadata.owner_references and cron.metadata
    owner = job.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == ("CronJob", cron_name, cron.metadata.uid)
    return job_name


def job_condition(batch: client.BatchV1Api, namespace: str, name: str) -> str | None:
    status = batch.read_namespaced_job_status(name, namespace).status
    for cond in (status.conditions if status else None) or []:
        if cond.type in ("Complete", "Failed") and cond.status == "True":
            return str(cond.type)
    return None


def pod_phase(pod: client.V1Pod) -> str | None:
    return pod.status.phase if pod.status else None


def pod_node(pod: client.V1Pod) -> str | None:
    return pod.spec.node_name if pod.spec else None


def exit_code(pod: client.V1Pod) -> int | None:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    state = statuses[0].state if statuses else None
    terminated = state.terminated if state else None
    return terminated.exit_code if terminated else None


def finished_pod(core: client.CoreV1Api, namespace: str, job: str) -> client.V1Pod | None:
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    done = [p for p in pods if pod_phase(p) in ("Succeeded", "Failed")]
    return done[0] if done else None


def wait_job(kube_api: client.ApiClient, namespace: str, job: str) -> tuple[str, client.V1Pod]:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    pod = wait_for(
        lambda: finished_pod(core, namespace, job), TIMEOUT, message=f"a finished pod of {job}"
    )
    outcome = wait_for(
        lambda: job_condition(batch, namespace, job), TIMEOUT, message=f"job {job} to finish"
    )
    return outcome, pod


def test_job_from_cronjob_completes_on_kwok_node(
    control_plane: ControlPlane, kube_api: client.ApiClient, namespace: str
) -> None:
    job = run_job_from_cronjob(kube_api, namespace, {"app": "smoke"}, {})
    outcome, pod = wait_job(kube_api, namespace, job)
    assert pod_node(pod) == control_plane.node_name
    assert pod_phase(pod) == "Succeeded"
    assert exit_code(pod) == 0
    assert outcome == "Complete"


def test_job_with_failure_label_fails_with_exit_code(
    control_plane: ControlPlane, kube_api: client.ApiClient, namespace: str
) -> None:
    job = run_job_from_cronjob(
        kube_api, namespace, {FAIL_LABEL: "true"}, {f"{FAIL_LABEL}/exit-code": "3"}
    )
    outcome, pod = wait_job(kube_api, namespace, job)
    assert pod_node(pod) == control_plane.node_name
    assert pod_phase(pod) == "Failed"
    assert exit_code(pod) == 3
    assert outcome == "Failed"


# -- (c) namespace controller and garbage collector -------------------------------------------


def config_map(
    name: str, data: dict[str, str] | None = None, owner: client.V1ConfigMap | None = None
) -> client.V1ConfigMap:
    refs = None
    if owner is not None:
        assert owner.metadata and owner.metadata.name and owner.metadata.uid
        ref = client.V1OwnerReference(
            api_version="v1", kind="ConfigMap", name=owner.metadata.name, uid=owner.metadata.uid
        )
        refs = [ref]
    meta = client.V1ObjectMeta(name=name, owner_references=refs)
    return client.V1ConfigMap(metadata=meta, data=data)


def test_namespace_deletion_completes(kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    name = unique("doomed")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, config_map("content", {"a": "1"}))
    core.delete_namespace(name)
    wait_for(lambda: namespace_gone(core, name), TIMEOUT, 0.5, f"namespace {name} to go away")


def config_map_gone(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_config_map(name, namespace)
    except client.ApiException as exc:
        return exc.status == 404
    return False


def test_owned_object_is_garbage_collected(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(namespace, config_map("owner"))
    core.create_namespaced_config_map(namespace, config_map("dependent", owner=owner))
    core.delete_namespaced_config_map("owner", namespace)
    wait_for(
        lambda: config_map_gone(core, namespace, "dependent"),
        TIMEOUT,
        message="the dependent ConfigMap to be garbage-collected",
    )


# -- (d) versions ---------------------------------------------------------------------------


def test_kubectl_version_reports_pinned_server_version(control_plane: ControlPlane) -> None:
    pinned = read_versions().kubernetes
    report = json.loads(control_plane.kubectl("version", "-o", "json"))
    assert report["serverVersion"]["gitVersion"] == pinned
    assert report["clientVersion"]["gitVersion"] == pinned
    major, minor = pinned.removeprefix("v").split(".")[:2]
    assert (report["serverVersion"]["major"], report["serverVersion"]["minor"]) == (major, minor)


@pytest.mark.parametrize(
    ("binary", "args", "attr"),
    [
        ("etcd", ["--version"], "etcd"),
        ("kwok", ["--version"], "kwok"),
        ("helm", ["version", "--short"], "helm"),
    ],
)
def test_binaries_report_pinned_versions(
    control_plane: ControlPlane, binary: str, args: list[str], attr: str
) -> None:
    pinned = getattr(read_versions(), attr).removeprefix("v")
    exe = Path(control_plane.bin_dir) / binary
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=30, check=True)
    assert pinned in out.stdout + out.stderr

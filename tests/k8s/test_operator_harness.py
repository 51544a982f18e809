"""Shared parts of the operator's Kubernetes tests (imported by test_operator_*.py; holds no
tests itself): the CRDs, a real Redis + ping server + `hb worker` + webhook receiver, the
operator as a subprocess (`python -m hb operator`, as the chart runs it), and small helpers
over the Kubernetes API. Nothing sleeps a fixed time: everything polls a condition."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client

from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import wait_for
from heartbeat_operator import constants
from heartbeat_operator.identity import check_uuid
from pingserver.config import Settings
from pingserver.store import Store, now_ms
from tests.conftest import PingServer
from tests.support.engine import EngineProcess, terminate
from tests.support.receivers import HttpReceiver
from tests.support.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
CRDS_DIR = ROOT / "crds"
ARTIFACTS = ROOT / "artifacts"
CRD_NAMES = ("heartbeatchecks.heartbeat.dev", "alertchannels.heartbeat.dev",
             "heartbeatsilences.heartbeat.dev", "kopfpeerings.kopf.dev",
             "clusterkopfpeerings.kopf.dev")
API_KEY = "operator-test-rw-key-0123456789"
PING_KEY = "operatortestpingkey123"
CLUSTER_SECRET = "operator-test-cluster-secret"
G, V = constants.GROUP, constants.VERSION
TIMEOUT = 60.0
OWN_PLURALS = (constants.CHECK_PLURAL, constants.CHANNEL_PLURAL, constants.SILENCE_PLURAL)


# -- CRDs -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> ControlPlane:
    control_plane.apply(CRDS_DIR)
    for name in CRD_NAMES:
        control_plane.wait_crd_established(name)
    return control_plane


# -- the ping server side ------------------------------------------------------------------


class Stack:
    """Redis, the ping server (default project keyed by API_KEY/PING_KEY), `hb worker`, and a
    webhook receiver, all on loopback."""

    def __init__(self, *, worker: bool = True) -> None:
        self.redis = RedisServer().start()
        self.pingserver = PingServer(self.redis.url, {"HB_API_KEY": API_KEY,
                                                      "HB_PING_KEY": PING_KEY})
        self.receiver = HttpReceiver().start()
        self.worker: EngineProcess | None = None
        if worker:
            self.worker = EngineProcess("worker", {"HB_REDIS_URL": self.redis.url},
                                        f"operator-worker-{self.redis.port}").wait_started()
        self.http = requests.Session()
        self.http.headers["X-Api-Key"] = API_KEY

    @property
    def url(self) -> str:
        return self.pingserver.url

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.url}/api/v3{path}", timeout=10, **kwargs)

    def check(self, uuid: str) -> dict[str, Any] | None:
        response = self.api("GET", f"/checks/{uuid}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def checks(self) -> list[dict[str, Any]]:
        response = self.api("GET", "/checks/")
        response.raise_for_status()
        return list(response.json()["checks"])

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        response = self.api("GET", f"/channels/{channel_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def _store(self, action: Callable[[Store], Any]) -> Any:
        async def run() -> Any:
            store = Store.from_settings(Settings(redis_url=self.redis.url, site_root=self.url))
            try:
                return await action(store)
            finally:
                await store.close()

        return asyncio.run(run())

    def ping_at(self, uuid: str, at_ms: int) -> None:
        """A success ping recorded as if it arrived at `at_ms` (the engine tests' trick: a
        check goes down in seconds instead of minutes)."""
        self._store(lambda s: s.ping(uuid, "success", at=at_ms))

    def wipe(self) -> None:
        """Lose every piece of ping server state (FLUSHALL), then put back only what the ping
        server itself restores at start-up: the default project and its keys."""
        self._store(lambda s: s.r.flushall())
        self._store(lambda s: s.ensure_project("default", "Default", ping_key=PING_KEY,
                                               api_key=API_KEY))

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.pingserver.stop()
        self.receiver.stop()
        self.redis.cleanup()
        self.http.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack()
    yield s
    s.stop()


# -- the operator ----------------------------------------------------------------------------


class OperatorProcess:
    """`python -m hb operator [args]` with HB_ environment; output in artifacts/."""

    def __init__(self, name: str, env: Mapping[str, str], args: list[str]) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.name = name
        self.port = free_port()
        self.log = ARTIFACTS / f"operator-{name}-{int(time.time() * 1000)}.log"
        full_env = {**os.environ, **env,
                    "HB_LIVENESS": f"http://127.0.0.1:{self.port}/healthz"}
        own = [a for a in args if a == "--standalone"]
        kopf_args = [a for a in args if a != "--standalone"]
        argv = [*own, *(["--", *kopf_args] if kopf_args else [])]
        self.proc = subprocess.Popen([sys.executable, "-m", "hb", "operator", *argv],
                                     env=full_env, stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def probe(self) -> dict[str, Any] | None:
        """The liveness endpoint's JSON (Kopf probes), or None while it does not answer."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"operator {self.name} exited ({self.proc.returncode}):\n"
                               f"{self.output()[-3000:]}")
        try:
            response = requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
        except requests.RequestException:
            return None
        return dict(response.json()) if response.ok else None

    def feed_ok(self) -> bool:
        """The background loop has read the flips feed once: flips from now on are reported,
        not skipped as backlog."""
        return self.probe() is not None and "flips feed: ready" in self.output()

    def wait_ready(self, timeout: float = TIMEOUT, *, feed: bool = True) -> OperatorProcess:
        ready = self.feed_ok if feed else (lambda: self.probe() is not None)
        wait_for(ready, timeout, 0.2, f"operator {self.name} ready (log: {self.log})")
        return self

    def wait_log(self, needle: str, timeout: float = TIMEOUT) -> None:
        wait_for(lambda: needle in self.output(), timeout, 0.2,
                 f"{needle!r} in the log of operator {self.name}")

    def stop(self, timeout: float = 30.0) -> int:
        return terminate(self.proc, timeout)


StartOperator = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(crds: ControlPlane, stack: Stack, namespace: str,
                   kube_api: client.ApiClient) -> Iterator[StartOperator]:
    """Start operators watching the test's namespace; all stop at the end of the test, then
    leftover finalizers are stripped so that the namespace can go."""
    started: list[OperatorProcess] = []

    def start(*args: str, name: str = "op", wait_feed: bool = True,
              **env: str) -> OperatorProcess:
        base = {"KUBECONFIG": str(crds.kubeconfig), "HB_PINGSERVER_URL": stack.url,
                "HB_API_KEY": API_KEY, "HB_CLUSTER_SECRET": CLUSTER_SECRET,
                "HB_PING_KEY": PING_KEY, "HB_NAMESPACES": namespace,
                "HB_FEED_INTERVAL": "1s", "HB_LASTPING_REFRESH": "2s",
                "HB_DRIFT_INTERVAL": "3s"}
        proc = OperatorProcess(f"{namespace}-{name}", {**base, **env}, list(args))
        started.append(proc)
        return proc.wait_ready(feed=wait_feed)

    yield start
    if any(proc.proc.poll() is None for proc in started):
        Kube(kube_api, namespace).delete_all_and_wait(timeout=30)
    for proc in started:
        proc.stop()
    Kube(kube_api, namespace).strip_finalizers()


# -- Kubernetes helpers -------------------------------------------------------------------------


class Kube:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def create(self, plural: str, name: str, spec: Mapping[str, Any],
               labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        kind = {constants.CHECK_PLURAL: constants.CHECK_KIND,
                constants.CHANNEL_PLURAL: constants.CHANNEL_KIND,
                constants.SILENCE_PLURAL: constants.SILENCE_KIND}[plural]
        body = {"apiVersion": f"{G}/{V}", "kind": kind,
                "metadata": {"name": name, "labels": dict(labels or {})}, "spec": dict(spec)}
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(  # type: ignore[assignment]
            G, V, self.ns, plural, body)
        return created

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]
                G, V, self.ns, plural, name)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def items(self, plural: str) -> list[dict[str, Any]]:
        listed: dict[str, Any] = self.custom.list_namespaced_custom_object(  # type: ignore[assignment]
            G, V, self.ns, plural)
        return list(listed["items"])

    def status(self, plural: str, name: str) -> dict[str, Any]:
        return dict((self.get(plural, name) or {}).get("status") or {})

    def patch_spec(self, plural: str, name: str, spec: Mapping[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            G, V, self.ns, plural, name, {"spec": dict(spec)},
            _content_type="application/merge-patch+json")

    def delete(self, plural: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(G, V, self.ns, plural, name)

    def wait_gone(self, plural: str, name: str, timeout: float = TIMEOUT) -> None:
        wait_for(lambda: self.get(plural, name) is None, timeout, 0.2, f"{plural}/{name} gone")

    def wait_status(self, plural: str, name: str, predicate: Callable[[dict[str, Any]], Any],
                    what: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            current = self.status(plural, name)
            return current if predicate(current) else None

        try:
            result: dict[str, Any] = wait_for(probe, timeout, 0.2, f"{plural}/{name}: {what}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; status now: {json.dumps(self.status(plural, name))}"
                                 ) from None
        return result

    def events(self, name: str) -> list[client.CoreV1Event]:
        listed = self.core.list_namespaced_event(self.ns,
                                                 field_selector=f"involvedObject.name={name}")
        return list(listed.items)

    def event_reasons(self, name: str) -> list[str]:
        return [str(e.reason) for e in self.events(name)]

    def wait_event(self, name: str, reason: str, timeout: float = TIMEOUT) -> client.CoreV1Event:
        def probe() -> client.CoreV1Event | None:
            return next((e for e in self.events(name) if e.reason == reason), None)

        try:
            found: client.CoreV1Event = wait_for(probe, timeout, 0.3,
                                                 f"Event {reason} for {name}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; events: {self.event_reasons(name)}") from None
        return found

    def secret(self, name: str, data: Mapping[str, str]) -> None:
        self.core.create_namespaced_secret(self.ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), string_data=dict(data)))

    def delete_all_and_wait(self, timeout: float) -> None:
        """Delete our objects while the operator still runs, so that it cleans up. CronJobs
        first: the operator would re-create the checks of monitored ones."""
        client.BatchV1Api(self.api).delete_collection_namespaced_cron_job(self.ns)
        for plural in OWN_PLURALS:
            for item in self.items(plural):
                try:
                    self.delete(plural, item["metadata"]["name"])
                except client.ApiException as exc:
                    if exc.status != 404:
                        raise
        with contextlib.suppress(TimeoutError):  # strip_finalizers() handles what is left
            wait_for(lambda: not any(self.items(p) for p in OWN_PLURALS),
                     timeout, 0.3, "custom objects deleted")

    def strip_finalizers(self) -> None:
        patch = {"metadata": {"finalizers": None}}
        for plural in OWN_PLURALS:
            for item in self.items(plural):
                self.custom.patch_namespaced_custom_object(
                    G, V, self.ns, plural, item["metadata"]["name"], patch,
                    _content_type="application/merge-patch+json")
        try:
            self.core.patch_namespaced_config_map(
                constants.STATE_CONFIGMAP, self.ns, patch,
                _content_type="application/merge-patch+json")
        except client.ApiException as exc:
            if exc.status != 404:
                raise


# -- CronJobs and their Jobs ---------------------------------------------------------------------

FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
LEDGER = constants.LEDGER_ANNOTATION


def cronjob_body(name: str, *, schedule: str = "0 0 1 1 *",
                 annotations: Mapping[str, str] | None = None, time_zone: str | None = "UTC",
                 suspend: bool = False, pod_labels: Mapping[str, str] | None = None,
                 pod_annotations: Mapping[str, str] | None = None,
                 **spec: Any) -> dict[str, Any]:
    """A CronJob whose Jobs run one pod once (backoffLimit 0); by default scheduled for
    January 1st only, so that only the Jobs a test creates run. `job=` adds Job spec fields.
    """
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": {"app": name, **(pod_labels or {})},
                         "annotations": dict(pod_annotations or {})},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "busybox:stable",
                                     "command": ["true"]}]}}}
    job_spec.update(spec.pop("job", {}))
    body: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": {"schedule": schedule, "suspend": suspend,
                 "jobTemplate": {"metadata": {"labels": {"team": "ops"}}, "spec": job_spec},
                 **spec}}
    if time_zone:
        body["spec"]["timeZone"] = time_zone
    return body


class Batch:
    """CronJobs and Jobs of one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def create_cronjob(self, body: Mapping[str, Any]) -> client.V1CronJob:
        return self.batch.create_namespaced_cron_job(self.ns, dict(body))

    def cronjob(self, name: str) -> client.V1CronJob:
        return self.batch.read_namespaced_cron_job(name, self.ns)

    def patch_cronjob(self, name: str, patch: Mapping[str, Any]) -> None:
        self.batch.patch_namespaced_cron_job(name, self.ns, dict(patch))

    def run(self, cron: str, *, suspend: bool = False, fail_exit: int | None = None,
            scheduled: dt.datetime | None = None, name: str | None = None) -> client.V1Job:
        """A Job from the CronJob's template, as `kubectl create job --from=cronjob/<cron>`
        makes it, plus the scheduled-timestamp annotation the CronJob controller sets.
        `fail_exit`: kwok fails its pod with this exit code."""
        cj = self.cronjob(cron)
        template = cj.spec.job_template
        job_spec = self.batch.api_client.sanitize_for_serialization(template.spec)
        if suspend:
            job_spec["suspend"] = True
        if fail_exit is not None:
            pod_meta = job_spec["template"].setdefault("metadata", {})
            pod_meta.setdefault("labels", {})[FAIL_LABEL] = "true"
            pod_meta.setdefault("annotations", {})[f"{FAIL_LABEL}/exit-code"] = str(fail_exit)
        when = (scheduled or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        meta = template.metadata
        body = {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": name or f"{cron}-{uuidlib.uuid4().hex[:8]}",
                "labels": dict((meta.labels if meta else None) or {}),
                "annotations": {**((meta.annotations if meta else None) or {}),
                                "cronjob.kubernetes.io/instantiate": "manual",
                                constants.SCHEDULED_TIMESTAMP: when.isoformat()},
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                     "name": cron, "uid": cj.metadata.uid,
                                     "controller": True, "blockOwnerDeletion": True}]},
            "spec": job_spec}
        return self.batch.create_namespaced_job(self.ns, body)

    def job(self, name: str) -> client.V1Job | None:
        try:
            return self.batch.read_namespaced_job(name, self.ns)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def resume_job(self, name: str) -> None:
        self.batch.patch_namespaced_job(name, self.ns, {"spec": {"suspend": False}})

    def ledger(self, name: str) -> str:
        job = self.job(name)
        return str(((job.metadata.annotations if job else None) or {}).get(LEDGER, ""))

    def wait_ledger(self, name: str, want: str, timeout: float = TIMEOUT) -> None:
        try:
            wait_for(lambda: self.ledger(name) == want, timeout, 0.2,
                     f"Job {name} ledger {want!r}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; ledger now {self.ledger(name)!r}") from None

    def finished(self, name: str) -> str | None:
        job = self.job(name)
        for cond in ((job.status.conditions if job and job.status else None) or []):
            if cond.type in ("Complete", "Failed") and cond.status == "True":
                return str(cond.type)
        return None

    def wait_finished(self, name: str, timeout: float = TIMEOUT) -> str:
        result: str = wait_for(lambda: self.finished(name), timeout, 0.2,
                               f"Job {name} finished")
        return result

    def cronjob_events(self, name: str) -> list[client.CoreV1Event]:
        listed = self.core.list_namespaced_event(
            self.ns, field_selector=f"involvedObject.name={name},involvedObject.kind=CronJob")
        return list(listed.items)

    def wait_cronjob_event(self, name: str, reason: str, count: int = 1,
                           timeout: float = TIMEOUT) -> list[client.CoreV1Event]:
        def probe() -> list[client.CoreV1Event] | None:
            found = [e for e in self.cronjob_events(name) if e.reason == reason]
            return found if len(found) >= count else None

        try:
            result: list[client.CoreV1Event] = wait_for(probe, timeout, 0.3,
                                                        f"Event {reason} on CronJob {name}")
        except TimeoutError as exc:
            reasons = [e.reason for e in self.cronjob_events(name)]
            raise AssertionError(f"{exc}; its events: {reasons}") from None
        return result


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def is_ready(status: Mapping[str, Any]) -> bool:
    return condition(status, "Ready").get("status") == "True"


def expected_uuid(namespace: str, name: str) -> str:
    return check_uuid(CLUSTER_SECRET, namespace, name)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuidlib.uuid4().hex[:6]}"


def write_yaml(path: Path, *docs: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False))
    return path


def minutes_ago(minutes: float) -> int:
    return now_ms() - int(minutes * 60_000)

"""The Kubernetes API calls the operator makes outside Kopf's own (reading Secrets and
AlertChannels, patching status from the background loop, the ping-key Secret, the state
ConfigMap, the peering object). Plain functions over the official client."""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from heartbeat_operator import constants
from heartbeat_operator.config import GLOB_CHARS

logger = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT = 30
CONNECTIONS = 32

SECRET_RECHECK = 300.0  # seconds a verified ping-key Secret is trusted without a read
_ping_secrets_verified: dict[str, tuple[dict[str, str], float]] = {}
_lock = threading.Lock()
_api: client.ApiClient | None = None


class SecretMissing(LookupError):
    """A referenced Secret, or a key in it, does not exist. The message names both, never
    the value."""


def api() -> client.ApiClient:
    """One ApiClient, configured from the pod's service account or from KUBECONFIG."""
    global _api
    with _lock:
        if _api is None:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            configuration = client.Configuration.get_default_copy()
            # Handler threads (16) and the background loop's flip workers share this client.
            configuration.connection_pool_maxsize = CONNECTIONS
            _api = client.ApiClient(configuration)
        return _api


def reset() -> None:
    """Forget the client (tests point the operator at a new cluster)."""
    global _api
    _ping_secrets_verified.clear()
    with _lock:
        if _api is not None:
            _api.close()
        _api = None


def _custom() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api())


def _core() -> client.CoreV1Api:
    return client.CoreV1Api(api())


def _raw(response: Any) -> Any:
    return json.loads(response.data)


# -- custom objects -----------------------------------------------------------------------


def list_objects(plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
    custom = _custom()
    if namespace:
        response = custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural, _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT)
    else:
        response = custom.list_cluster_custom_object(
            constants.GROUP, constants.VERSION, plural, _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT)
    return [dict(item) for item in _raw(response).get("items", [])]


def list_uids(plural: str, namespaces: Sequence[str] | None) -> list[str]:
    """The uids of our custom objects in the watched namespaces (None: all; names may be
    globs, as for Kopf's --namespace). Served from the API server's watch cache."""
    globbed = namespaces is None or any(set(ns) & GLOB_CHARS for ns in namespaces)
    custom = _custom()
    responses = ([custom.list_cluster_custom_object(
        constants.GROUP, constants.VERSION, plural, resource_version="0",
        _preload_content=False, _request_timeout=REQUEST_TIMEOUT)] if globbed else [
        custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, ns, plural, resource_version="0",
            _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        for ns in namespaces or ()])
    uids = []
    for response in responses:
        for item in _raw(response).get("items", []):
            meta = item.get("metadata") or {}
            if namespaces is None or any(fnmatch.fnmatchcase(str(meta.get("namespace")), ns)
                                         for ns in namespaces):
                uids.append(str(meta.get("uid")))
    return uids


def _read(call: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
    """One object as a plain dict, or None when it does not exist."""
    try:
        response = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(_raw(response))


def get_object(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    return _read(_custom().get_namespaced_custom_object, constants.GROUP, constants.VERSION,
                 namespace, plural, name)


def patch_status(plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
    """Merge-patch the status subresource; False when the object is gone."""
    try:
        _custom().patch_namespaced_custom_object_status(
            constants.GROUP, constants.VERSION, namespace, plural, name,
            {"status": dict(status)}, _content_type=MERGE_PATCH,
            _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def patch_status_checked(plural: str, namespace: str, name: str, status: Mapping[str, Any],
                         resource_version: str) -> None:
    """Merge-patch the status only if the object is still at `resource_version` (raises
    ApiException 409 otherwise)."""
    _custom().patch_namespaced_custom_object_status(
        constants.GROUP, constants.VERSION, namespace, plural, name,
        {"metadata": {"resourceVersion": resource_version}, "status": dict(status)},
        _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT)


# -- secrets ------------------------------------------------------------------------------


class SecretReader:
    """Reads Secret values for one reconcile, fetching each Secret once."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._cache: dict[str, dict[str, str] | None] = {}

    def _secret(self, name: str) -> dict[str, str] | None:
        if name not in self._cache:
            try:
                secret = _core().read_namespaced_secret(name, self.namespace,
                                                        _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self._cache[name] = None
            else:
                self._cache[name] = {k: str(v) for k, v in (secret.data or {}).items()}
        return self._cache[name]

    def __call__(self, name: str, key: str) -> str:
        data = self._secret(name)
        if data is None:
            raise SecretMissing(f"Secret {self.namespace}/{name} not found")
        if key not in data:
            raise SecretMissing(f"Secret {self.namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode()


def ensure_ping_key_secret(namespace: str, ping_key: str, ping_base_url: str) -> None:
    """The project's ping key, for slug URLs (`<base>/<ping key>/<slug>`), as a Secret in a
    namespace that has checks. Written only when missing or different."""
    data = {constants.PING_KEY_SECRET_KEY: ping_key,
            constants.PING_BASE_SECRET_KEY: ping_base_url}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    verified = _ping_secrets_verified.get(namespace)
    if verified and verified[0] == encoded and time.monotonic() - verified[1] < SECRET_RECHECK:
        return  # checked a moment ago: one read per namespace, not one per check
    _write_ping_key_secret(namespace, encoded)
    _ping_secrets_verified[namespace] = (encoded, time.monotonic())


def _write_ping_key_secret(namespace: str, encoded: dict[str, str]) -> None:
    core = _core()
    try:
        current = core.read_namespaced_secret(constants.PING_KEY_SECRET, namespace,
                                              _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status != 404:
            raise
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=constants.PING_KEY_SECRET, labels={
                constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
                constants.LABEL_COMPONENT: constants.PING_KEY_COMPONENT}),
            type="Opaque", data=encoded)
        try:
            core.create_namespaced_secret(namespace, body, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc2:
            if exc2.status != 409:  # created concurrently: fine
                raise
        return
    if {k: str(v) for k, v in (current.data or {}).items()} != encoded:
        core.patch_namespaced_secret(constants.PING_KEY_SECRET, namespace, {"data": encoded},
                                     _content_type=MERGE_PATCH,
                                     _request_timeout=REQUEST_TIMEOUT)


# -- state ConfigMap ----------------------------------------------------------------------


def state_labels() -> dict[str, str]:
    return {constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
            constants.LABEL_COMPONENT: constants.STATE_COMPONENT}


def ensure_state_configmap(namespace: str) -> None:
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=constants.STATE_CONFIGMAP, labels=state_labels()),
        data={})
    try:
        _core().create_namespaced_config_map(namespace, body, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status != 409:
            raise


def post_event_once(ref: Mapping[str, Any], type_: str, reason: str, message: str,
                    key: str) -> bool:
    """Post an Event named after `key` (unique per occurrence, e.g. per flip), synchronously:
    posted again after a crash, it is refused as existing (409). False then. Kopf's own
    kopf.event() queues Events in memory, where a killed process loses them."""
    meta = ref.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    digest = hashlib.sha256(f"{meta.get('uid')}/{key}".encode()).hexdigest()[:20]
    now = dt.datetime.now(dt.UTC)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=f"{name[:200]}.hb-{digest}", namespace=namespace),
        involved_object=client.V1ObjectReference(
            api_version=ref.get("apiVersion"), kind=ref.get("kind"), name=name,
            namespace=namespace, uid=meta.get("uid")),
        type=type_, reason=reason, message=message, count=1, first_timestamp=now,
        last_timestamp=now, source=client.V1EventSource(component=constants.MANAGED_BY),
        reporting_component=constants.MANAGED_BY, reporting_instance=constants.MANAGED_BY)
    try:
        _core().create_namespaced_event(namespace, event, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    return True


def read_cursor(namespace: str) -> str:
    """The flips cursor stored in the state ConfigMap ("" when none)."""
    try:
        current = _core().read_namespaced_config_map(constants.STATE_CONFIGMAP, namespace,
                                                     _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return ""
        raise
    return str((current.data or {}).get(constants.CURSOR_KEY) or "")


def write_cursor(namespace: str, cursor: str) -> None:
    _core().patch_namespaced_config_map(
        constants.STATE_CONFIGMAP, namespace, {"data": {constants.CURSOR_KEY: cursor}},
        _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT)


def release_state_configmap(namespace: str) -> None:
    """Drop our finalizer from the state ConfigMap (Kopf puts one on objects with daemons),
    so that an uninstalled operator never blocks the namespace's deletion."""
    core = _core()
    try:
        current = core.read_namespaced_config_map(constants.STATE_CONFIGMAP, namespace,
                                                  _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return
        raise
    meta = current.metadata
    if meta is None:
        return
    finalizers = list(meta.finalizers or [])
    if constants.FINALIZER not in finalizers:
        return
    kept = [f for f in finalizers if f != constants.FINALIZER]
    patch: list[dict[str, Any]] = [
             {"op": "test", "path": "/metadata/resourceVersion",
              "value": meta.resource_version},
             {"op": "replace", "path": "/metadata/finalizers", "value": kept}]
    try:
        core.patch_namespaced_config_map(constants.STATE_CONFIGMAP, namespace, patch,
                                         _content_type="application/json-patch+json",
                                         _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status not in (404, 409, 422):
            raise


# -- peering ------------------------------------------------------------------------------


def ensure_peering(clusterwide: bool, namespaces: Iterable[str]) -> bool:
    """Create our Kopf peering object(s) if the peering CRDs are installed. False when they
    are not (the operator then runs without peering: keep one replica)."""
    custom = _custom()
    body = {"apiVersion": f"{constants.PEERING_GROUP}/{constants.PEERING_VERSION}",
            "metadata": {"name": constants.PEERING_NAME}}
    try:
        if clusterwide:
            custom.create_cluster_custom_object(
                constants.PEERING_GROUP, constants.PEERING_VERSION,
                constants.CLUSTER_PEERING_PLURAL, {**body, "kind": "ClusterKopfPeering"},
                _request_timeout=REQUEST_TIMEOUT)
        else:
            for namespace in namespaces:
                try:
                    custom.create_namespaced_custom_object(
                        constants.PEERING_GROUP, constants.PEERING_VERSION, namespace,
                        constants.PEERING_PLURAL, {**body, "kind": "KopfPeering"},
                        _request_timeout=REQUEST_TIMEOUT)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
    except ApiException as exc:
        if exc.status == 409:
            return True
        if exc.status == 404:  # CRD not installed
            return False
        raise
    return True


# -- generated HeartbeatChecks ------------------------------------------------------------


def create_object(plural: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    response = _custom().create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, plural, dict(body),
        _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
    return dict(_raw(response))


def patch_object(plural: str, namespace: str, name: str, patch: Mapping[str, Any]) -> bool:
    """Merge-patch an object (not its status); False when it is gone."""
    try:
        _custom().patch_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural, name, dict(patch),
            _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def delete_object(plural: str, namespace: str, name: str, uid: str | None = None) -> bool:
    """Delete an object (only the one with `uid`, if given); False when it was gone."""
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)) if uid else None
    try:
        _custom().delete_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural, name, body=body,
            _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status in (404, 409):
            return False
        raise
    return True


# -- CronJobs, Jobs, Pods -----------------------------------------------------------------


def _batch() -> client.BatchV1Api:
    return client.BatchV1Api(api())


def get_cronjob(namespace: str, name: str) -> dict[str, Any] | None:
    return _read(_batch().read_namespaced_cron_job, name, namespace)


def list_cronjobs(namespace: str) -> list[dict[str, Any]]:
    response = _batch().list_namespaced_cron_job(namespace, _preload_content=False,
                                                 _request_timeout=REQUEST_TIMEOUT)
    return [dict(item) for item in _raw(response).get("items", [])]


def get_job(namespace: str, name: str) -> dict[str, Any] | None:
    return _read(_batch().read_namespaced_job, name, namespace)


def annotate_job(namespace: str, name: str, uid: str, annotations: Mapping[str, str]) -> bool:
    """Merge-patch annotations of the Job with this uid; False when it is gone (or another
    Job now has its name)."""
    patch = {"metadata": {"uid": uid, "annotations": dict(annotations)}}
    try:
        _batch().patch_namespaced_job(name, namespace, patch, _content_type=MERGE_PATCH,
                                      _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status in (404, 409, 422):  # 422: a new Job of that name (uid is immutable)
            return False
        raise
    return True


def get_namespace(name: str) -> dict[str, Any] | None:
    return _read(_core().read_namespace, name)


def list_job_pods(namespace: str, job_uid: str) -> list[dict[str, Any]]:
    """The Pods of a Job, by the controller-uid label the Job controller puts on them."""
    pods: list[dict[str, Any]] = []
    for label in (constants.JOB_UID_LABEL, constants.LEGACY_JOB_UID_LABEL):
        response = _core().list_namespaced_pod(namespace, label_selector=f"{label}={job_uid}",
                                               _preload_content=False,
                                               _request_timeout=REQUEST_TIMEOUT)
        pods = [dict(item) for item in _raw(response).get("items", [])]
        if pods:
            break
    return pods


def pod_log_tail(namespace: str, pod: str, container: str, limit: int,
                 timeout: float = 5.0) -> str | None:
    """The last `limit` bytes of a container's log, or None when it cannot be read (no
    kubelet behind the node, the Pod already gone, no permission): best effort."""
    try:
        response = _core().read_namespaced_pod_log(
            pod, namespace, container=container, tail_lines=200, _preload_content=False,
            _request_timeout=timeout)
        data: bytes = response.data  # type: ignore[attr-defined]
    except Exception as exc:  # ApiException, timeouts, connection errors: all the same here
        logger.debug("log of %s/%s (%s) not readable: %s", namespace, pod, container,
                     type(exc).__name__)
        return None
    return data[-limit:].decode("utf-8", errors="replace")


def update_conditions(plural: str, namespace: str, name: str, uid: str,
                      update: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None],
                      attempts: int = 3) -> bool:
    """Read the object's status.conditions, let `update` return the new list (None: nothing
    to change), and write it with the resourceVersion as a precondition, so that a concurrent
    status write is never lost. False when the object is gone or kept conflicting."""
    for _ in range(attempts):
        obj = get_object(plural, namespace, name)
        if obj is None or (uid and obj["metadata"].get("uid") != uid):
            return False
        current = list((obj.get("status") or {}).get("conditions") or [])
        new = update(current)
        if new is None:
            return True
        try:
            patch_status_checked(plural, namespace, name, {"conditions": new},
                                 obj["metadata"]["resourceVersion"])
            return True
        except ApiException as exc:
            if exc.status == 409:
                continue
            if exc.status == 404:
                return False
            raise
    return False

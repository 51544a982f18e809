"""Fixtures for tests against the real control plane (etcd, kube-apiserver, controllers, kwok).

The binaries are built on first use (30-55 minutes cold, seconds when cached); set
HB_CONTROLPLANE_BUILD=0 to skip these tests instead of building.
"""

from __future__ import annotations

import os
import sys
import uuid
import warnings
from collections.abc import Iterator

import pytest
from kubernetes import client

from hb_controlplane.binaries import ensure_built, missing
from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import WaitTimeout, wait_for

NAMESPACE_DELETE_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    if os.environ.get("HB_CONTROLPLANE_BUILD") == "0" and missing():
        pytest.skip(f"control-plane binaries missing ({', '.join(missing())}) and building is off")
    bin_dir = ensure_built()
    with ControlPlane(controllers=True, bin_dir=bin_dir) as cp:
        yield cp
        if request.session.testsfailed:
            # The component logs are the first thing to read after a red run: keep them.
            cp.keep_run_dir = True
            print(f"\ncontrol-plane logs kept in {cp.logs_dir}", file=sys.stderr)


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = control_plane.api_client()
    yield api
    api.close()


@pytest.fixture
def namespace(control_plane: ControlPlane, kube_api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (bounded wait: a stuck finalizer must not
    hang the whole run, it only earns a warning)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube_api)
    meta = client.V1ObjectMeta(name=name, labels={"hb-test": "true"})
    core.create_namespace(client.V1Namespace(metadata=meta))
    yield name
    # A dead component explains most failures; report it with its log tail.
    control_plane.check()
    delete_namespace(core, name, NAMESPACE_DELETE_TIMEOUT)


def delete_namespace(core: client.CoreV1Api, name: str, timeout: float) -> None:
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status == 404:
            return
        raise
    try:
        wait_for(lambda: namespace_gone(core, name), timeout, 0.5, f"namespace {name} deleted")
    except WaitTimeout as exc:
        warnings.warn(str(exc), stacklevel=1)


def namespace_gone(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name)
    except client.ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False

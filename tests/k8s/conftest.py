"""Fixtures for tests against the real control plane (etcd, kube-apiserver, controllers, kwok).

The binaries are built on first use (about 8 minutes cold on a fast 2-core host, up to ~55 on
a slow one; a quick check when cached). Set HB_CONTROLPLANE_BUILD=0 to skip these tests instead
of building.
"""

from __future__ import annotations

import os
import sys
import uuid
import warnings
from collections.abc import Iterator

import pytest
from kubernetes import client

from hb_controlplane.binaries import BuildError, ensure_built, missing
from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import WaitTimeout, wait_for

_build_error: BuildError | None = None


def building_disabled() -> bool:
    return os.environ.get("HB_CONTROLPLANE_BUILD") == "0"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build before the first test starts: inside a fixture the build would count against that
    test's pytest-timeout (300 s) and be killed half-way through a cold build."""
    global _build_error
    if building_disabled() or not any(item.get_closest_marker("k8s") for item in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    try:
        # Let the build's progress lines through; a cold build is long enough to need them.
        with capture.global_and_fixture_disabled():
            ensure_built()
    except BuildError as exc:
        _build_error = exc


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    if building_disabled() and missing():
        pytest.skip(f"control-plane binaries missing ({', '.join(missing())}) and building is off")
    if _build_error is not None:
        pytest.fail(f"building the control plane failed: {_build_error}", pytrace=False)
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
    """A fresh namespace per test, deleted afterwards without waiting: the namespace controller
    holds every deletion for a fixed 5 s grace period, which would add 5 s to each test, and
    unique names mean a namespace still terminating cannot disturb the next test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube_api)
    meta = client.V1ObjectMeta(name=name, labels={"hb-test": "true"})
    core.create_namespace(client.V1Namespace(metadata=meta))
    yield name
    # A dead component explains most failures; report it with its log tail.
    control_plane.check()
    delete_namespace(core, name, timeout=0)


def delete_namespace(core: client.CoreV1Api, name: str, timeout: float) -> None:
    """Delete `name`; with a timeout, also wait for it to vanish (only warn when it does not:
    a stuck finalizer must not fail or hang the run)."""
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status == 404:
            return
        raise
    if timeout <= 0:
        return
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

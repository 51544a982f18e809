"""A real Kubernetes control plane on 127.0.0.1 for tests and local runs.

etcd + kube-apiserver always; with `controllers=True` also kube-controller-manager (Job, CronJob,
GC, namespace, TTL controllers), kube-scheduler and kwok with one fake Node, so Job pods get
scheduled and then succeed, or fail with a chosen exit code, without a kubelet.

    with ControlPlane(controllers=True) as cp:
        cp.apply(Path("crds/"))
        api = cp.api_client()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import requests
from kubernetes import client, config

from hb_controlplane import binaries, components
from hb_controlplane.certs import Pki, generate_pki
from hb_controlplane.kubeconfig import write_kubeconfig
from hb_controlplane.procs import ControlPlaneError, ManagedProcess, install_signal_handlers
from hb_controlplane.wait import WaitTimeout, wait_for

__all__ = ["ControlPlane", "ControlPlaneError"]

# A 2-core CI box with a cold page cache needs far longer than envtest's 20 s default.
APISERVER_TIMEOUT = 120.0
COMPONENT_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
FAKE_NODE = "kwok-node-0"


class ControlPlane:
    """etcd + kube-apiserver (+ controllers, scheduler, kwok) as child processes.

    Public attributes: `server` (https URL), `kubeconfig` (admin, client-cert auth), `run_dir`
    (certs, etcd data, `logs/<component>.log`), `node_name` (the kwok node) and `bin_dir`.
    The run dir is removed on a clean stop unless `keep_run_dir` (or HB_CONTROLPLANE_KEEP=1);
    after a failed start it is kept, because the exception points at its log files.
    """

    def __init__(
        self,
        controllers: bool = False,
        *,
        run_dir: Path | None = None,
        keep_run_dir: bool | None = None,
        bin_dir: Path | None = None,
        apiserver_timeout: float = APISERVER_TIMEOUT,
        component_timeout: float = COMPONENT_TIMEOUT,
    ) -> None:
        self.controllers = controllers
        self.bin_dir = bin_dir or binaries.bin_dir()
        self._own_run_dir = run_dir is None
        self.run_dir = run_dir or Path(tempfile.mkdtemp(prefix="hb-controlplane-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if keep_run_dir is None:
            keep_run_dir = os.environ.get("HB_CONTROLPLANE_KEEP", "") == "1"
        self.keep_run_dir = keep_run_dir
        self.apiserver_timeout = apiserver_timeout
        self.component_timeout = component_timeout
        self.ports = components.Ports()
        self.server = f"https://127.0.0.1:{self.ports.apiserver}"
        self.kubeconfig = self.run_dir / "kubeconfig"
        self.logs_dir = self.run_dir / "logs"
        self.node_name = FAKE_NODE
        self.startup_seconds: float | None = None
        self._procs: list[ManagedProcess] = []
        self._pki: Pki | None = None
        self._failed = False
        self._http = requests.Session()
        # Probes go to 127.0.0.1 only; never let an HTTP(S)_PROXY variable reroute them.
        self._http.trust_env = False

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._check_binaries()
        install_signal_handlers()
        began = time.monotonic()
        try:
            self._start_etcd()
            self._start_apiserver()
            if self.controllers:
                self._start_controllers()
        except BaseException:
            # Keep the run dir: the exception names log files inside it.
            self._failed = True
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every process in reverse start order; safe to call more than once."""
        while self._procs:
            self._procs.pop().stop(timeout)
        self._http.close()
        if self._own_run_dir and not self.keep_run_dir and not self._failed:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def check(self) -> None:
        """Raise (with the log tail) if any component has died since it started."""
        for proc in self._procs:
            proc.check()

    # -- clients ---------------------------------------------------------------------------

    def api_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(self, *args: str, timeout: float = 60.0, check: bool = True) -> str:
        """Run the built kubectl against this control plane and return its stdout."""
        argv = [
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={self.kubeconfig}",
            # Keep kubectl's discovery cache out of ~/.kube: ports change every run.
            f"--cache-dir={self.run_dir / 'kube-cache'}",
            *args,
        ]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def apply(self, *paths: Path) -> str:
        """Apply YAML files or directories of YAML files (server-side: big CRDs don't fit in
        the last-applied annotation of a client-side apply)."""
        args: list[str] = []
        for path in paths:
            args += ["-f", str(path)]
        return self.kubectl("apply", "--server-side", "--force-conflicts", *args)

    def wait_crd_established(self, name: str, timeout: float = 60.0) -> None:
        api = client.ApiextensionsV1Api(self.api_client())
        try:
            wait_for(
                lambda: _crd_established(api, name),
                timeout,
                message=f"CRD {name} to become Established",
                # ValueError: older clients reject a CRD status without conditions yet.
                ignore=(client.ApiException, ValueError),
            )
        finally:
            api.api_client.close()

    # -- components ------------------------------------------------------------------------

    def _check_binaries(self) -> None:
        needed = ["etcd", "kube-apiserver", "kubectl"]
        if self.controllers:
            needed += ["kube-controller-manager", "kube-scheduler", "kwok"]
        absent = [n for n in needed if not (self.bin_dir / n).is_file()]
        if absent:
            raise ControlPlaneError(
                f"missing {', '.join(absent)} in {self.bin_dir}; run scripts/build-controlplane.sh"
                " or hb_controlplane.binaries.ensure_built()"
            )

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        proc = ManagedProcess(name, argv, self.logs_dir / f"{name}.log")
        proc.start()
        self._procs.append(proc)
        return proc

    def _wait_ready(
        self, proc: ManagedProcess, probe: Callable[[], object], timeout: float, what: str
    ) -> None:
        def ready() -> bool:
            proc.check()
            return bool(probe())

        try:
            wait_for(ready, timeout, 0.25, f"{proc.name} {what}", ignore=_NOT_YET)
        except WaitTimeout as exc:
            raise proc.failure(f"not ready after {timeout:g}s ({exc})") from exc

    def _start_etcd(self) -> None:
        argv = components.etcd_args(self.bin_dir / "etcd", self.run_dir / "etcd", self.ports)
        etcd = self._spawn("etcd", argv)
        url = f"http://127.0.0.1:{self.ports.etcd_client}/health"
        self._wait_ready(
            etcd, lambda: _etcd_healthy(self._http, url), self.component_timeout, "/health"
        )

    def _start_apiserver(self) -> None:
        cert_dir = self.run_dir / "certs"
        self._pki = pki = generate_pki(cert_dir)
        argv = components.apiserver_args(self.bin_dir / "kube-apiserver", cert_dir, pki, self.ports)
        apiserver = self._spawn("kube-apiserver", argv)
        self._wait_ready(
            apiserver,
            lambda: self._get_ok(f"{self.server}/readyz"),
            self.apiserver_timeout,
            "/readyz",
        )
        write_kubeconfig(self.kubeconfig, self.server, pki)

    def _start_controllers(self) -> None:
        self._spawn(
            "kube-controller-manager",
            components.controller_manager_args(
                self.bin_dir / "kube-controller-manager", self.kubeconfig
            ),
        )
        assert self._pki is not None
        scheduler = self._spawn(
            "kube-scheduler",
            components.scheduler_args(
                self.bin_dir / "kube-scheduler", self.kubeconfig, self._pki, self.ports
            ),
        )
        self._wait_ready(
            scheduler,
            lambda: self._get_ok(f"https://127.0.0.1:{self.ports.scheduler}/healthz"),
            self.component_timeout,
            "/healthz",
        )
        self._start_kwok()
        self.check()

    def _start_kwok(self) -> None:
        # The build script puts the stage YAMLs next to bin/ (copied from kwok's module).
        stage_files = sorted((self.bin_dir.parent / "stages").glob("*.yaml"))
        if not stage_files:
            raise ControlPlaneError(f"no kwok stage files next to {self.bin_dir}; rebuild")
        stages = components.concat_stages(stage_files, self.run_dir / "kwok-stages.yaml")
        kwok = self._spawn(
            "kwok", components.kwok_args(self.bin_dir / "kwok", self.kubeconfig, stages)
        )
        core = client.CoreV1Api(self.api_client())
        try:
            core.create_node(components.fake_node(self.node_name))
            self._wait_ready(
                kwok,
                lambda: _node_ready(core, self.node_name),
                self.component_timeout,
                f"node {self.node_name} Ready",
            )
        finally:
            core.api_client.close()

    def _get_ok(self, url: str) -> bool:
        assert self._pki is not None
        pki = self._pki
        response = self._http.get(
            url,
            cert=(str(pki.client_cert), str(pki.client_key)),
            verify=str(pki.ca_cert),
            timeout=5,
        )
        return response.status_code == 200


# Connection refused, TLS not up yet, or the object not created yet: all mean "poll again".
_NOT_YET: tuple[type[BaseException], ...] = (
    requests.RequestException,
    client.ApiException,
    ValueError,
)


def _etcd_healthy(http: requests.Session, url: str) -> bool:
    response = http.get(url, timeout=5)
    return response.ok and response.json().get("health") == "true"


def _node_ready(core: client.CoreV1Api, name: str) -> bool:
    status = core.read_node_status(name).status
    conditions = (status.conditions if status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _crd_established(api: client.ApiextensionsV1Api, name: str) -> bool:
    status = api.read_custom_resource_definition_status(name).status
    conditions = (status.conditions if status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)

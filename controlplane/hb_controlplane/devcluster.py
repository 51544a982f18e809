"""`hb dev cluster`: the test control plane, by hand, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from hb_controlplane.binaries import REPO_ROOT, BuildError, ensure_built
from hb_controlplane.cluster import ControlPlane
from hb_controlplane.procs import ControlPlaneError

CRDS_DIR = REPO_ROOT / "crds"


def _crd_files(crds_dir: Path) -> list[Path]:
    if not crds_dir.is_dir():
        return []
    return sorted(p for p in crds_dir.iterdir() if p.suffix in {".yaml", ".yml"})


def _apply_crds(cp: ControlPlane, files: list[Path]) -> None:
    if not files:
        return
    cp.apply(*files)
    for line in cp.kubectl("get", "crd", "-o", "name").split():
        cp.wait_crd_established(line.removeprefix("customresourcedefinition.apiextensions.k8s.io/"))
    print(f"applied {len(files)} file(s) from {CRDS_DIR}", file=sys.stderr)


def _wait_for_stop() -> None:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # Event.wait with a timeout keeps the main thread responsive to signals.
    while not stop.wait(1.0):
        pass


def run_dev_cluster(with_controllers: bool = True) -> int:
    """Start the control plane, apply crds/*.yaml, print the kubeconfig, block until a signal."""
    try:
        bin_dir = ensure_built()
        with ControlPlane(controllers=with_controllers, bin_dir=bin_dir) as cp:
            _apply_crds(cp, _crd_files(CRDS_DIR))
            print(f"control plane ready in {cp.startup_seconds:.1f}s at {cp.server}")
            print(f"kubeconfig: {cp.kubeconfig}")
            print(f"logs:       {cp.logs_dir}")
            print(f"export KUBECONFIG={cp.kubeconfig}")
            print("press Ctrl-C to stop", flush=True)
            _wait_for_stop()
            print("stopping…", file=sys.stderr)
    except (BuildError, ControlPlaneError) as exc:
        print(f"hb dev cluster: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C during startup: the context manager has already stopped what was running.
        return 130
    return 0

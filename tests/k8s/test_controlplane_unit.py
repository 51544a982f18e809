"""Fast checks of the control-plane harness itself (no real binaries, so no `k8s` marker)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hb_controlplane import binaries
from hb_controlplane.cluster import ControlPlane, ControlPlaneError
from hb_controlplane.procs import ManagedProcess
from hb_controlplane.wait import WaitTimeout, wait_for


def fake_bin(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_dying_component_reports_its_log_tail(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_bin(bin_dir, "etcd", 'echo "etcd: disk on fire" >&2; exit 3')
    fake_bin(bin_dir, "kube-apiserver", "exit 1")
    fake_bin(bin_dir, "kubectl", "exit 1")
    run_dir = tmp_path / "run"
    with pytest.raises(ControlPlaneError) as info:
        ControlPlane(bin_dir=bin_dir, run_dir=run_dir, component_timeout=10).start()
    message = str(info.value)
    assert "etcd exited with code 3" in message
    assert "disk on fire" in message
    assert str(run_dir / "logs" / "etcd.log") in message


def test_missing_binaries_are_named(tmp_path: Path) -> None:
    with pytest.raises(ControlPlaneError, match="missing etcd, kube-apiserver, kubectl"):
        ControlPlane(bin_dir=tmp_path, run_dir=tmp_path / "run").start()


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    # A child that ignores SIGTERM and forks a grandchild: both must be gone after stop().
    script = "trap '' TERM; sleep 300 & echo $! > grandchild.pid; wait"
    proc = ManagedProcess(
        "stubborn", ["sh", "-c", f"cd {tmp_path} && {script}"], tmp_path / "stubborn.log"
    )
    proc.start()
    pid_file = tmp_path / "grandchild.pid"
    grandchild = int(
        wait_for(lambda: pid_file.read_text().strip() or None, 10, ignore=(FileNotFoundError,))
    )
    proc.stop(timeout=1)
    assert not proc.running()
    wait_for(lambda: not pid_alive(grandchild), 5, message="grandchild gone")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes once reaped or defunct.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_wait_for_returns_value_and_quotes_last_error() -> None:
    assert wait_for(lambda: "ready", 1) == "ready"

    def broken() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout, match=r"apiserver.*refused"):
        wait_for(broken, 0.3, 0.05, "apiserver", ignore=(ConnectionError,))


def test_cache_key_follows_versions_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "versions.env"
    env.write_text(
        "# pins\nKUBERNETES_VERSION=v1.36.3\nETCD_VERSION=v3.6.16\n"
        "KWOK_VERSION=v0.8.0\nHELM_VERSION=v3.21.4\n"
    )
    versions = binaries.read_versions(env)
    monkeypatch.setenv("HB_CACHE_DIR", str(tmp_path / "cache"))
    expected = "k8s-v1.36.3_etcd-v3.6.16_kwok-v0.8.0_helm-v3.21.4"
    assert binaries.bin_dir(versions) == tmp_path / "cache" / "controlplane" / expected / "bin"
    assert "kwok stages" in binaries.missing(versions)

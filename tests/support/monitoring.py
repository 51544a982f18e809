"""Real Alertmanager and Prometheus processes on 127.0.0.1 for the alerting tests, built from
the Go module proxy into the control-plane cache (scripts/build-controlplane.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.engine import terminate
from tests.support.redis_server import free_port
from tests.support.wait import wait_for


def binary_path(name: str) -> str:
    from hb_controlplane.binaries import binary, ensure_built

    path = binary(name)
    if not os.access(path, os.X_OK):
        ensure_built()  # the script holds a lock: parallel callers wait for one build
    return str(path)


class _Server:
    """One process with a config file in a temporary directory; restartable on its port."""

    name = ""

    def __init__(self, config: dict[str, Any]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"hb-{self.name}-"))
        self.config_file = self.dir / f"{self.name}.yml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / f"{self.name}.log"

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> _Server:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([binary_path(self.name), *self.args()], stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_for(self._ready, 60, 0.1, f"{self.name} on {self.url} ready ({self.log})",
                 ignore=(requests.ConnectionError,))
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
        return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 20)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Alertmanager(_Server):
    """Alertmanager with one receiver that sends nowhere: the tests read its API."""

    name = "alertmanager"

    def __init__(self) -> None:
        super().__init__({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
        self.storage = self.dir / "data"

    def args(self) -> list[str]:
        # An empty cluster address turns the gossip listener (0.0.0.0:9094) off.
        return [f"--config.file={self.config_file}", f"--storage.path={self.storage}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="]

    def wipe_storage(self) -> None:
        shutil.rmtree(self.storage, ignore_errors=True)

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Active (firing, unsilenced) alerts, optionally filtered by label."""
        params = {"active": "true", "silenced": "false", "inhibited": "false",
                  "filter": [f'{k}="{v}"' for k, v in filters.items()]}
        resp = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        resp.raise_for_status()
        found: list[dict[str, Any]] = resp.json()
        return [a for a in found if a["status"]["state"] == "active"]


class Prometheus(_Server):
    name = "prometheus"

    def __init__(self, target: str, bearer: str, rules: dict[str, Any]) -> None:
        super().__init__({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [{"job_name": "heartbeat", "metrics_path": "/metrics",
                                "authorization": {"credentials": bearer},
                                "static_configs": [{"targets": [target]}]}]})
        (self.dir / "rules.yml").write_text(yaml.safe_dump(rules))

    def args(self) -> list[str]:
        return [f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}"]

    def alerts(self) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.url}/api/v1/alerts", timeout=5)
        resp.raise_for_status()
        alerts: list[dict[str, Any]] = resp.json()["data"]["alerts"]
        return alerts

    def targets_up(self) -> bool:
        resp = requests.get(f"{self.url}/api/v1/targets", timeout=5)
        active = resp.json()["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


@pytest.fixture
def alertmanager() -> Any:
    am = Alertmanager()
    try:
        yield am.start()
    finally:
        am.cleanup()

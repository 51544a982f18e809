"""The README's quickstart with real processes: `hb dev stack` (Redis, ping server, worker),
then the seed flow — create a check with `channels: "*"`, ping it once, wait — and the down
alert is printed on the stack's terminal and kept in the check's notification log. The
durations are the flow's 60 s + 60 s scaled down to 2 s + 2 s (HB_MIN_TIMEOUT=1), so the test
waits seconds rather than minutes; everything else is what a user runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.redis_server import free_port
from tests.support.wait import wait_for

pytestmark = pytest.mark.timeout(180)


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.site = f"http://127.0.0.1:{self.port}"
        self.out = workdir / "terminal.log"
        self.workdir = workdir
        env = {**os.environ, "HB_MIN_TIMEOUT": "1", "HB_SWEEP_INTERVAL": "0.5"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hb", "dev", "stack", "--port", str(self.port), "--dir",
             str(workdir / "state")], env=env, stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT)

    def terminal(self) -> str:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the stack exited: {self.out.read_text()[-3000:]}")
        return self.out.read_text(errors="replace")

    def api_key(self) -> str:
        keys = json.loads((self.workdir / "state" / "keys.json").read_text())
        return str(keys["HB_API_KEY"])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        wait_for(lambda: "Press Ctrl-C to stop." in running.terminal(), 60, 0.2,
                 "the stack's intro")
        yield running
    finally:
        running.proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            running.proc.wait(30)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            running.proc.wait()


def test_seed_flow_prints_the_alert(stack: Stack) -> None:
    intro = stack.terminal()
    assert 'Alerts of checks with the "terminal" channel' in intro
    headers = {"X-Api-Key": stack.api_key()}
    # The README's request, with the durations scaled down.
    created = requests.post(f"{stack.site}/api/v1/checks/", headers=headers, timeout=5, json={
        "name": "test", "tags": "test", "timeout": 2, "grace": 2, "channels": "*"})
    assert created.status_code == 201, created.text
    check = created.json()
    uuid = check["ping_url"].rsplit("/", 1)[1]
    requests.get(check["ping_url"], timeout=5).raise_for_status()
    last_ping = dt.datetime.fromisoformat(requests.get(
        f"{stack.site}/api/v3/checks/{uuid}", headers=headers, timeout=5).json()["last_ping"])

    line = wait_for(lambda: re.search(r"^ALERT DOWN \| test: .*$", stack.terminal(), re.M),
                    30, 0.1, "the printed down alert").group(0)
    printed_at = time.time()
    deadline = last_ping.timestamp() + 4
    assert line == (f"ALERT DOWN | test: no ping for 2 seconds + grace 2 seconds "
                    f"(at {dt.datetime.fromtimestamp(int(deadline), dt.UTC).isoformat()}) "
                    f"{stack.site}/dashboard/checks/{uuid}")
    assert printed_at >= deadline
    assert printed_at - deadline < 5  # the "within 2 s", with room for a loaded CI host

    def logged() -> list[dict[str, object]]:
        resp = requests.get(f"{stack.site}/api/v3/checks/{uuid}/notifications/",
                            headers=headers, timeout=5)
        entries: list[dict[str, object]] = resp.json()["notifications"]
        return [e for e in entries if e["channel_kind"] == "console" and e["status"] == "ok"]

    [entry] = wait_for(logged, 10, 0.2, "the delivery in the notification log")
    assert entry["kind"] == "down"
    # The sample check the stack created has the channel too; it has not alerted yet.
    assert "ALERT DOWN | sample backup" not in stack.terminal()

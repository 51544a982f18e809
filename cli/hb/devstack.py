"""`hb dev stack`: Redis, ping server and worker on loopback, with a sample check, until Ctrl-C."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from hb.localredis import RedisServer

SAMPLE = {"name": "sample backup", "slug": "sample-backup", "tags": "sample", "timeout": 60,
          "grace": 60, "channels": "*", "unique": ["name"]}
# The project's default channel: the worker prints alerts on this terminal, and every delivery
# is kept in the check's notification log (the dashboard shows it).
TERMINAL = {"kind": "console", "name": "terminal", "config": {}}


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _keys(workdir: Path) -> dict[str, str]:
    """Keys survive restarts of the stack in the same directory."""
    path = workdir / "keys.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    found = {"HB_API_KEY": secrets.token_urlsafe(24),
             "HB_API_KEY_READONLY": secrets.token_urlsafe(24),
             "HB_PING_KEY": secrets.token_hex(11)}
    path.write_text(json.dumps(found))
    path.chmod(0o600)
    return found


def run_stack(port: int = 8000, workdir: str = "") -> int:
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="hb-stack-"))
    base.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(appendonly=True, workdir=base / "redis")
    (base / "redis").mkdir(exist_ok=True)
    redis.start()
    site = f"http://127.0.0.1:{port}"
    keys = _keys(base)
    env = {**os.environ, "HB_REDIS_URL": redis.url, "HB_SITE_ROOT": site, **keys}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "hb", "server", "--port",
                                       str(port)], env=env))
        _wait_http(f"{site}/readyz", procs[0])
        procs.append(subprocess.Popen([sys.executable, "-m", "hb", "worker"], env=env))
        _ensure_terminal_channel(site, keys["HB_API_KEY"])
        check = requests.post(f"{site}/api/v3/checks/", json=SAMPLE, timeout=5,
                              headers={"X-Api-Key": keys["HB_API_KEY"]}).json()
        requests.get(check["ping_url"], timeout=5)
        _print_intro(site, keys, check, base)
        _wait_for_signal(procs)
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.stop()
    return 0


def _ensure_terminal_channel(site: str, api_key: str) -> None:
    """Before the sample check, whose `channels: "*"` takes the channels that exist; once per
    state directory (a restarted stack finds it)."""
    headers = {"X-Api-Key": api_key}
    listing = requests.get(f"{site}/api/v3/channels/", headers=headers, timeout=5).json()
    if not any(c["name"] == TERMINAL["name"] for c in listing["channels"]):
        requests.post(f"{site}/api/v3/channels/", json=TERMINAL, headers=headers,
                      timeout=5).raise_for_status()


def _print_intro(site: str, keys: dict[str, str], check: dict[str, str], base: Path) -> None:
    api = keys["HB_API_KEY"]
    print(f"""
Heartbeat stack is running (state in {base}).
  ping server   {site}   (API docs: {site}/docs)
  API key       {api}
  ping key      {keys['HB_PING_KEY']}

A sample check "{check['name']}" was created and pinged:
  curl -fsS {check['ping_url']}
  curl -fsS -H 'X-Api-Key: {api}' {site}/api/v3/checks/
  curl -fsS -H 'X-Api-Key: {api}' {check['ping_url'].replace('/ping/', '/api/v3/checks/')}/flips/

Alerts of checks with the "terminal" channel (channels "*" includes it) are printed here as
  ALERT DOWN | <name>: ...
and kept in the check's notification log (dashboard: {site}/dashboard).

Press Ctrl-C to stop.""", flush=True)


def _wait_for_signal(procs: list[subprocess.Popen[bytes]]) -> None:
    stop = {"now": False}

    def handler(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop["now"]:
        if any(p.poll() is not None for p in procs):
            print("hb dev stack: a process exited; stopping", file=sys.stderr)
            return
        time.sleep(0.5)

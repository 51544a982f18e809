"""The `hb` client commands (ping, run, sidecar, status) as job containers run them: real
subprocesses against a real ping server, a closed port, a server that never answers and a
flaky one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hb.client import UsageError, parse_duration, ping_url
from hb.run import Tail
from pingserver.config import Settings
from pingserver.model import Check
from pingserver.store import ProjectKeys, Store
from tests.conftest import PingServer
from tests.support.redis_server import free_port
from tests.support.wait import wait_for

# Generous bounds: what matters is that an unreachable server never holds a job for long.
QUICK = ["--timeout", "1s", "--retries", "1", "--max-time", "3s"]
BOUND = 15.0


# -- helpers --------------------------------------------------------------------------------


def hb(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HB_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "hb", *args], env=full_env, input=stdin,
                          capture_output=True, timeout=timeout)


def hb_popen(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HB_")}
    return subprocess.Popen([sys.executable, "-m", "hb", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


class SyncStore:
    """The store from synchronous tests: one short event loop per call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        async def go() -> Any:
            store = Store.from_settings(self.settings)
            try:
                return await getattr(store, method)(*args, **kwargs)
            finally:
                await store.close()

        return asyncio.run(go())

    def project(self) -> ProjectKeys:
        return self._call("create_project", "hb-client")

    def check(self, project: ProjectKeys, name: str = "job", **config: Any) -> Check:
        saved = self._call("save_check", project.id, {"name": name, "slug": name, **config})
        assert saved is not None
        return saved[0]

    def get(self, uuid: str) -> Check:
        check = self._call("get_check", uuid)
        assert check is not None
        return check

    def pings(self, uuid: str) -> list[dict[str, Any]]:
        """Newest first."""
        return self._call("pings", uuid, 100)

    def body(self, uuid: str, n: int) -> bytes:
        return self._call("ping_body", uuid, n) or b""


@pytest.fixture
def db(settings: Settings) -> SyncStore:
    return SyncStore(settings)


@pytest.fixture
def proj(db: SyncStore) -> ProjectKeys:
    return db.project()


@pytest.fixture
def url(pingserver: PingServer, db: SyncStore, proj: ProjectKeys) -> str:
    check = db.check(proj)
    return f"{pingserver.url}/ping/{check.uuid}"


def uuid_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/ping/{uuidlib.uuid4()}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/ping/{uuidlib.uuid4()}"
    sock.close()


class Scripted(ThreadingHTTPServer):
    """Answers with the given status codes in turn (the last one repeats); counts requests."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), ScriptedHandler)


class ScriptedHandler(BaseHTTPRequestHandler):
    server: Scripted

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.path)
        codes = self.server.codes
        code = codes[min(len(self.server.seen), len(codes)) - 1]
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[Scripted] = []

    def make(codes: list[int]) -> Scripted:
        server = Scripted(codes)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


# -- pure pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("45", 45), ("0.2", 0.2)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "0s", "-1", "5m3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_ping_url_keeps_query_and_adds_signal() -> None:
    base = "http://h:8000/ping/key/slug?create=1"
    rid = str(uuidlib.uuid4())
    assert ping_url(base, "start", rid=rid) == f"http://h:8000/ping/key/slug/start?create=1&rid={rid}"
    assert ping_url("http://h/ping/u/", exit_status=3) == "http://h/ping/u/3"
    with pytest.raises(UsageError):
        ping_url("http://h/ping/u", exit_status=256)
    with pytest.raises(UsageError):
        ping_url("ftp://h/ping/u")


def test_tail_keeps_the_end() -> None:
    tail = Tail(5)
    tail.write(b"abc")
    tail.write(b"defg")
    assert tail.value() == b"cdefg"


# -- hb ping ---------------------------------------------------------------------------------


def test_ping_every_signal(url: str, db: SyncStore) -> None:
    uuid = uuid_of(url)
    assert hb("ping", url).returncode == 0
    assert db.get(uuid).status == "up"
    assert hb("ping", url, "--start").returncode == 0
    assert db.get(uuid).started
    assert hb("ping", url, "--fail").returncode == 0
    assert db.get(uuid).status == "down"
    assert hb("ping", url, "--exit", "0").returncode == 0
    assert db.get(uuid).status == "up"
    assert hb("ping", url, "--exit", "4").returncode == 0
    assert db.get(uuid).last_exitstatus == 4
    assert hb("ping", url, "--log").returncode == 0
    kinds = [p["kind"] for p in db.pings(uuid)]
    assert kinds == ["log", "fail", "success", "fail", "start", "success"]
    assert {p["method"] for p in db.pings(uuid)} == {"POST"}


def test_ping_url_from_environment_body_from_stdin_and_file(url: str, db: SyncStore,
                                                            tmp_path: Path) -> None:
    uuid = uuid_of(url)
    result = hb("ping", "--log", "--body-file", "-", env={"HB_PING_URL": url},
                stdin=b"from stdin")
    assert result.returncode == 0, result.stderr
    log = tmp_path / "backup.log"
    log.write_bytes(b"x" * 50 + b"the end")
    result = hb("ping", "--fail", "--body-file", str(log), "--body-limit", "10",
                env={"HB_PING_URL": url})
    assert result.returncode == 0, result.stderr
    newest, oldest = db.pings(uuid)
    assert db.body(uuid, oldest["n"]) == b"from stdin"
    assert db.body(uuid, newest["n"]) == b"xxxthe end"


def test_ping_run_id(url: str, db: SyncStore) -> None:
    rid = str(uuidlib.uuid4())
    assert hb("ping", url, "--start", "--rid", rid).returncode == 0
    assert hb("ping", url, "--rid", rid).returncode == 0
    assert [p["rid"] for p in db.pings(uuid_of(url))] == [rid, rid]
    assert db.pings(uuid_of(url))[0]["duration"] is not None


@pytest.mark.parametrize("args", [["--rid", "nope"], ["--exit", "300"], ["--timeout", "x"]])
def test_ping_usage_errors_send_nothing(url: str, db: SyncStore, args: list[str]) -> None:
    result = hb("ping", url, *args)
    assert result.returncode == 2, result.stderr
    assert db.pings(uuid_of(url)) == []


def test_ping_without_url_is_a_usage_error() -> None:
    result = hb("ping")
    assert result.returncode == 2
    assert b"HB_PING_URL" in result.stderr


def test_ping_unknown_check_is_refused(pingserver: PingServer) -> None:
    result = hb("ping", f"{pingserver.url}/ping/{uuidlib.uuid4()}")
    assert result.returncode == 1
    assert b"HTTP 404" in result.stderr


def test_ping_closed_port_gives_up_in_bounded_time() -> None:
    began = time.monotonic()
    result = hb("ping", closed_port_url(), *QUICK)
    assert result.returncode == 3
    assert b"connection failed" in result.stderr
    assert time.monotonic() - began < BOUND


def test_ping_silent_server_times_out(silent_url: str) -> None:
    began = time.monotonic()
    result = hb("ping", silent_url, *QUICK)
    assert result.returncode == 3
    assert b"timed out" in result.stderr
    assert time.monotonic() - began < BOUND


def test_ping_retries_server_errors_with_backoff(scripted: Any) -> None:
    server = scripted([503, 502, 200])
    url = f"http://127.0.0.1:{server.server_address[1]}/ping/x"
    assert hb("ping", url, "--retries", "2").returncode == 0
    assert server.seen == ["/ping/x"] * 3


def test_ping_gives_up_after_the_retries(scripted: Any) -> None:
    server = scripted([503])
    url = f"http://127.0.0.1:{server.server_address[1]}/ping/x"
    result = hb("ping", url, "--retries", "1")
    assert result.returncode == 3
    assert b"HTTP 503" in result.stderr
    assert len(server.seen) == 2


def test_ping_client_errors_are_not_retried(scripted: Any) -> None:
    server = scripted([400])
    url = f"http://127.0.0.1:{server.server_address[1]}/ping/x"
    assert hb("ping", url, "--retries", "3").returncode == 1
    assert len(server.seen) == 1


# -- hb run ----------------------------------------------------------------------------------


def test_run_success_sends_start_and_exit_status_with_output(url: str, db: SyncStore) -> None:
    code = "import sys; print('hello out'); print('hello err', file=sys.stderr)"
    result = hb("run", "--url", url, "--", sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello out\n"
    assert b"hello err" in result.stderr
    uuid = uuid_of(url)
    end, start = db.pings(uuid)
    assert (start["kind"], end["kind"], end["exitstatus"]) == ("start", "success", 0)
    assert start["rid"] == end["rid"] and uuidlib.UUID(end["rid"])
    body = db.body(uuid, end["n"])
    assert b"hello out" in body and b"hello err" in body
    assert db.get(uuid).status == "up"


def test_run_failure_keeps_the_tail_and_the_exit_code(url: str, db: SyncStore) -> None:
    code = "import sys; sys.stdout.write('a' * 5000 + 'TAIL'); sys.exit(5)"
    result = hb("run", "--url", url, "--body-limit", "100", "--", sys.executable, "-c", code,
                env={"HB_PING_URL": "http://unused.invalid/"})
    assert result.returncode == 5
    uuid = uuid_of(url)
    end = db.pings(uuid)[0]
    assert (end["kind"], end["exitstatus"]) == ("fail", 5)
    assert db.body(uuid, end["n"]) == b"a" * 96 + b"TAIL"
    assert db.get(uuid).status == "down"


def test_run_url_from_environment_and_given_rid(url: str, db: SyncStore) -> None:
    rid = str(uuidlib.uuid4())
    result = hb("run", "--rid", rid, "--", "true", env={"HB_PING_URL": url})
    assert result.returncode == 0, result.stderr
    assert [p["rid"] for p in db.pings(uuid_of(url))] == [rid, rid]


def test_run_unreachable_server_still_runs_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    began = time.monotonic()
    result = hb("run", "--url", closed_port_url(), *QUICK, "--", sys.executable, "-c",
                f"import pathlib, sys; pathlib.Path({str(marker)!r}).write_text('y'); sys.exit(4)")
    assert result.returncode == 4
    assert marker.read_text() == "y"
    assert b"start ping failed" in result.stderr
    assert b"exit status ping (4) failed" in result.stderr
    assert time.monotonic() - began < 2 * BOUND


def test_run_silent_server_does_not_hold_the_job(silent_url: str) -> None:
    began = time.monotonic()
    result = hb("run", "--url", silent_url, *QUICK, "--", "true")
    assert result.returncode == 0
    assert time.monotonic() - began < 2 * BOUND


def test_run_command_not_found(url: str, db: SyncStore) -> None:
    result = hb("run", "--url", url, "--", "no-such-command-hb")
    assert result.returncode == 127
    end = db.pings(uuid_of(url))[0]
    assert end["exitstatus"] == 127
    assert b"command not found" in db.body(uuid_of(url), end["n"])


def test_run_without_url_runs_the_command() -> None:
    result = hb("run", "--", sys.executable, "-c", "import sys; sys.exit(3)")
    assert result.returncode == 3
    assert b"running without monitoring" in result.stderr


def test_run_with_a_broken_url_runs_the_command() -> None:
    """An env var left unexpanded (a missing Secret) must not stop the job."""
    result = hb("run", "--", sys.executable, "-c", "import sys; sys.exit(6)",
                env={"HB_PING_URL": "$(PING_BASE)/$(PING_KEY)/default_job"})
    assert result.returncode == 6
    assert b"running without monitoring" in result.stderr


def test_run_without_command_is_a_usage_error() -> None:
    assert hb("run", "--url", "http://127.0.0.1:1/ping/x").returncode == 2


def test_run_passes_sigterm_to_the_command(url: str, db: SyncStore, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (f"import pathlib, time; pathlib.Path({str(ready)!r}).write_text('1'); "
            "time.sleep(120)")
    proc = hb_popen("run", "--url", url, "--", sys.executable, "-c", code,
                    stdin=subprocess.DEVNULL)
    try:
        wait_for(ready.exists, timeout=30, message="the command to start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.communicate()
    end = db.pings(uuid_of(url))[0]
    assert (end["kind"], end["exitstatus"]) == ("fail", 143)


# -- hb sidecar ------------------------------------------------------------------------------


def test_sidecar_pings_until_sigterm(url: str, db: SyncStore) -> None:
    proc = hb_popen("sidecar", "--url", url, "--interval", "0.2s")
    try:
        wait_for(lambda: len(db.pings(uuid_of(url))) >= 3, timeout=30,
                 message="three sidecar pings")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert b"stopped after" in err
    assert {p["kind"] for p in db.pings(uuid_of(url))} == {"success"}


def test_sidecar_survives_an_unreachable_server_and_stops_cleanly() -> None:
    proc = hb_popen("sidecar", "--url", closed_port_url(), "--interval", "0.2s",
                    "--retries", "0")
    lines: list[bytes] = []

    def read() -> None:
        assert proc.stderr is not None
        lines.extend(iter(proc.stderr.readline, b""))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: sum(b"ping failed" in line for line in lines) >= 2, timeout=30,
                 message="two failed pings reported")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        proc.kill()
        proc.wait()
        reader.join(10)


def test_sidecar_count(url: str, db: SyncStore) -> None:
    result = hb("sidecar", "--url", url, "--interval", "0.1s", "--count", "2")
    assert result.returncode == 0
    assert len(db.pings(uuid_of(url))) == 2


# -- hb status -------------------------------------------------------------------------------


def test_status_prints_a_table(pingserver: PingServer, db: SyncStore, proj: ProjectKeys) -> None:
    nightly = db.check(proj, "nightly-backup", tags="prod db")
    db.check(proj, "weekly-report")
    assert hb("ping", f"{pingserver.url}/ping/{nightly.uuid}").returncode == 0
    result = hb("status", "--api", pingserver.url, env={"HB_API_KEY": proj.api_key})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"nightly-backup", "weekly-report"}
    assert rows["nightly-backup"].split()[1] == "up"
    assert "ago" in rows["nightly-backup"] and "prod db" in rows["nightly-backup"]
    assert rows["weekly-report"].split()[1] == "new"


def test_status_json_and_tag_filter(pingserver: PingServer, db: SyncStore,
                                    proj: ProjectKeys) -> None:
    db.check(proj, "a", tags="prod")
    db.check(proj, "b", tags="dev")
    result = hb("status", "--api", pingserver.url, "--api-key", proj.api_key_readonly,
                "--tag", "prod", "--json")
    assert result.returncode == 0, result.stderr
    assert [c["name"] for c in json.loads(result.stdout)] == ["a"]


def test_status_wrong_key_is_refused(pingserver: PingServer) -> None:
    result = hb("status", "--api", pingserver.url, "--api-key", "wrong")
    assert result.returncode == 1
    assert b"HTTP 401" in result.stderr


def test_status_unreachable_and_missing_key() -> None:
    result = hb("status", "--api", f"http://127.0.0.1:{free_port()}", "--api-key", "k", *QUICK)
    assert result.returncode == 3
    assert hb("status").returncode == 2

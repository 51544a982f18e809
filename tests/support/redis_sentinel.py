"""Redis with Sentinel for tests: one primary, one replica and three redis-sentinel
processes (Debian's redis-sentinel, installed by scripts/setup.sh), all on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import RedisServer, free_port
from tests.support.wait import wait_for

MASTER = "hbmaster"


def sentinel_binary() -> str:
    path = shutil.which("redis-sentinel")
    if not path:
        raise RuntimeError("redis-sentinel is not installed: run scripts/setup.sh")
    return path


def quoted(value: str) -> str:
    """A value for a Redis config file line (double-quoted, escapes for \\ and ")."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Sentinels:
    """Primary, replica and three sentinels. `password`: requirepass of both data nodes
    (and the sentinels' auth-pass); `down_after_ms` and `failover_timeout_ms` are small so
    that a failover takes seconds."""

    def __init__(self, *, password: str = "", down_after_ms: int = 1000,
                 failover_timeout_ms: int = 3000) -> None:
        self.password = password
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.nodes = [RedisServer(password=password, extra=self._auth()) for _ in range(2)]
        self.ports = [free_port() for _ in range(3)]
        self.dir = Path(tempfile.mkdtemp(prefix="hb-sentinel-"))
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def addresses(self) -> str:
        """The value of HB_REDIS_SENTINELS."""
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def env(self) -> dict[str, str]:
        return {"HB_REDIS_URL": "redis://127.0.0.1/0", "HB_REDIS_SENTINELS": self.addresses,
                "HB_REDIS_SENTINEL_MASTER": MASTER, "HB_REDIS_PASSWORD": self.password}

    def _auth(self) -> tuple[str, ...]:
        # No 5 s wait before the full sync of a (re)joining replica (Redis' default).
        auth = ("--masterauth", self.password) if self.password else ()
        return (*auth, "--repl-diskless-sync-delay", "0")

    def start(self, timeout: float = 30.0) -> Sentinels:
        primary, replica = self.nodes
        primary.start()
        replica.extra = (*self._auth(), "--replicaof", "127.0.0.1", str(primary.port))
        replica.start()
        wait_for(lambda: self._linked(replica), timeout=timeout, message="replica not in sync")
        for i, port in enumerate(self.ports):
            conf = self.dir / f"sentinel-{i}.conf"  # sentinels rewrite their config file
            lines = [f"port {port}", "bind 127.0.0.1", f"dir {self.dir}",
                     f"logfile {self.dir / f'sentinel-{i}.log'}",
                     f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2",
                     f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}",
                     f"sentinel failover-timeout {MASTER} {self.failover_timeout_ms}",
                     f"sentinel parallel-syncs {MASTER} 1"]
            if self.password:
                lines.append(f"sentinel auth-pass {MASTER} {quoted(self.password)}")
            conf.write_text("\n".join(lines) + "\n")
            self.procs.append(subprocess.Popen([sentinel_binary(), str(conf)],
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        # Ready when every sentinel knows the replica and both other sentinels: only then
        # can they agree on a failover.
        wait_for(self._formed, timeout=timeout, message=f"sentinels not formed: {self.dir}")
        return self

    def _client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(port=node.port, password=self.password or None, socket_timeout=1)

    def _linked(self, replica: RedisServer) -> bool:
        client = self._client(replica)
        try:
            return client.info("replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1, decode_responses=True)

    def _formed(self) -> bool:
        for port in self.ports:
            client = self._sentinel(port)
            try:
                state: Any = client.sentinel_master(MASTER)
            except redis.RedisError:
                return False
            finally:
                client.close()
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    def primary_port(self) -> int | None:
        """The primary's port as a majority of the sentinels report it (None if unknown)."""
        seen: list[int] = []
        for port in self.ports:
            client = self._sentinel(port)
            try:
                address: Any = client.sentinel_get_master_addr_by_name(MASTER)
                if address:
                    seen.append(int(address[1]))
            except redis.RedisError:
                pass
            finally:
                client.close()
        for candidate in set(seen):
            if seen.count(candidate) >= 2:
                return candidate
        return None

    def node(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def kill_primary(self) -> RedisServer:
        """SIGKILL the primary: no chance to hand anything over."""
        port = self.primary_port()
        assert port is not None
        node = self.node(port)
        node.kill()
        return node

    def wait_promoted(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until the sentinels name a new primary; its port."""
        wait_for(lambda: self.primary_port() not in (None, old_port), timeout=timeout,
                 message="no failover")
        port = self.primary_port()
        assert port is not None
        return port

    def rejoin(self, node: RedisServer, timeout: float = 30.0) -> None:
        """Restart a killed node as a replica of the current primary, as a restarted pod
        does; returns once it is in sync."""
        port = self.primary_port()
        assert port is not None and port != node.port
        node.extra = (*self._auth(), "--replicaof", "127.0.0.1", str(port))
        node.start()
        wait_for(lambda: self._linked(node), timeout=timeout, message="rejoin not in sync")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.procs = []
        for node in self.nodes:
            node.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


"""Start real redis-server processes on free loopback ports (tests, benchmarks, `hb dev stack`)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_port() -> int:
    """A free port for a cluster node: at most 55535, because the node's cluster bus
    listens on port + 10000 (free_port() may return anything up to 65535)."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if not path:
        raise RuntimeError("redis-server is not installed: run scripts/setup.sh")
    return path


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS-only redis-server (clients are not asked for certificates)."""

    ca: Path
    cert: Path
    key: Path


class RedisServer:
    """One redis-server on 127.0.0.1, optionally with AOF, optionally a cluster node.

    With AOF, `appendfsync` is "always" (every acknowledged write is on disk) unless told
    otherwise; "everysec" acknowledges writes that reach the disk within about a second.
    `password`: requirepass; `extra`: further redis-server options (e.g. --replicaof)."""

    def __init__(self, *, appendonly: bool = False, appendfsync: str = "always",
                 cluster: bool = False, port: int | None = None,
                 workdir: Path | None = None, tls: TlsFiles | None = None,
                 password: str = "", extra: tuple[str, ...] = ()) -> None:
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync: {appendfsync!r}")
        self.port = port or free_port()
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="hb-redis-"))
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.cluster = cluster
        self.tls = tls
        self.password = password
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls.ca}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisServer:
        args = [redis_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.dir), "--save", "", "--daemonize", "no",
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", self.appendfsync if self.appendonly else "no",
                "--logfile", str(self.dir / "redis.log")]
        if self.tls:  # TLS only: the plain port is closed
            args[args.index("--port") + 1] = "0"
            args += ["--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert),
                     "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file",
                     str(self.tls.ca), "--tls-auth-clients", "no"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file",
                     str(self.dir / "nodes.conf"), "--cluster-node-timeout", "2000"]
        if self.password:
            args += ["--requirepass", self.password]
        args += self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1, ssl=bool(self.tls),
                             password=self.password or None,
                             ssl_ca_certs=str(self.tls.ca) if self.tls else None)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = self.dir / "redis.log"
                    raise RuntimeError(f"redis-server did not start: see {log}") from None
                time.sleep(0.02)
        client.close()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """A local three-master Redis Cluster made of redis-server processes."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [RedisServer(cluster=True, port=cluster_port()) for _ in range(masters)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> RedisCluster:
        for node in self.nodes:
            node.start()
        addrs = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(["redis-cli", "--cluster", "create", *addrs, "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis(port=self.nodes[0].port)
        deadline = time.monotonic() + timeout
        while client.cluster("info").get("cluster_state") != "ok":
            if time.monotonic() > deadline:
                raise RuntimeError("redis cluster did not become ok")
            time.sleep(0.05)
        client.close()
        return self

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()

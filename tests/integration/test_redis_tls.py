"""The ping server on a TLS-only Redis (rediss://, as managed Redis services offer): pings
and the management API both work. The ping path's own pipelined connection speaks plain TCP,
so with rediss:// the ping path goes through redis-py's TLS connection instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hb_controlplane.certs import generate_pki
from tests.conftest import PingServer
from tests.support.redis_server import RedisServer, TlsFiles

API_KEY = "tls-rw-key"


@pytest.fixture(scope="module")
def tls_pingserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PingServer]:
    pki = generate_pki(Path(tmp_path_factory.mktemp("redis-tls")))
    redis_tls = RedisServer(appendonly=True, tls=TlsFiles(
        ca=pki.ca_cert, cert=pki.server_cert, key=pki.server_key)).start()
    server = PingServer(redis_tls.url, {"HB_API_KEY": API_KEY, "HB_PING_KEY": "tlspingkey"})
    yield server
    server.stop()
    redis_tls.cleanup()


def test_pings_and_the_api_work_over_tls(tls_pingserver: PingServer) -> None:
    assert tls_pingserver.url.startswith("http://127.0.0.1:")
    api = f"{tls_pingserver.url}/api/v3"
    headers = {"X-Api-Key": API_KEY}
    created = requests.post(f"{api}/checks/", json={"name": "tls", "slug": "tls", "timeout": 60,
                                                   "grace": 60},
                            headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    ping_url = created.json()["ping_url"]
    for suffix in ("/start", ""):
        answer = requests.post(ping_url + suffix, data=b"over tls", timeout=10)
        assert (answer.status_code, answer.text) == (200, "OK")
    check = requests.get(created.json()["update_url"], headers=headers, timeout=10).json()
    assert check["n_pings"] == 2 and check["status"] == "up"
    slug = requests.get(f"{tls_pingserver.url}/ping/tlspingkey/tls", timeout=10)
    assert slug.status_code == 200
    assert requests.get(f"{tls_pingserver.url}/readyz", timeout=10).status_code == 200

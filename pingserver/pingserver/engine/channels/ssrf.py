"""SSRF guard for outgoing webhooks: refuse targets that are not public internet addresses.

Two layers: the host name is resolved and every address checked before the request (a
clear error, and it covers HTTP proxies), and the address a connection actually reaches is
checked again on the socket (so DNS rebinding between the check and the connect, and
redirects, cannot reach a private address). HB_ALLOW_PRIVATE_WEBHOOKS turns both off.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from pingserver.engine.channels import DeliveryError, PermanentError


class BlockedAddress(PermanentError):
    """The target resolves to a private, loopback, link-local or reserved address."""


def check_ip(text: str) -> None:
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # is_global is false for private, loopback, link-local, shared (CGNAT), documentation
    # and reserved ranges; multicast is refused on top.
    if not ip.is_global or ip.is_multicast:
        raise BlockedAddress(f"refusing to connect to non-public address {ip}")


def check_url(url: str) -> None:
    """Resolve the URL's host and refuse it unless every address is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise PermanentError(f"unsupported URL scheme {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise PermanentError("the URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        # Not permanent: DNS may be having a bad minute.
        raise DeliveryError(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        check_ip(str(info[4][0]))


def _guard(sock: socket.socket) -> socket.socket:
    try:
        check_ip(sock.getpeername()[0])
    except BlockedAddress:
        sock.close()
        raise
    return sock


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _guard(super()._new_conn())


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _guard(super()._new_conn())


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """An adapter whose direct connections refuse non-public peers."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool,
                                                   "https": _GuardedHTTPSPool}


_local = threading.local()


def session(allow_private: bool) -> requests.Session:
    """A keep-alive session per worker thread (requests sessions are not thread-safe)."""
    name = "open" if allow_private else "guarded"
    existing: requests.Session | None = getattr(_local, name, None)
    if existing is None:
        existing = requests.Session()
        existing.headers["User-Agent"] = "heartbeat-operator-notifier/0.1"
        if not allow_private:
            adapter = GuardedAdapter()
            existing.mount("http://", adapter)
            existing.mount("https://", adapter)
        setattr(_local, name, existing)
    return existing

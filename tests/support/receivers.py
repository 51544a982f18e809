"""Real receivers on loopback for alert deliveries: an HTTP server that records webhook
requests (and can answer 500, answer slowly or hang), and an SMTP server (aiosmtpd) with
optional STARTTLS and login."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.redis_server import free_port


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish (killed notifiers, timeouts) are part of the tests."""


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request arrived
    status: int = 0  # what the receiver answered (0: hung, never answered)


@dataclass
class Rule:
    status: int = 200
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer (until the receiver stops or is released)
    location: str = ""  # a Location header (redirects)


class HttpReceiver:
    """ThreadingHTTPServer on 127.0.0.1 recording every request. Behaviour per path prefix:
    `rule("/hook", status=500)`, `rule("/slow", delay=2)`, `rule("/dead", hang=True)`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self.rules: dict[str, Rule] = {}
        self.released = threading.Event()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def start(self) -> HttpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def rule(self, prefix: str, *, status: int = 200, delay: float = 0.0,
             hang: bool = False, location: str = "") -> None:
        with self.lock:
            self.rules[prefix] = Rule(status, delay, hang, location)

    def _rule_for(self, path: str) -> Rule:
        with self.lock:
            best = max((p for p in self.rules if path.startswith(p)), key=len, default=None)
            return self.rules[best] if best is not None else Rule()

    def received(self, prefix: str = "", *, ok_only: bool = False) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)
                    and (not ok_only or 200 <= r.status < 300)]

    def wait_for(self, count: int, prefix: str = "", *, timeout: float = 20.0,
                 ok_only: bool = False) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.received(prefix, ok_only=ok_only)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(got)} of {count} requests to {prefix!r} arrived "
                                   f"within {timeout} s")
            time.sleep(0.02)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
            # Headers and body go out in two writes: without TCP_NODELAY the second waits
            # for the client's delayed ACK (40 ms per request on Linux).
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                entry = Received(self.command, self.path, dict(self.headers.items()), body,
                                 time.time())
                with receiver.lock:
                    receiver.requests.append(entry)
                rule = receiver._rule_for(self.path)
                if rule.hang:
                    receiver.released.wait(600)
                    self.close_connection = True
                    return
                if rule.delay:
                    time.sleep(rule.delay)
                entry.status = rule.status
                payload = b"OK" if rule.status < 300 else b"error"
                try:
                    self.send_response(rule.status)
                    self.send_header("Content-Length", str(len(payload)))
                    if rule.location:
                        self.send_header("Location", rule.location)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client went away (killed, timed out)
                    entry.status = 0
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def self_signed_cert(directory: Path | None = None) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = directory or Path(tempfile.mkdtemp(prefix="hb-tls-"))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str | None
    at: float = field(default_factory=time.time)


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1; `starttls=True` offers STARTTLS with a self-signed certificate
    (trust it with SSL_CERT_FILE=<receiver.cert>); `login=(user, password)` requires AUTH
    (over TLS only)."""

    def __init__(self, *, starttls: bool = False, login: tuple[str, str] | None = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[Mail] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.cert: Path | None = None
        kwargs: dict[str, Any] = {}
        if starttls:
            self.cert, key = self_signed_cert()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert, key)
            kwargs.update(tls_context=context, require_starttls=False)
        if login:
            def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                              auth_data: Any) -> AuthResult:
                ok = (isinstance(auth_data, LoginPassword)
                      and (auth_data.login.decode(), auth_data.password.decode()) == login)
                # handled=False: aiosmtpd then answers 535 itself on a failure.
                return AuthResult(success=ok, handled=False, auth_data=auth_data)

            kwargs.update(authenticator=authenticator, auth_require_tls=True)
        self.controller = Controller(self._Handler(self), hostname="127.0.0.1", port=self.port,
                                     **kwargs)

    class _Handler:
        def __init__(self, receiver: SmtpReceiver) -> None:
            self.receiver = receiver

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            auth = session.auth_data
            login = auth.login.decode() if auth is not None and hasattr(auth, "login") else None
            mail = Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                        tls=session.ssl is not None, login=login)
            with self.receiver.lock:
                self.receiver.messages.append(mail)
            return "250 Message accepted for delivery"

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 20.0,
                 where: Callable[[Mail], bool] = lambda m: True) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = [m for m in self.messages if where(m)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(got)} of {count} emails arrived within {timeout} s")
            time.sleep(0.02)

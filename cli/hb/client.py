"""HTTP for `hb ping`, `hb run`, `hb sidecar` and `hb status`: bounded time, bounded retries.

A job must never be held long by an unreachable server. Every request has a timeout, failed
attempts are retried with exponential backoff, and the whole exchange, retries and waits
included, ends within `Policy.max_time` seconds.

Exit codes shared by the client commands (`hb run` instead exits with its command's code):

    0  the server accepted the request
    1  the server refused it and retrying cannot help (4xx: unknown check, bad URL, bad key)
    2  usage error (bad arguments, no URL)
    3  no answer in time: connection refused, timeout, 429 or 5xx after every retry
"""

from __future__ import annotations

import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests

from hb import __version__

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

DEFAULT_BODY_LIMIT = 100_000  # the server's default; its Ping-Body-Limit header wins
USER_AGENT = f"hb/{__version__}"
KINDS = ("start", "fail", "log")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")


class UsageError(ValueError):
    """Bad arguments: exit code 2."""


@dataclass(frozen=True)
class Policy:
    """How long one exchange with the server may take."""

    timeout: float = 10.0  # seconds per attempt (connect, and each read)
    retries: int = 2  # attempts after the first
    max_time: float = 30.0  # seconds for the whole exchange, backoff included
    backoff: float = 0.5  # first wait between attempts; doubles each time
    stop: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class Result:
    exit_code: int
    status: int | None = None  # HTTP status of the last answer, None when none came
    text: str = ""  # the answer's body, or the last error
    body_limit: int | None = None  # the server's Ping-Body-Limit header

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


def parse_duration(text: str) -> float:
    """'30s', '5m', '1h30m', '2d', '500ms' or a plain number of seconds -> seconds."""
    raw = text.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pos, seconds = 0, 0.0
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
        for match in _DURATION_PART.finditer(raw):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * scale[match.group(2)]
            pos = match.end()
        if pos != len(raw) or not raw:
            raise UsageError(f"{text!r} is not a duration such as 30s, 5m or 1h30m") from None
    if seconds <= 0:
        raise UsageError(f"{text!r}: the duration must be positive")
    return seconds


def check_rid(rid: str) -> str:
    try:
        return str(uuid.UUID(rid))
    except ValueError:
        raise UsageError(f"--rid {rid!r} is not a UUID") from None


def ping_url(base: str, kind: str | None = None, exit_status: int | None = None,
             rid: str | None = None) -> str:
    """Add the signal (`/start`, `/fail`, `/log`, `/<exit status>`) and `rid` to a ping URL,
    keeping a query the URL already has (such as `?create=1`)."""
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{base!r} is not an http(s) ping URL")
    path = parts.path.rstrip("/")
    if exit_status is not None:
        if not 0 <= exit_status <= 255:
            raise UsageError(f"exit status {exit_status} is not in 0-255")
        path += f"/{exit_status}"
    elif kind is not None:
        if kind not in KINDS:
            raise UsageError(f"unknown ping kind {kind!r}")
        path += f"/{kind}"
    query = parts.query
    if rid:
        query = f"{query}&rid={rid}" if query else f"rid={rid}"
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def read_body(path: str, limit: int) -> bytes:
    """The last `limit` bytes of a file, or of standard input for '-'."""
    if limit <= 0:
        return b""
    if path == "-":
        kept = bytearray()
        while chunk := sys.stdin.buffer.read(65536):
            kept += chunk
            del kept[:max(0, len(kept) - limit)]
        return bytes(kept)
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - limit))
        return f.read()


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def request(method: str, url: str, policy: Policy, *, body: bytes | None = None,
            headers: Mapping[str, str] | None = None,
            params: Mapping[str, str | list[str]] | None = None,
            session: requests.Session | None = None,
            sleep: Callable[[float], bool] | None = None) -> Result:
    """One exchange with retries: connection errors, timeouts, 429 and 5xx are retried with
    exponential backoff (with jitter) until `policy.retries` or `policy.max_time` runs out,
    or `policy.stop` is set. Other answers are final."""
    deadline = time.monotonic() + policy.max_time
    wait = sleep or policy.stop.wait  # returns True when asked to stop
    http = session or requests.Session()
    delay = policy.backoff
    last = Result(EXIT_UNREACHABLE, text="no attempt made")
    try:
        for attempt in range(policy.retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or policy.stop.is_set():
                break
            timeout = min(policy.timeout, remaining)
            try:
                answer = http.request(method, url, data=body, params=params, timeout=timeout,
                                      headers={"User-Agent": USER_AGENT, **(headers or {})})
            except requests.RequestException as exc:
                last = Result(EXIT_UNREACHABLE, text=_describe(exc))
            else:
                limit = answer.headers.get("Ping-Body-Limit", "")
                last = Result(EXIT_OK if answer.ok else EXIT_REJECTED, answer.status_code,
                              answer.text, int(limit) if limit.isdigit() else None)
                if answer.ok or not _retryable(answer.status_code):
                    return last
                last = Result(EXIT_UNREACHABLE, answer.status_code, answer.text,
                              last.body_limit)
            if attempt == policy.retries:
                break
            pause = min(delay * random.uniform(0.8, 1.2), deadline - time.monotonic())
            if pause <= 0 or wait(pause):
                break
            delay *= 2
    finally:
        if session is None:
            http.close()
    return last


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def ping(base: str, policy: Policy, *, kind: str | None = None, exit_status: int | None = None,
         rid: str | None = None, body: bytes = b"") -> Result:
    """Send one ping (always POST, so checks that accept POST only see it too)."""
    return request("POST", ping_url(base, kind, exit_status, rid), policy, body=body)


def report(prog: str, result: Result, what: str) -> None:
    """One line on stderr for a failed exchange (the URL is not printed: it is a secret)."""
    if result.ok:
        return
    if result.status is None:
        detail = result.text
    else:
        detail = f"HTTP {result.status} {result.text.strip()[:200]}".rstrip()
    print(f"{prog}: {what} failed: {detail}", file=sys.stderr)

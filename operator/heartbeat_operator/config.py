"""Operator configuration: HB_ environment variables, validated once at start-up.

Every error names the variable, so a misconfigured Deployment says what to fix.
"""

from __future__ import annotations

import fnmatch
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from heartbeat_operator.spec import SpecError, parse_duration

TZ_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")
SERVICEACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
GLOB_CHARS = set("*?[]!")


class ConfigError(RuntimeError):
    """A configuration variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class OperatorConfig:
    pingserver_url: str
    api_key: str
    cluster_secret: str
    namespaces: tuple[str, ...]  # empty: all namespaces
    lastping_refresh: int  # seconds between lastPing refreshes of one check
    drift_interval: int  # seconds between drift repairs
    feed_interval: int  # seconds between polls of the flips feed
    http_timeout: float
    backoff_max: int  # longest delay between retries of a failing object
    ping_key: str  # the project's ping key; "" = no slug URLs, no ping-key Secrets
    operator_namespace: str  # where the state ConfigMap lives
    liveness: str  # Kopf --liveness endpoint used by run(); "" = off
    priority: int  # Kopf peering priority; 0 = random
    peering_lifetime: int = 60  # seconds a replica's peering record counts as alive
    cronjob_default_tz: str = "UTC"  # the zone of CronJobs without spec.timeZone

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    def __repr__(self) -> str:  # keep the API key and secrets out of logs and tracebacks
        return (f"OperatorConfig(pingserver_url={self.pingserver_url!r}, "
                f"namespaces={self.namespaces!r}, operator_namespace="
                f"{self.operator_namespace!r})")


def _duration(env: Mapping[str, str], name: str, default: str, minimum: int = 1) -> int:
    raw = env.get(name, "").strip() or default
    try:
        value = parse_duration(raw, field_name=name)
    except SpecError:
        raise ConfigError(f"{name}: {raw!r} is not a duration such as 30s, 5m or 1h") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}s")
    return value


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name}: required")
    return value


def _default_operator_namespace(env: Mapping[str, str], namespaces: tuple[str, ...]) -> str:
    """The first plain watched namespace; cluster-wide, the operator's own namespace."""
    if namespaces:
        plain = [ns for ns in namespaces if not GLOB_CHARS & set(ns)]
        if not plain:
            raise ConfigError("HB_OPERATOR_NAMESPACE: required when HB_NAMESPACES has only "
                              "patterns")
        return plain[0]
    if env.get("POD_NAMESPACE", "").strip():
        return env["POD_NAMESPACE"].strip()
    try:
        return SERVICEACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def load(env: Mapping[str, str] | None = None) -> OperatorConfig:
    env = os.environ if env is None else env
    url = _required(env, "HB_PINGSERVER_URL").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError("HB_PINGSERVER_URL: must start with http:// or https://")
    api_key = _required(env, "HB_API_KEY")
    secret = _required(env, "HB_CLUSTER_SECRET")
    if len(secret) < 16:
        raise ConfigError("HB_CLUSTER_SECRET: must be at least 16 characters (it derives the "
                          "check UUIDs, which are the secret part of ping URLs)")
    namespaces = tuple(ns.strip() for ns in env.get("HB_NAMESPACES", "").split(",")
                       if ns.strip())
    operator_ns = env.get("HB_OPERATOR_NAMESPACE", "").strip()
    if not operator_ns:
        operator_ns = _default_operator_namespace(env, namespaces)
    elif namespaces and not any(fnmatch.fnmatchcase(operator_ns, ns) for ns in namespaces):
        raise ConfigError("HB_OPERATOR_NAMESPACE: must be one of HB_NAMESPACES, or the "
                          "operator cannot see its own state ConfigMap")
    try:
        timeout = float(env.get("HB_HTTP_TIMEOUT", "").strip() or "10")
    except ValueError:
        raise ConfigError("HB_HTTP_TIMEOUT: must be a number of seconds") from None
    if not 0 < timeout <= 300:
        raise ConfigError("HB_HTTP_TIMEOUT: must be between 0 and 300 seconds")
    try:
        priority = int(env.get("HB_PRIORITY", "").strip() or "0")
    except ValueError:
        raise ConfigError("HB_PRIORITY: must be an integer") from None
    default_tz = env.get("HB_CRONJOB_DEFAULT_TZ", "").strip() or "UTC"
    if not _valid_zone(default_tz):
        raise ConfigError(f"HB_CRONJOB_DEFAULT_TZ: {default_tz!r} is not an IANA time zone "
                          "such as UTC or Europe/Berlin")
    return OperatorConfig(
        pingserver_url=url,
        api_key=api_key,
        cluster_secret=secret,
        namespaces=namespaces,
        lastping_refresh=_duration(env, "HB_LASTPING_REFRESH", "5m"),
        drift_interval=_duration(env, "HB_DRIFT_INTERVAL", "5m"),
        feed_interval=_duration(env, "HB_FEED_INTERVAL", "5s"),
        http_timeout=timeout,
        backoff_max=_duration(env, "HB_BACKOFF_MAX", "5m"),
        ping_key=env.get("HB_PING_KEY", "").strip(),
        operator_namespace=operator_ns,
        liveness=env.get("HB_LIVENESS", "http://0.0.0.0:8080/healthz").strip(),
        priority=priority,
        peering_lifetime=_duration(env, "HB_PEERING_LIFETIME", "60s", minimum=5),
        cronjob_default_tz=default_tz,
    )


def _valid_zone(name: str) -> bool:
    """An IANA zone name; checked against the tz database when one is installed (the ping
    server checks it again in any case)."""
    if not TZ_RE.match(name) or len(name) > 36:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        return not zoneinfo.available_timezones()  # no tz database here: the shape must do
    except ValueError:
        return False
    return True

"""Operator configuration: HB_ variables validated at start-up, errors naming the variable."""

from __future__ import annotations

import pytest

from heartbeat_operator.config import ConfigError, load
from heartbeat_operator.main import kopf_args

BASE = {"HB_PINGSERVER_URL": "http://hb:8000/", "HB_API_KEY": "rw-key",
        "HB_CLUSTER_SECRET": "0123456789abcdef"}


def test_defaults() -> None:
    cfg = load(BASE)
    assert cfg.pingserver_url == "http://hb:8000"
    assert cfg.clusterwide
    assert (cfg.lastping_refresh, cfg.drift_interval, cfg.feed_interval) == (300, 300, 5)
    assert cfg.http_timeout == 10.0
    assert cfg.ping_key == ""
    assert cfg.liveness == "http://0.0.0.0:8080/healthz"


def test_namespaces_and_durations() -> None:
    cfg = load({**BASE, "HB_NAMESPACES": "team-a, team-b", "HB_LASTPING_REFRESH": "1m30s",
                "HB_DRIFT_INTERVAL": "10m", "HB_FEED_INTERVAL": "2s"})
    assert cfg.namespaces == ("team-a", "team-b")
    assert not cfg.clusterwide
    assert cfg.operator_namespace == "team-a"
    assert (cfg.lastping_refresh, cfg.drift_interval, cfg.feed_interval) == (90, 600, 2)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HB_PINGSERVER_URL": ""}, "HB_PINGSERVER_URL: required"),
        ({"HB_PINGSERVER_URL": "hb:8000"}, "HB_PINGSERVER_URL: must start"),
        ({"HB_API_KEY": " "}, "HB_API_KEY: required"),
        ({"HB_CLUSTER_SECRET": "short"}, "HB_CLUSTER_SECRET: must be at least 16"),
        ({"HB_LASTPING_REFRESH": "5 minutes"}, "HB_LASTPING_REFRESH"),
        ({"HB_DRIFT_INTERVAL": "0s"}, "HB_DRIFT_INTERVAL: must be at least"),
        ({"HB_HTTP_TIMEOUT": "soon"}, "HB_HTTP_TIMEOUT"),
        ({"HB_PRIORITY": "high"}, "HB_PRIORITY"),
        ({"HB_NAMESPACES": "a,b", "HB_OPERATOR_NAMESPACE": "c"}, "HB_OPERATOR_NAMESPACE"),
        ({"HB_NAMESPACES": "team-*"}, "HB_OPERATOR_NAMESPACE: required"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load({**BASE, **env})


def test_secrets_stay_out_of_repr() -> None:
    cfg = load({**BASE, "HB_PING_KEY": "pingkey123"})
    text = repr(cfg)
    assert "rw-key" not in text
    assert "0123456789abcdef" not in text
    assert "pingkey123" not in text


def test_kopf_args_follow_the_namespaces() -> None:
    all_ns = load(BASE)
    assert kopf_args(all_ns, []) == ["run", "-m", "heartbeat_operator.main", "--all-namespaces",
                                     "--liveness=http://0.0.0.0:8080/healthz"]
    some = load({**BASE, "HB_NAMESPACES": "a,b", "HB_LIVENESS": ""})
    assert kopf_args(some, ["--standalone"]) == [
        "run", "-m", "heartbeat_operator.main", "--namespace=a", "--namespace=b", "--standalone"]
    # Explicit scope and liveness options win over the environment.
    assert kopf_args(all_ns, ["-n", "x", "--liveness=http://127.0.0.1:1/h"]) == [
        "run", "-m", "heartbeat_operator.main", "-n", "x", "--liveness=http://127.0.0.1:1/h"]

"""The chart with an external Redis behind Sentinel: values -> the HB_REDIS_SENTINEL* and
HB_REDIS_WAIT_* variables of the ping server and the worker, passwords from Secrets;
contradictory values fail at render time, bad ones in values.schema.json."""

from __future__ import annotations

import pytest

from tests.unit.test_chart_render import CHART, env, find, render, render_error, run_helm

SENTINEL = CHART / "ci" / "sentinel-redis-values.yaml"


@pytest.mark.parametrize("workload", ["-pingserver", "-worker"])
def test_sentinel_values_become_the_env(workload: str) -> None:
    e = env(find(render(files=(SENTINEL,)), "Deployment", workload))
    assert e["HB_REDIS_SENTINELS"] == ("redis-sentinel-0.redis-sentinel:26379,"
                                       "redis-sentinel-1.redis-sentinel:26379,"
                                       "redis-sentinel-2.redis-sentinel:26379")
    assert e["HB_REDIS_SENTINEL_MASTER"] == "heartbeat"
    assert e["HB_REDIS_SENTINEL_PASSWORD"] == {"secretKeyRef": {"name": "redis-ha",
                                                                "key": "sentinel-password"}}
    assert e["HB_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis-ha",
                                                       "key": "redis-password"}}
    assert (e["HB_REDIS_WAIT_REPLICAS"], e["HB_REDIS_WAIT_TIMEOUT_MS"]) == ("1", "500")
    assert "HB_REDIS_URL" not in e  # the primary comes from the sentinels
    assert e["HB_REDIS_CLUSTER"] == "false"


def test_sentinels_without_their_own_password_and_with_a_database() -> None:
    docs = render("redis.mode=external", "redis.auth.enabled=false",
                  "redis.external.url=redis://ignored:6379/3",
                  "redis.external.sentinel.hosts={s0:26379,s1:26379}")
    e = env(find(docs, "Deployment", "-worker"))
    assert e["HB_REDIS_SENTINELS"] == "s0:26379,s1:26379"
    assert e["HB_REDIS_SENTINEL_MASTER"] == "mymaster"
    assert e["HB_REDIS_URL"] == "redis://ignored:6379/3"
    for name in ("HB_REDIS_SENTINEL_PASSWORD", "HB_REDIS_PASSWORD", "HB_REDIS_WAIT_REPLICAS"):
        assert name not in e


def test_without_sentinels_nothing_changes() -> None:
    e = env(find(render(), "Deployment", "-pingserver"))
    assert not {n for n in e if n.startswith(("HB_REDIS_SENTINEL", "HB_REDIS_WAIT"))}


@pytest.mark.parametrize(("sets", "message"), [
    (("redis.external.sentinel.hosts={s0:26379}",), "needs redis.mode=external"),
    (("redis.mode=external", "redis.auth.enabled=false", "redis.external.cluster=true",
      "redis.external.sentinel.hosts={s0:26379}"), "exclude each other"),
    (("redis.waitReplicas=1",), "redis.waitReplicas needs replicas"),
])
def test_contradictory_sentinel_values_fail(sets: tuple[str, ...], message: str) -> None:
    assert message in render_error(*sets)


@pytest.mark.parametrize("bad", [
    "redis.external.sentinel.hosts={no-port}",
    "redis.external.sentinel.masterName=",
    "redis.waitReplicas=-1",
    "redis.waitTimeoutMs=5000",
])
def test_schema_rejects_bad_sentinel_values(bad: str) -> None:
    result = run_helm("template", "hb", str(CHART), "--set", bad)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr

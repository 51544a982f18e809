"""The chart's operator replicas: one by default (Recreate); more stand by through Kopf peering
(on by default, required when replicas > 1), roll one at a time, and get the peering lifetime
that bounds the takeover (HB_PEERING_LIFETIME)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_chart_render import env, find, render, render_error


def operator_deployment(*sets: str) -> dict[str, Any]:
    return find(render(*sets), "Deployment", "-operator")


def test_one_replica_by_default_with_peering() -> None:
    deployment = operator_deployment()
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--standalone" not in container["args"]
    assert env(deployment)["HB_PEERING_LIFETIME"] == "60s"


def test_two_replicas_peer_and_roll_one_at_a_time() -> None:
    deployment = operator_deployment("operator.replicas=2", "operator.peeringLifetime=20s")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--standalone" not in container["args"]
    assert env(deployment)["HB_PEERING_LIFETIME"] == "20s"


def test_standalone_has_no_peering_lifetime() -> None:
    deployment = operator_deployment("operator.peering=false")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--standalone" in container["args"]
    assert "HB_PEERING_LIFETIME" not in env(deployment)


def test_replicas_without_peering_fail() -> None:
    assert "operator.replicas > 1 needs operator.peering" in render_error(
        "operator.replicas=2", "operator.peering=false")


@pytest.mark.parametrize("bad", ["operator.replicas=0", "operator.peeringLifetime=soon"])
def test_bad_values_fail_the_schema(bad: str) -> None:
    assert "operator" in render_error(bad)

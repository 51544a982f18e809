"""The operator across restarts, a wiped ping server and several replicas: no duplicates,
the same ping URLs, flips missed while down are still reported, and one active replica."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from kubernetes import client

from hb_controlplane.wait import wait_for
from heartbeat_operator import constants
from tests.k8s.test_operator_harness import (
    Kube,
    Stack,
    StartOperator,
    crds,
    is_ready,
    stack,
    start_operator,
)

__all__ = ["crds", "stack", "start_operator"]

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

CHECKS, CHANNELS = constants.CHECK_PLURAL, constants.CHANNEL_PLURAL


def webhook_spec(secret: str) -> dict[str, object]:
    return {"kind": "webhook", "webhook": {"down": {
        "url": {"secretKeyRef": {"name": secret, "key": "url"}}}}}


def test_restart_creates_no_duplicates_and_reports_what_it_missed(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    first = start_operator("--standalone", name="first")
    kube.secret("hook", {"url": f"{stack.receiver.url}/restart"})
    kube.create(CHANNELS, "hook", webhook_spec("hook"))
    kube.create(CHECKS, "report", {"period": "1h", "channels": ["hook"]})
    before = kube.wait_status(CHECKS, "report", lambda s: is_ready(s) and s.get("channels"),
                              "Ready")
    channel_id = kube.wait_status(CHANNELS, "hook", lambda s: s.get("ready"), "ready")[
        "channelID"]
    assert first.stop() == 0

    # While no operator runs, the check comes up: the flip waits in the feed.
    assert requests.get(before["pingURL"], timeout=10).text == "OK"

    second = start_operator("--standalone", "--verbose", name="second")  # handler lines: DEBUG
    assert "resumed from the stored cursor" in second.output()
    status = kube.wait_status(CHECKS, "report", lambda s: s.get("state") == "up", "up")
    assert kube.wait_event("report", "CheckUp").type == "Normal"
    assert status["pingURL"] == before["pingURL"]
    assert kube.status(CHANNELS, "hook")["channelID"] == channel_id
    slugs = [c["slug"] for c in stack.checks()]
    assert slugs.count(f"{namespace}_report") == 1
    names = [c["name"] for c in stack.api("GET", "/channels/").json()["channels"]]
    assert names.count(f"k8s:{namespace}/hook") == 1
    second.wait_log(f"[{namespace}/report] Handler 'check_upsert' succeeded")  # re-applied


@pytest.fixture
def own_stack() -> Iterator[Stack]:
    """A ping server of this test's own (its Redis gets wiped)."""
    s = Stack(worker=False)
    yield s
    s.stop()


def test_wiped_ping_server_gets_its_checks_back_with_the_same_urls(
        own_stack: Stack, start_operator: StartOperator, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone", HB_PINGSERVER_URL=own_stack.url)
    kube.secret("hook", {"url": f"{own_stack.receiver.url}/wiped"})
    kube.create(CHANNELS, "hook", webhook_spec("hook"))
    kube.create(CHECKS, "etl", {"schedule": "*/10 * * * *", "grace": "5m",
                                "channels": ["hook"]})
    before = kube.wait_status(CHECKS, "etl", lambda s: is_ready(s) and s.get("channels"),
                              "Ready")
    old_channel = kube.status(CHANNELS, "hook")["channelID"]

    own_stack.wipe()  # Redis FLUSHALL: every check and channel gone
    assert own_stack.check(before["checkID"]) is None

    restored = wait_for(lambda: own_stack.check(before["checkID"]), 30, 0.3,
                        "drift repair to re-create the check")
    assert restored["ping_url"] == before["pingURL"]
    assert restored["schedule"] == "*/10 * * * *"
    channel = kube.wait_status(CHANNELS, "hook", lambda s: s.get("channelID") not in
                               (None, old_channel), "a re-created channel")
    wait_for(lambda: (own_stack.check(before["checkID"]) or {}).get("channels")
             == channel["channelID"], 30, 0.3, "the check to use the new channel id")
    assert kube.wait_event("etl", "CheckRestored").type == "Normal"
    assert kube.status(CHECKS, "etl")["pingURL"] == before["pingURL"]
    assert requests.get(before["pingURL"], timeout=10).text == "OK"


def test_two_replicas_only_one_acts_and_the_other_takes_over(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    """Peering (crds/kopf-peering.yaml): the replica with the higher priority acts; the
    other stays paused until the first one leaves."""
    kube = Kube(kube_api, namespace)
    # --verbose: the lines of handled objects are DEBUG.
    high = start_operator("--priority=100", "--verbose", name="high")
    high.wait_log("Resuming operations after the pause")
    peering = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        constants.PEERING_GROUP, constants.PEERING_VERSION, namespace,
        constants.PEERING_PLURAL, constants.PEERING_NAME)
    assert len(peering["status"]) == 1  # type: ignore[index]
    low = start_operator("--priority=50", "--verbose", name="low", wait_feed=False)
    wait_for(lambda: len(client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        constants.PEERING_GROUP, constants.PEERING_VERSION, namespace,
        constants.PEERING_PLURAL, constants.PEERING_NAME)["status"]) == 2,  # type: ignore[index]
        30, 0.3, "both replicas in the peering object")

    kube.create(CHECKS, "one", {"period": "1h"})
    kube.wait_status(CHECKS, "one", is_ready, "Ready")
    handled = f"[{namespace}/one] Handler 'check_upsert' succeeded"
    assert handled in high.output()
    assert handled not in low.output()
    assert "Resuming operations" not in low.output()
    assert "flips feed" not in low.output()  # its background loop never ran

    assert high.stop() == 0
    low.wait_log("Resuming operations after the pause")
    kube.create(CHECKS, "two", {"period": "1h"})
    kube.wait_status(CHECKS, "two", is_ready, "Ready, handled by the remaining replica")
    assert f"[{namespace}/two] Handler 'check_upsert' succeeded" in low.output()
    low.wait_log("flips feed: ready")

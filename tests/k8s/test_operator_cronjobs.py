"""Annotated CronJobs against a real control plane (the Job and CronJob controllers, the
scheduler, kwok running the pods), a real ping server, `hb worker` and a webhook receiver:
the generated HeartbeatCheck, Job signals with durations, failures with their reason and an
alert, suspend, Namespace opt-in and opt-out, restarts that report every run exactly once,
expect-ping, skipped runs, and the check going away with its CronJob.

Jobs are created from the CronJob's template as `kubectl create job --from=cronjob/x` does
(plus the scheduled-timestamp annotation the controller sets), except in the one test that
waits for a real scheduled run."""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

import pytest
import requests
from kubernetes import client

from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import wait_for
from heartbeat_operator import constants
from heartbeat_operator.jobs import run_id
from tests.k8s.test_operator_harness import (
    Batch,
    Kube,
    Stack,
    StartOperator,
    condition,
    crds,
    cronjob_body,
    expected_uuid,
    is_ready,
    stack,
    start_operator,
)

__all__ = ["crds", "stack", "start_operator"]

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

CHECKS, CHANNELS = constants.CHECK_PLURAL, constants.CHANNEL_PLURAL
P = constants.ANNOTATION_PREFIX
TIMEOUT = 60.0


# -- helpers --------------------------------------------------------------------------------


def pings(stack: Stack, uuid: str) -> list[dict[str, Any]]:
    response = stack.api("GET", f"/checks/{uuid}/pings/")
    response.raise_for_status()
    return list(response.json()["pings"])


def run_pings(stack: Stack, uuid: str, job: client.V1Job) -> list[str]:
    """The types of the operator's pings for this Job's run, oldest first."""
    rid = run_id(job.metadata.uid)
    return [p["type"] for p in reversed(pings(stack, uuid)) if p["rid"] == rid]


def ping_body(stack: Stack, entry: Mapping[str, Any]) -> str:
    response = stack.http.get(entry["body_url"], timeout=10)
    response.raise_for_status()
    return response.text


def generated(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.get(CHECKS, name)
    assert found is not None, f"no HeartbeatCheck {name}"
    return found


# -- tests ----------------------------------------------------------------------------------


def test_annotated_cronjob_gets_its_check_and_reports_runs_with_durations(
        start_operator: StartOperator, stack: Stack, crds: ControlPlane,
        kube_api: client.ApiClient, namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    start_operator("--standalone")
    cron = batch.create_cronjob(cronjob_body(
        "backup", schedule="@daily", time_zone="Europe/Berlin",
        annotations={f"{P}monitor": "true", f"{P}grace": "10m", f"{P}tags": "prod, db",
                     f"{P}description": "pg_dump of the orders database"},
        job={"activeDeadlineSeconds": 600}))

    # The generated check: owned by the CronJob, its schedule translated, registered.
    status = kube.wait_status(CHECKS, "backup", is_ready, "Ready")
    check = generated(kube, "backup")
    assert check["spec"] == {
        "schedule": "0 0 * * *", "timeZone": "Europe/Berlin", "grace": "10m",
        "maxRuntime": "10m", "tags": ["prod", "db"],
        "description": "pg_dump of the orders database", "paused": False,
        "manualResume": True, "expectFirstPing": True, "deletionPolicy": "Delete"}
    owner = check["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"], o["controller"]) for o in owner] == [
        ("CronJob", "backup", cron.metadata.uid, True)]
    uuid = expected_uuid(namespace, "backup")
    assert status["checkID"] == uuid
    server = stack.check(uuid)
    assert server is not None
    assert (server["schedule"], server["tz"], server["grace"], server["max_runtime"]) == (
        "0 0 * * *", "Europe/Berlin", 600, 600)
    kube.wait_status(CHECKS, "backup", lambda s: condition(s, "MonitoringReliable").get(
        "status") == "True", "MonitoringReliable")
    assert batch.wait_cronjob_event("backup", "CheckCreated")[0].type == "Normal"
    table = crds.kubectl("get", "heartbeatchecks", "-n", namespace)
    assert table.splitlines()[1].split()[:4] == ["backup", "new", "0", "0"]

    # A run: start when the Job appears, success when kwok completed its pod; one rid.
    job = batch.run("backup")
    batch.wait_ledger(job.metadata.name, "start,success")
    assert batch.finished(job.metadata.name) == "Complete"
    assert run_pings(stack, uuid, job) == ["start", "success"]
    rid = run_id(job.metadata.uid)
    start, success = sorted((p for p in pings(stack, uuid) if p["rid"] == rid),
                            key=lambda p: p["n"])
    assert success["duration"] is not None and success["duration"] >= 0
    assert start["ua"] == "heartbeat-operator"
    scheduled = job.metadata.annotations[constants.SCHEDULED_TIMESTAMP]
    assert scheduled in ping_body(stack, start)
    assert f"Job {job.metadata.name} completed in" in ping_body(stack, success)
    status = kube.wait_status(CHECKS, "backup", lambda s: s.get("state") == "up"
                              and s.get("lastDuration"), "up with a duration")

    # A second run is timed on its own.
    second = batch.run("backup")
    batch.wait_ledger(second.metadata.name, "start,success")
    assert run_pings(stack, uuid, second) == ["start", "success"]

    # Annotation and schedule changes propagate.
    batch.patch_cronjob("backup", {"metadata": {"annotations": {f"{P}grace": "20m"}},
                                   "spec": {"schedule": "*/30 * * * ?"}})
    wait_for(lambda: (stack.check(uuid) or {}).get("schedule") == "*/30 * * * *", TIMEOUT,
             0.2, "the new schedule on the ping server")
    assert (stack.check(uuid) or {})["grace"] == 1200
    assert generated(kube, "backup")["spec"]["grace"] == "20m"


def test_failed_job_turns_the_check_down_with_its_reason_and_alerts(
        start_operator: StartOperator, stack: Stack, crds: ControlPlane,
        kube_api: client.ApiClient, namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    start_operator("--standalone")
    token = uuidlib.uuid4().hex
    kube.secret("hook", {"url": f"{stack.receiver.url}/cron/{token}"})
    kube.create(CHANNELS, "ops", {"kind": "webhook", "webhook": {"down": {
        "url": {"secretKeyRef": {"name": "hook", "key": "url"}},
        "body": "$NAME is $STATUS: $BODY"}}})
    channel_id = kube.wait_status(CHANNELS, "ops", lambda s: s.get("ready"), "ready")[
        "channelID"]
    batch.create_cronjob(cronjob_body("etl", annotations={f"{P}monitor": "true",
                                                          f"{P}channels": "ops"}))
    kube.wait_status(CHECKS, "etl", lambda s: is_ready(s) and s.get("channels") == ["ops"],
                     "Ready with its channel")
    uuid = expected_uuid(namespace, "etl")
    wait_for(lambda: (stack.check(uuid) or {}).get("channels") == channel_id, TIMEOUT, 0.2,
             "the channel on the ping server's check")

    job = batch.run("etl", fail_exit=3)
    batch.wait_ledger(job.metadata.name, "start,fail")
    assert batch.finished(job.metadata.name) == "Failed"
    assert run_pings(stack, uuid, job) == ["start", "fail"]
    fail = next(p for p in pings(stack, uuid) if p["type"] == "fail")
    body = ping_body(stack, fail)
    assert f"Job {job.metadata.name} failed: BackoffLimitExceeded" in body
    assert "exit code 3" in body
    kube.wait_status(CHECKS, "etl", lambda s: s.get("state") == "down", "down")

    # The alert, with the reason in the body.
    alert = stack.receiver.wait_for(1, f"/cron/{token}", timeout=30)[0]
    text = alert.body.decode()
    assert text.startswith(f"{namespace}/etl is down: ")
    assert "BackoffLimitExceeded" in text

    # Visible where people look: Events on the CronJob itself.
    failed = batch.wait_cronjob_event("etl", "JobFailed")[0]
    assert failed.type == "Warning"
    assert "BackoffLimitExceeded" in failed.message
    assert batch.wait_cronjob_event("etl", "HeartbeatDown")[0].type == "Warning"
    described = crds.kubectl("describe", "cronjob", "etl", "-n", namespace)
    assert "JobFailed" in described and "HeartbeatDown" in described
    assert token not in described

    # The next good run brings it back up.
    good = batch.run("etl")
    batch.wait_ledger(good.metadata.name, "start,success")
    kube.wait_status(CHECKS, "etl", lambda s: s.get("state") == "up", "up again")
    assert batch.wait_cronjob_event("etl", "HeartbeatUp")[0].type == "Normal"


def test_suspended_cronjob_pauses_its_check_and_resuming_allows_the_catch_up_run(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    start_operator("--standalone")
    batch.create_cronjob(cronjob_body("nightly", annotations={f"{P}monitor": "true"}))
    kube.wait_status(CHECKS, "nightly", is_ready, "Ready")
    uuid = expected_uuid(namespace, "nightly")

    batch.patch_cronjob("nightly", {"spec": {"suspend": True}})
    kube.wait_status(CHECKS, "nightly", lambda s: s.get("state") == "paused", "paused")
    assert generated(kube, "nightly")["spec"]["paused"] is True
    assert (stack.check(uuid) or {})["status"] == "paused"

    batch.patch_cronjob("nightly", {"spec": {"suspend": False}})
    kube.wait_status(CHECKS, "nightly", lambda s: s.get("state") == "new", "resumed")
    assert (stack.check(uuid) or {})["status"] == "new"
    # The catch-up run the controller may start at once after resuming is just a run.
    job = batch.run("nightly")
    batch.wait_ledger(job.metadata.name, "start,success")
    kube.wait_status(CHECKS, "nightly", lambda s: s.get("state") == "up", "up")
    assert (stack.check(uuid) or {}).get("next_ping")  # the next deadline follows the schedule


def test_namespace_opt_in_cronjob_opt_out_and_invalid_annotations(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    operator = start_operator("--standalone", "--verbose")
    batch.create_cronjob(cronjob_body("plain"))
    batch.create_cronjob(cronjob_body("optout", annotations={f"{P}monitor": "false"}))
    batch.create_cronjob(cronjob_body("typo", annotations={f"{P}monitor": "true",
                                                           f"{P}grace": "soon",
                                                           f"{P}observe-job": "false"}))
    # Invalid values: a Warning Event each, never silently ignored; the rest still works.
    kube.wait_status(CHECKS, "typo", is_ready, "Ready")
    assert generated(kube, "typo")["spec"]["grace"] == "1h"
    warnings = batch.wait_cronjob_event("typo", "InvalidAnnotation", count=2)
    text = " ".join(e.message for e in warnings)
    assert f"{P}grace: 'soon' is not a duration" in text
    assert f"{P}observe-job: unknown annotation" in text
    operator.wait_log(f"CronJob {namespace}/plain: unmonitored")
    operator.wait_log(f"CronJob {namespace}/optout: unmonitored")
    assert kube.get(CHECKS, "plain") is None

    # The Namespace opts every CronJob in, except the one that opts out.
    client.CoreV1Api(kube_api).patch_namespace(namespace, {"metadata": {"annotations": {
        constants.NAMESPACE_OPT_IN: "true"}}})
    kube.wait_status(CHECKS, "plain", is_ready, "Ready (opted in by the Namespace)")
    uuid = expected_uuid(namespace, "plain")
    assert stack.check(uuid) is not None
    operator.wait_log(f"CronJob {namespace}/optout: unmonitored (the Namespace's opt-in")
    assert kube.get(CHECKS, "optout") is None

    # Opting out later deletes the generated check (policy Delete), here and on the server.
    batch.patch_cronjob("plain", {"metadata": {"annotations": {f"{P}monitor": "false"}}})
    kube.wait_gone(CHECKS, "plain")
    assert stack.check(uuid) is None
    assert batch.wait_cronjob_event("plain", "CheckDeleted")[0].type == "Normal"
    # ... and its Jobs are no longer reported.
    job = batch.run("plain")
    batch.wait_finished(job.metadata.name)
    operator.wait_log(f"Job {namespace}/{job.metadata.name}: not monitored")
    assert batch.ledger(job.metadata.name) == ""


def test_operator_restarted_mid_run_reports_each_run_exactly_once(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    first = start_operator("--standalone", name="first")
    batch.create_cronjob(cronjob_body("report", annotations={f"{P}monitor": "true"}))
    kube.wait_status(CHECKS, "report", is_ready, "Ready")
    uuid = expected_uuid(namespace, "report")
    # A run that is going when the operator stops (suspended: no pod yet).
    running = batch.run("report", suspend=True)
    batch.wait_ledger(running.metadata.name, "start")
    assert first.stop() == 0

    # While no operator runs: the first run ends, a second one starts and ends.
    batch.resume_job(running.metadata.name)
    assert batch.wait_finished(running.metadata.name) == "Complete"
    missed = batch.run("report")
    assert batch.wait_finished(missed.metadata.name) == "Complete"
    assert batch.ledger(missed.metadata.name) == ""

    second = start_operator("--standalone", name="second")
    batch.wait_ledger(running.metadata.name, "start,success")
    batch.wait_ledger(missed.metadata.name, "start,success")
    assert run_pings(stack, uuid, running) == ["start", "success"]
    assert run_pings(stack, uuid, missed) == ["start", "success"]
    durations = [p["duration"] for p in pings(stack, uuid)
                 if p["rid"] == run_id(running.metadata.uid) and p["type"] == "success"]
    assert durations and durations[0] > 0  # timed from the start sent before the restart

    # Another restart reports nothing twice: once a new run is through, the counts stand.
    assert second.stop() == 0
    start_operator("--standalone", name="third")
    later = batch.run("report")
    batch.wait_ledger(later.metadata.name, "start,success")
    for job in (running, missed, later):
        assert run_pings(stack, uuid, job) == ["start", "success"], job.metadata.name
    assert len(pings(stack, uuid)) == 6


def test_restart_keeps_the_checks_of_cronjobs_the_namespace_opted_in(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    """After a restart a CronJob's watch event may come before its Namespace's: the opt-in
    must not look absent then, or the check would be deleted as unmonitored."""
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    client.CoreV1Api(kube_api).patch_namespace(namespace, {"metadata": {"annotations": {
        constants.NAMESPACE_OPT_IN: "true"}}})
    first = start_operator("--standalone", name="first")
    names = [f"nightly-{i}" for i in range(5)]
    for name in names:
        batch.create_cronjob(cronjob_body(name))
    for name in names:
        kube.wait_status(CHECKS, name, is_ready, "Ready")
    uids = {name: generated(kube, name)["metadata"]["uid"] for name in names}
    assert first.stop() == 0

    second = start_operator("--standalone", "--verbose", name="second")
    for name in names:
        second.wait_log(f"CronJob {namespace}/{name}: ")
    job = batch.run(names[0])
    batch.wait_ledger(job.metadata.name, "start,success")
    for name in names:
        found = generated(kube, name)
        assert found["metadata"]["uid"] == uids[name] and not found["metadata"].get(
            "deletionTimestamp"), name
        assert stack.check(expected_uuid(namespace, name)) is not None
    assert "CheckDeleted" not in {e.reason for e in batch.cronjob_events(names[0])}


def test_deleting_the_cronjob_removes_its_check_unless_retained(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    operator = start_operator("--standalone", "--verbose")
    batch.create_cronjob(cronjob_body("gone", annotations={f"{P}monitor": "true"}))
    batch.create_cronjob(cronjob_body("kept", annotations={f"{P}monitor": "true",
                                                           f"{P}deletion-policy": "Retain"}))
    kube.wait_status(CHECKS, "gone", is_ready, "Ready")
    kube.wait_status(CHECKS, "kept", is_ready, "Ready")
    assert not generated(kube, "kept")["metadata"].get("ownerReferences")
    assert generated(kube, "kept")["spec"]["deletionPolicy"] == "Retain"
    uuid = expected_uuid(namespace, "gone")

    # A Job deleted mid-run (as concurrencyPolicy Replace does) is a run that failed.
    cut = batch.run("gone", suspend=True)
    batch.wait_ledger(cut.metadata.name, "start")
    batch.batch.delete_namespaced_job(cut.metadata.name, namespace,
                                      propagation_policy="Background")
    wait_for(lambda: run_pings(stack, uuid, cut) == ["start", "fail"], TIMEOUT, 0.2,
             "the cut-short run reported")
    assert any("was deleted before it finished" in e.message
               for e in batch.wait_cronjob_event("gone", "JobFailed"))
    running = batch.run("gone", suspend=True)
    batch.wait_ledger(running.metadata.name, "start")

    batch.batch.delete_namespaced_cron_job("gone", namespace)
    batch.batch.delete_namespaced_cron_job("kept", namespace)
    kube.wait_gone(CHECKS, "gone")  # garbage-collected, its finalizer cleaned up the server
    assert stack.check(uuid) is None
    # Its Jobs go with it, and are not runs cut short.
    wait_for(lambda: batch.job(running.metadata.name) is None, TIMEOUT, 0.2, "its Jobs gone")
    operator.wait_log(f"Job {namespace}/{running.metadata.name}: not monitored")
    assert generated(kube, "kept")["metadata"].get("deletionTimestamp") is None
    assert stack.check(expected_uuid(namespace, "kept")) is not None


def test_expect_ping_compares_the_containers_ping_with_the_job(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    start_operator("--standalone")
    batch.create_cronjob(cronjob_body("app", annotations={f"{P}monitor": "true",
                                                          f"{P}expect-ping": "true"}))
    status = kube.wait_status(CHECKS, "app", is_ready, "Ready")
    url = status["pingURL"]
    uuid = expected_uuid(namespace, "app")

    def container_pings(job: client.V1Job, *signals: str) -> None:
        """What `hb run` in the container does, with HB_RID from the Job's uid."""
        for signal in signals:
            suffix = "" if signal == "success" else f"/{signal}"
            response = requests.post(f"{url}{suffix}", params={"rid": job.metadata.uid},
                                     data=b"backup done", timeout=10)
            assert response.text == "OK"

    # Both signals agree: success.
    agree = batch.run("app", suspend=True)
    batch.wait_ledger(agree.metadata.name, "start")
    container_pings(agree, "start", "success")
    batch.resume_job(agree.metadata.name)
    batch.wait_ledger(agree.metadata.name, "start,success")
    status = kube.wait_status(CHECKS, "app", lambda s: condition(s, "SignalsAgree").get(
        "status") == "True", "SignalsAgree")

    # The Job completed, but the container never pinged: a failure, with the reason.
    silent = batch.run("app")
    batch.wait_ledger(silent.metadata.name, "start,fail")
    assert batch.finished(silent.metadata.name) == "Complete"
    missing = batch.wait_cronjob_event("app", "PingMissing")[0]
    assert missing.type == "Warning" and silent.metadata.uid in missing.message
    status = kube.wait_status(CHECKS, "app", lambda s: condition(s, "SignalsAgree").get(
        "reason") == "PingMissing", "SignalsAgree=False (PingMissing)")
    assert condition(status, "SignalsAgree")["status"] == "False"
    kube.wait_status(CHECKS, "app", lambda s: s.get("state") == "down", "down")

    # The container pinged success, but the Job failed.
    liar = batch.run("app", suspend=True, fail_exit=2)
    batch.wait_ledger(liar.metadata.name, "start")
    container_pings(liar, "start", "success")
    batch.resume_job(liar.metadata.name)
    batch.wait_ledger(liar.metadata.name, "start,fail")
    assert batch.wait_cronjob_event("app", "SignalsDisagree")[0].type == "Warning"
    kube.wait_status(CHECKS, "app", lambda s: condition(s, "SignalsAgree").get(
        "reason") == "SuccessPingButJobFailed", "SignalsAgree=False (failed Job)")
    assert run_pings(stack, uuid, liar) == ["start", "fail"]


def test_unreliable_settings_and_skipped_runs_are_reported(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    start_operator("--standalone")
    cron = batch.create_cronjob(cronjob_body(
        "risky", time_zone=None, annotations={f"{P}monitor": "true"},
        successfulJobsHistoryLimit=0, startingDeadlineSeconds=5, concurrencyPolicy="Forbid"))
    status = kube.wait_status(CHECKS, "risky", lambda s: condition(s, "MonitoringReliable").get(
        "status") == "False", "MonitoringReliable=False")
    message = condition(status, "MonitoringReliable")["message"]
    for part in ("successfulJobsHistoryLimit is 0", "startingDeadlineSeconds is 5",
                 "spec.timeZone is not set"):
        assert part in message
    assert generated(kube, "risky")["spec"]["timeZone"] == "UTC"  # HB_CRONJOB_DEFAULT_TZ
    assert len(batch.wait_cronjob_event("risky", "MonitoringUnreliable", count=3)) == 3

    # The CronJob controller's Events for skipped runs (posted here as it posts them).
    uuid = expected_uuid(namespace, "risky")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for reason, text in (("MissSchedule", f"Missed scheduled time to start a job: {now}"),
                         ("JobAlreadyActive", "Not starting job because prior execution is "
                                              "running and concurrency policy is Forbid")):
        batch.core.create_namespaced_event(namespace, client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="risky."),
            involved_object=client.V1ObjectReference(
                api_version="batch/v1", kind="CronJob", name="risky", namespace=namespace,
                uid=cron.metadata.uid),
            reason=reason, message=text, type="Warning" if reason == "MissSchedule"
            else "Normal", source=client.V1EventSource(component="cronjob-controller"),
            first_timestamp=now, last_timestamp=now, count=1))
    skipped = batch.wait_cronjob_event("risky", "RunSkipped", count=2)
    assert {e.type for e in skipped} == {"Warning"}
    signals = {p["type"]: p for p in pings(stack, uuid)}
    assert set(signals) == {"fail", "log"}
    assert "MissSchedule" in ping_body(stack, signals["fail"])
    assert "JobAlreadyActive" in ping_body(stack, signals["log"])
    kube.wait_status(CHECKS, "risky", lambda s: s.get("state") == "down", "down")
    annotations = generated(kube, "risky")["metadata"]["annotations"]
    assert "MissSchedule" in annotations[constants.SKIPS_ANNOTATION]


def test_a_real_scheduled_run_is_reported(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    """The one test that waits for the CronJob controller's own schedule (up to a minute)."""
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    start_operator("--standalone")
    batch.create_cronjob(cronjob_body("minutely", schedule="* * * * *",
                                      annotations={f"{P}monitor": "true"},
                                      concurrencyPolicy="Forbid"))
    kube.wait_status(CHECKS, "minutely", is_ready, "Ready")
    uuid = expected_uuid(namespace, "minutely")

    def scheduled_job() -> client.V1Job | None:
        listed = batch.batch.list_namespaced_job(namespace).items
        return next((j for j in listed if (j.metadata.annotations or {}).get(
            constants.SCHEDULED_TIMESTAMP)), None)

    job: client.V1Job = wait_for(scheduled_job, 80, 0.5, "a Job from the schedule")
    assert "cronjob.kubernetes.io/instantiate" not in (job.metadata.annotations or {})
    batch.wait_ledger(job.metadata.name, "start,success")
    start = next(p for p in pings(stack, uuid) if p["type"] == "start")
    assert job.metadata.annotations[constants.SCHEDULED_TIMESTAMP] in ping_body(stack, start)
    kube.wait_status(CHECKS, "minutely", lambda s: s.get("state") == "up", "up")

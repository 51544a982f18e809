"""Jobs of monitored CronJobs: run ids, the per-run ledger, what is still to be sent, the end
verdict with expect-ping, failure details. Pure functions: no cluster, no network."""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from typing import Any

import pytest

from heartbeat_operator import jobs
from heartbeat_operator.jobs import JobState

JOB_UID = "0b4d3c1e-7f41-4a39-9a51-2a7e8d1c9f00"


def job(*, conditions: list[dict[str, Any]] | None = None, ledger: str | None = None,
        scheduled: str | None = "2026-01-01T03:00:00Z", **status: Any) -> dict[str, Any]:
    annotations: dict[str, str] = {}
    if ledger is not None:
        annotations["heartbeat.dev/reported"] = ledger
    if scheduled is not None:
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = scheduled
    return {"metadata": {"name": "backup-29000000", "namespace": "ns", "uid": JOB_UID,
                         "creationTimestamp": "2026-01-01T03:00:01Z",
                         "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                              "name": "backup", "uid": "cj-uid",
                                              "controller": True}]},
            "status": {"conditions": conditions or [], **status}}


COMPLETE = [{"type": "SuccessCriteriaMet", "status": "True"},
            {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T03:00:09Z"}]
FAILED = [{"type": "FailureTarget", "status": "True"},
          {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
           "message": "Job has reached the specified backoff limit",
           "lastTransitionTime": "2026-01-01T03:00:30Z"}]


def state(ledger: str = "", conditions: list[dict[str, Any]] | None = None,
          deleted: bool = False, **status: Any) -> JobState:
    return jobs.job_state(job(conditions=conditions, ledger=ledger, **status), deleted=deleted)


def test_run_id_is_uuid5_of_the_job_uid() -> None:
    rid = jobs.run_id(JOB_UID)
    assert uuidlib.UUID(rid).version == 5
    assert rid == jobs.run_id(JOB_UID) != JOB_UID
    assert rid != jobs.run_id("another-uid")


def test_owner_cronjob() -> None:
    assert jobs.owner_cronjob(job()) == ("backup", "cj-uid")
    plain = job()
    plain["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob",
                                             "name": "x", "uid": "u"}]  # not the controller
    assert jobs.owner_cronjob(plain) is None
    plain["metadata"]["ownerReferences"] = []
    assert jobs.owner_cronjob(plain) is None


def test_ledger_round_trip() -> None:
    assert jobs.parse_ledger("start, success") == ("start", "success")
    assert jobs.parse_ledger("") == () == jobs.parse_ledger(None)
    assert jobs.parse_ledger("start,bogus,fail") == ("start", "fail")
    assert jobs.format_ledger(["start", "success", "start"]) == "start,success"


def test_job_state_running() -> None:
    s = state(startTime="2026-01-01T03:00:02Z")
    assert (s.phase, s.scheduled, s.ledger, s.duration) == (
        "running", "2026-01-01T03:00:00Z", (), None)
    assert s.created == dt.datetime(2026, 1, 1, 3, 0, 1, tzinfo=dt.UTC)


def test_job_state_complete_with_duration() -> None:
    s = state("start", COMPLETE, startTime="2026-01-01T03:00:02Z",
              completionTime="2026-01-01T03:00:09Z")
    assert (s.phase, s.duration, s.ledger) == ("complete", 7.0, ("start",))


def test_job_state_failed_ignores_interim_conditions() -> None:
    s = state("", FAILED, startTime="2026-01-01T03:00:02Z")
    assert (s.phase, s.reason, s.duration) == ("failed", "BackoffLimitExceeded", 28.0)
    interim = state("", [{"type": "FailureTarget", "status": "True"}])
    assert interim.phase == "running"
    assert state("", [{"type": "Complete", "status": "False"}]).phase == "running"


@pytest.mark.parametrize(("ledger", "conditions", "deleted", "pending"), [
    ("", None, False, ["start"]),
    ("start", None, False, []),
    ("", COMPLETE, False, ["start", "end"]),      # finished before the operator saw it
    ("start", COMPLETE, False, ["end"]),
    ("start,success", COMPLETE, False, []),
    ("start", FAILED, False, ["end"]),
    ("start,fail", FAILED, False, []),
    ("start", None, True, ["end"]),               # deleted mid-run (concurrencyPolicy Replace)
    ("", None, True, []),                         # never seen running: nothing to end
    ("start", COMPLETE, True, ["end"]),           # completed, then deleted at once
    ("start,success", COMPLETE, True, []),
])
def test_pending_signals(ledger: str, conditions: list[dict[str, Any]] | None, deleted: bool,
                         pending: list[str]) -> None:
    assert jobs.pending_signals(state(ledger, conditions, deleted)) == pending


def test_only_runs_since_the_check_exist_are_reported() -> None:
    s = state()
    created = s.created
    assert created is not None
    assert jobs.reportable(s, created)
    assert jobs.reportable(s, created - dt.timedelta(days=1))
    assert not jobs.reportable(s, created + dt.timedelta(seconds=1))
    assert not jobs.reportable(s, None)


def test_start_body_names_the_scheduled_time() -> None:
    assert jobs.start_body(state()) == (
        "Job backup-29000000 created, scheduled for 2026-01-01T03:00:00Z\n")
    manual = jobs.job_state(job(scheduled=None))
    assert "a manual run (no scheduled time)" in jobs.start_body(manual)


# -- the end verdict ------------------------------------------------------------------------


def pings(*entries: tuple[str, str]) -> list[dict[str, Any]]:
    """Ping log entries (type, rid), newest first."""
    return [{"type": kind, "rid": rid} for kind, rid in entries]


def test_container_end_matches_by_rid() -> None:
    other = "11111111-1111-4111-8111-111111111111"
    assert jobs.container_end(pings(("success", other)), JOB_UID) is None
    assert jobs.container_end(pings(("start", JOB_UID.upper())), JOB_UID) == "start"
    assert jobs.container_end(pings(("fail", JOB_UID), ("success", JOB_UID),
                                    ("start", JOB_UID)), JOB_UID) == "fail"
    operator_rid = jobs.run_id(JOB_UID)
    assert jobs.container_end(pings(("success", operator_rid)), JOB_UID) is None


def done(kind: str = "complete") -> JobState:
    conditions = COMPLETE if kind == "complete" else FAILED
    return state("start", conditions, startTime="2026-01-01T03:00:02Z",
                 completionTime="2026-01-01T03:00:09Z")


def test_verdict_without_expect_ping() -> None:
    ok = jobs.end_verdict(done(), expect_ping=False, container=None)
    assert (ok.kind, ok.events, ok.agree) == ("success", (), None)
    assert ok.body == ("Job backup-29000000 completed in 7s, scheduled for "
                       "2026-01-01T03:00:00Z\n")
    bad = jobs.end_verdict(done("failed"), expect_ping=False, container="success",
                           failure_detail="pod p, container main: exit code 3 (Error)\n")
    assert bad.kind == "fail" and bad.agree is None
    assert bad.body.startswith("Job backup-29000000 failed: BackoffLimitExceeded: Job has "
                               "reached the specified backoff limit\n")
    assert bad.body.endswith("exit code 3 (Error)\n")
    assert bad.events == (("JobFailed", "Job backup-29000000 failed: BackoffLimitExceeded: "
                                        "Job has reached the specified backoff limit"),)


@pytest.mark.parametrize(("kind", "container", "signal", "agree", "reason", "events"), [
    ("complete", "success", "success", True, "Agree", []),
    ("complete", None, "fail", False, "PingMissing", ["PingMissing"]),
    ("complete", "start", "fail", False, "PingMissing", ["PingMissing"]),
    ("complete", "fail", "fail", False, "FailurePingButJobCompleted", ["SignalsDisagree"]),
    ("failed", "success", "fail", False, "SuccessPingButJobFailed",
     ["JobFailed", "SignalsDisagree"]),
    ("failed", "fail", "fail", True, "Agree", ["JobFailed"]),
    ("failed", None, "fail", True, "Agree", ["JobFailed"]),
])
def test_verdict_with_expect_ping(kind: str, container: str | None, signal: str, agree: bool,
                                  reason: str, events: list[str]) -> None:
    verdict = jobs.end_verdict(done(kind), expect_ping=True, container=container)
    assert (verdict.kind, verdict.agree, verdict.agree_reason) == (signal, agree, reason)
    assert [r for r, _ in verdict.events] == events
    if not agree:
        assert JOB_UID in verdict.agree_message


def test_verdict_for_a_deleted_run() -> None:
    verdict = jobs.end_verdict(state("start", deleted=True), expect_ping=True, container=None)
    assert verdict.kind == "fail" and verdict.agree is None
    assert verdict.body.startswith("Job backup-29000000 was deleted before it finished")


def test_long_messages_are_cut() -> None:
    conditions = [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                   "message": "x" * 5000}]
    verdict = jobs.end_verdict(state("start", conditions), expect_ping=False, container=None)
    assert len(verdict.events[0][1]) < 1100


# -- failure details ------------------------------------------------------------------------


def pod(name: str, *statuses: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"containerStatuses": list(statuses)}}


def terminated(name: str, code: int, at: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code, "finishedAt": at,
                                                   **extra}}}


def test_failed_container_is_the_latest_nonzero_exit() -> None:
    pods = [pod("p1", terminated("main", 1, "2026-01-01T03:00:05Z")),
            pod("p2", terminated("main", 3, "2026-01-01T03:00:20Z", reason="Error"),
                terminated("sidecar", 0, "2026-01-01T03:00:21Z"))]
    found = jobs.failed_container(pods)
    assert found is not None and found[:2] == ("p2", "main")
    assert jobs.failed_container([pod("ok", terminated("main", 0, "x"))]) is None
    restarted = {"name": "main", "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 137, "finishedAt": "t"}}}
    assert jobs.failed_container([pod("p3", restarted)]) is not None


def test_failure_detail_with_and_without_a_log() -> None:
    found = ("p2", "main", {"exitCode": 3, "reason": "Error", "message": "boom"})
    assert jobs.failure_detail(found, None) == ("pod p2, container main: exit code 3 (Error)\n"
                                                "boom\n")
    with_log = jobs.failure_detail(found, "last line\n")
    assert "--- the last 2048 bytes of its log ---\nlast line" in with_log
    assert jobs.failure_detail(None, "log") == ""


def test_slim_job_keeps_what_is_read() -> None:
    body = job(conditions=COMPLETE, ledger="start", startTime="2026-01-01T03:00:02Z")
    body["metadata"]["managedFields"] = [{}]
    body["metadata"]["annotations"]["other"] = "x"
    slim = jobs.slim(body)
    assert jobs.job_state(slim) == jobs.job_state(body)
    assert "other" not in slim["metadata"]["annotations"]
    assert jobs.owner_cronjob(slim) == ("backup", "cj-uid")

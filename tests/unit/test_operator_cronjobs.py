"""Annotated CronJobs: annotation parsing, schedule translation, the lint, the desired
HeartbeatCheck and skipped-run Events. Pure functions: no cluster, no network."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from heartbeat_operator import background, constants, cronjobs
from heartbeat_operator.config import ConfigError, load
from heartbeat_operator.cronjobs import ScheduleError, Settings

P = "heartbeat.dev/"


def parse(annotations: dict[str, str], namespace: str | None = None) -> Settings:
    return cronjobs.parse_annotations(annotations, namespace)


# -- annotations ----------------------------------------------------------------------------


def test_opt_in_with_every_setting() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}grace": "90m", f"{P}max-runtime": "2h",
                      f"{P}channels": "ops, pager ,ops", f"{P}tags": "prod, db nightly",
                      f"{P}description": "  runbook: https://wiki/x ",
                      f"{P}deletion-policy": "retain", f"{P}observe-jobs": "TRUE",
                      f"{P}expect-ping": "true", "other.io/x": "y"})
    assert settings == Settings(
        monitored=True, grace="1h30m", max_runtime="2h", channels=("ops", "pager"),
        tags=("prod", "db", "nightly"), description="runbook: https://wiki/x",
        deletion_policy="Retain", observe_jobs=True, expect_ping=True, problems=())


@pytest.mark.parametrize(("annotations", "namespace", "monitored"), [
    ({}, None, False),
    ({}, "true", True),
    ({}, "false", False),
    ({f"{P}monitor": "false"}, "true", False),   # the CronJob opts out
    ({f"{P}monitor": "true"}, "false", True),
    ({f"{P}monitor": "True"}, None, True),
    ({f"{P}monitor": "yes"}, "true", True),      # invalid: the Namespace decides
    ({f"{P}monitor": "yes"}, None, False),
])
def test_who_decides_about_monitoring(annotations: dict[str, str], namespace: str | None,
                                      monitored: bool) -> None:
    assert parse(annotations, namespace).monitored is monitored


def test_defaults() -> None:
    settings = parse({f"{P}monitor": "true"})
    assert settings == Settings(monitored=True)
    assert (settings.observe_jobs, settings.expect_ping, settings.deletion_policy) == (
        True, False, "Delete")


def test_invalid_values_are_problems_and_fall_back_to_defaults() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}grace": "soon", f"{P}max-runtime": "30s",
                      f"{P}channels": "ok,Bad_Name", f"{P}deletion-policy": "Keep",
                      f"{P}observe-jobs": "maybe", f"{P}grase": "5m"})
    assert settings.monitored
    assert (settings.grace, settings.max_runtime, settings.channels) == ("", "", ("ok",))
    assert settings.deletion_policy == "Delete" and settings.observe_jobs is True
    problems = "\n".join(settings.problems)
    for expected in (f"{P}grace: 'soon' is not a duration",
                     f"{P}max-runtime: '30s' is out of range (0s or 1m to 8760h)",
                     f"{P}channels: 'Bad_Name' is not an AlertChannel name",
                     f"{P}deletion-policy: 'Keep' is not Delete or Retain",
                     f"{P}observe-jobs: 'maybe' is not \"true\" or \"false\"",
                     f"{P}grase: unknown annotation"):
        assert expected in problems
    assert len(settings.problems) == 6


def test_grace_bounds_and_zero_max_runtime() -> None:
    assert parse({f"{P}monitor": "true", f"{P}max-runtime": "0s"}).max_runtime == "0s"
    assert parse({f"{P}monitor": "true", f"{P}grace": "0s"}).problems
    assert parse({f"{P}monitor": "true", f"{P}grace": "8761h"}).problems
    assert parse({f"{P}monitor": "true", f"{P}grace": "8760h"}).grace == "8760h"


def test_invalid_monitor_and_namespace_values_are_reported() -> None:
    assert parse({f"{P}monitor": "on"}).problems == (f"{P}monitor: 'on' is not \"true\" or "
                                                      "\"false\"",)
    assert "Namespace annotation heartbeat.dev/monitor-cronjobs: 'yes'" in parse(
        {}, "yes").problems[0]


def test_settings_without_opt_in_are_pointed_out_but_an_opt_out_is_quiet() -> None:
    hint = parse({f"{P}grace": "5m"})
    assert not hint.monitored
    assert hint.problems and "have no effect: heartbeat.dev/grace" in hint.problems[0]
    assert parse({f"{P}monitor": "false", f"{P}grace": "5m"}).problems == ()


def test_expect_ping_needs_observe_jobs() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}expect-ping": "true",
                      f"{P}observe-jobs": "false"})
    assert (settings.observe_jobs, settings.expect_ping) == (False, False)
    assert "expect-ping needs" in settings.problems[0]


def test_tags_are_bounded() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}tags": " ".join(f"t{i}" for i in range(40))})
    assert len(settings.tags) == 32
    assert any("more than 32 tags" in p for p in settings.problems)
    long = parse({f"{P}monitor": "true", f"{P}tags": "x" * 101 + ",ok"})
    assert long.tags == ("ok",) and long.problems


# -- schedule -------------------------------------------------------------------------------


@pytest.mark.parametrize(("schedule", "cron"), [
    ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"),
    ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"), ("@DAILY", "0 0 * * *"),
    ("*/5 * * * *", "*/5 * * * *"), ("0 3 ? * MON-FRI", "0 3 * * MON-FRI"),
    ("  0  3 * * ?  ", "0 3 * * *"),
])
def test_schedule_translation(schedule: str, cron: str) -> None:
    assert cronjobs.translate_schedule(schedule) == cronjobs.Schedule(cron=cron)


def test_every_becomes_a_period() -> None:
    assert cronjobs.translate_schedule("@every 1h30m") == cronjobs.Schedule(period="1h30m")
    assert cronjobs.translate_schedule("@every 90s").period == "1m30s"
    assert cronjobs.translate_schedule("@every 1.5h").period == "1h30m"
    assert cronjobs.translate_schedule("@every 60500ms").period == "1m1s"


def test_time_zone_prefix_becomes_the_zone() -> None:
    assert cronjobs.translate_schedule("CRON_TZ=Europe/Berlin 0 3 * * *") == cronjobs.Schedule(
        cron="0 3 * * *", time_zone="Europe/Berlin")
    assert cronjobs.translate_schedule("TZ=UTC @daily").time_zone == "UTC"


@pytest.mark.parametrize(("schedule", "error"), [
    ("@every 30s", "more often than once a minute"),
    ("@every soon", "not a duration"),
    ("@reboot", "unknown macro"),
    ("0 0 * *", "five fields"),
    ("0 0 0 * * *", "five fields"),
    ("", "five fields"),
])
def test_untranslatable_schedules(schedule: str, error: str) -> None:
    with pytest.raises(ScheduleError, match=error):
        cronjobs.translate_schedule(schedule)


def test_go_durations() -> None:
    assert cronjobs.go_duration_seconds("1h2m3s") == 3723
    assert cronjobs.go_duration_seconds("500ms") == 0.5
    for bad in ("", "5", "5 m", "1d"):
        with pytest.raises(ScheduleError):
            cronjobs.go_duration_seconds(bad)


# -- lint -----------------------------------------------------------------------------------


def cronjob(name: str = "backup", **spec: Any) -> dict[str, Any]:
    job_spec = spec.pop("job", {})
    pod_spec = spec.pop("pod", {"restartPolicy": "Never"})
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "ns", "uid": "cj-uid",
                         "annotations": spec.pop("annotations", {})},
            "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Berlin",
                     "jobTemplate": {"spec": {**job_spec, "template": {"spec": pod_spec}}},
                     **spec}}


def test_lint_finds_nothing_in_a_careful_cronjob() -> None:
    assert cronjobs.lint(cronjob(), default_tz="UTC") == []


def test_lint_findings() -> None:
    risky = cronjob("x" * 53, successfulJobsHistoryLimit=0, failedJobsHistoryLimit=0,
                    startingDeadlineSeconds=5, timeZone=None,
                    pod={"restartPolicy": "OnFailure"})
    findings = cronjobs.lint(risky, default_tz="America/New_York")
    assert [f.split(" ")[0] for f in findings] == [
        "spec.successfulJobsHistoryLimit", "spec.failedJobsHistoryLimit",
        "spec.startingDeadlineSeconds", "spec.timeZone", "the", "restartPolicy"]
    assert "assumed to be America/New_York" in findings[3]
    assert "53 characters" in findings[4]
    assert cronjobs.lint(cronjob(startingDeadlineSeconds=10, pod={"restartPolicy": "OnFailure"},
                                 job={"activeDeadlineSeconds": 60}), default_tz="UTC") == []
    # A (deprecated) zone in the schedule counts as a zone.
    assert cronjobs.lint(cronjob(timeZone=None, schedule="CRON_TZ=UTC 0 3 * * *"),
                         default_tz="UTC") == []


def test_reliability_condition() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    bad = cronjobs.reliability_condition(["a", "b"], generation=2, now=now)
    assert (bad["type"], bad["status"], bad["reason"], bad["message"]) == (
        "MonitoringReliable", "False", "UnreliableSettings", "a; b")
    assert cronjobs.reliability_condition([], generation=2, now=now)["status"] == "True"


# -- the desired HeartbeatCheck -------------------------------------------------------------


def test_desired_spec_defaults() -> None:
    spec = cronjobs.desired_spec(cronjob(), Settings(monitored=True), default_tz="UTC")
    assert spec == {"schedule": "0 3 * * *", "timeZone": "Europe/Berlin", "grace": "1h",
                    "maxRuntime": "0s", "description": "CronJob ns/backup", "paused": False,
                    "manualResume": True, "expectFirstPing": True, "deletionPolicy": "Delete"}


def test_desired_spec_from_annotations_and_the_job() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}grace": "5m", f"{P}channels": "ops",
                      f"{P}tags": "a", f"{P}description": "d",
                      f"{P}deletion-policy": "Retain"})
    spec = cronjobs.desired_spec(cronjob(timeZone=None, suspend=True, schedule="@hourly",
                                         job={"activeDeadlineSeconds": 61}),
                                 settings, default_tz="Asia/Tokyo")
    assert spec == {"schedule": "0 * * * *", "timeZone": "Asia/Tokyo", "grace": "5m",
                    "maxRuntime": "2m", "channels": ["ops"], "tags": ["a"],
                    "description": "d", "paused": True, "manualResume": True,
                    "expectFirstPing": True, "deletionPolicy": "Retain"}


@pytest.mark.parametrize(("deadline", "runtime"), [
    (None, "0s"), (0, "0s"), (1, "1m"), (60, "1m"), (61, "2m"), (3600, "1h"),
    (10**9, "8760h"), (True, "0s")])
def test_max_runtime_from_active_deadline(deadline: Any, runtime: str) -> None:
    job = {} if deadline is None else {"activeDeadlineSeconds": deadline}
    assert cronjobs.max_runtime_from(job) == runtime


def test_an_annotation_wins_over_the_active_deadline() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}max-runtime": "0s"})
    spec = cronjobs.desired_spec(cronjob(job={"activeDeadlineSeconds": 600}), settings,
                                 default_tz="UTC")
    assert spec["maxRuntime"] == "0s"


def test_every_schedule_becomes_a_period_without_zone() -> None:
    spec = cronjobs.desired_spec(cronjob(schedule="@every 10m"), Settings(monitored=True),
                                 default_tz="UTC")
    assert spec["period"] == "10m" and "schedule" not in spec and "timeZone" not in spec


def test_metadata_owner_unless_retained() -> None:
    owned = cronjobs.desired_metadata(cronjob(), Settings(monitored=True))
    assert owned["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob",
                                         "name": "backup", "uid": "cj-uid", "controller": True,
                                         "blockOwnerDeletion": True}]
    assert owned["labels"] == {"app.kubernetes.io/managed-by": "heartbeat-operator",
                               "heartbeat.dev/source": "cronjob"}
    assert owned["annotations"] == {"heartbeat.dev/cronjob-uid": "cj-uid"}
    kept = cronjobs.desired_metadata(cronjob(), Settings(monitored=True, deletion_policy="Retain"))
    assert kept["ownerReferences"] == []


def test_check_patch() -> None:
    meta = cronjobs.desired_metadata(cronjob(), Settings(monitored=True))
    spec = cronjobs.desired_spec(cronjob(), Settings(monitored=True), default_tz="UTC")
    current = {"metadata": {**meta, "labels": {**meta["labels"], "extra": "kept"},
                            "annotations": {**meta["annotations"], "kopf": "x"}},
               "spec": dict(spec)}
    assert cronjobs.is_generated(current)
    assert cronjobs.check_patch(current, meta, spec) is None
    # A changed spec: every field is set, and the ones not wanted are removed.
    changed = {**spec, "grace": "2h", "channels": ["gone"]}
    patch = cronjobs.check_patch({**current, "spec": changed}, meta, spec)
    assert patch == {"spec": {**spec, "channels": None}}
    # Retain now: the owner goes.
    retained = cronjobs.desired_metadata(cronjob(), Settings(monitored=True,
                                                             deletion_policy="Retain"))
    assert cronjobs.check_patch(current, retained, spec) == {
        "metadata": {"ownerReferences": None}}
    # A CronJob of the same name, re-created: a new uid to own it.
    other = cronjob()
    other["metadata"]["uid"] = "new-uid"
    patch = cronjobs.check_patch(current, cronjobs.desired_metadata(other, Settings(
        monitored=True)), spec)
    assert patch is not None and set(patch["metadata"]) == {"annotations", "ownerReferences"}


def test_user_made_checks_are_not_generated() -> None:
    assert not cronjobs.is_generated({"metadata": {"labels": {"heartbeat.dev/source": "cronjob"}}})
    assert not cronjobs.is_generated({"metadata": {}})


def test_slim_keeps_what_is_read() -> None:
    body = cronjob(annotations={f"{P}monitor": "true", "kubectl.kubernetes.io/last-applied"
                                "-configuration": "{...}"})
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    slim = cronjobs.slim(body)
    assert slim["metadata"]["annotations"] == {f"{P}monitor": "true"}
    assert "managedFields" not in slim["metadata"]
    assert slim["spec"] == body["spec"]


# -- skipped runs ---------------------------------------------------------------------------


def event(reason: str, at: str, message: str = "msg") -> dict[str, Any]:
    return {"reason": reason, "message": message, "lastTimestamp": at,
            "involvedObject": {"kind": "CronJob", "name": "backup", "uid": "cj-uid"}}


def test_skip_signals() -> None:
    miss = cronjobs.skip_signal(event("MissSchedule", "2026-01-01T03:00:12Z"), "cj-uid", {})
    assert miss is not None
    assert miss.kind == "fail"
    assert miss.body.startswith("scheduled run missed its starting deadline")
    assert "MissSchedule at 2026-01-01T03:00:12Z" in miss.body
    assert miss.until == dt.datetime(2026, 1, 1, 3, 1, tzinfo=dt.UTC)
    active = cronjobs.skip_signal(event("JobAlreadyActive", "2026-01-01T03:00:12Z"), "cj", {})
    assert active is not None and active.kind == "log"
    assert cronjobs.skip_signal(event("SuccessfulCreate", "2026-01-01T03:00:12Z"), "cj",
                                {}) is None
    assert cronjobs.skip_signal({"reason": "MissSchedule"}, "cj", {}) is None  # no time


def test_skips_are_reported_once_per_reason_and_minute() -> None:
    first = cronjobs.skip_signal(event("MissSchedule", "2026-01-01T03:00:12Z"), "cj", {})
    assert first is not None
    reported = {"MissSchedule": "2026-01-01T03:01:00Z"}
    # The same slot again (the controller repeats itself): nothing.
    assert cronjobs.skip_signal(event("MissSchedule", "2026-01-01T03:00:40Z"), "cj",
                                reported) is None
    # Another reason in the same minute, or the next slot: reported, with its own rid.
    other = cronjobs.skip_signal(event("FailedCreate", "2026-01-01T03:00:40Z"), "cj", reported)
    later = cronjobs.skip_signal(event("MissSchedule", "2026-01-01T03:01:05Z"), "cj", reported)
    assert other is not None and later is not None
    assert len({first.rid, other.rid, later.rid}) == 3


def test_event_time_fields() -> None:
    assert cronjobs.event_time({"eventTime": "2026-01-01T00:00:01.123456Z"}) == dt.datetime(
        2026, 1, 1, 0, 0, 1, 123456, tzinfo=dt.UTC)
    assert cronjobs.event_time({"series": {"lastObservedTime": "2026-01-01T00:00:02Z"},
                                "firstTimestamp": "2025-01-01T00:00:00Z"}) == dt.datetime(
        2026, 1, 1, 0, 0, 2, tzinfo=dt.UTC)
    assert cronjobs.event_time({}) is None


def test_reported_skips_annotation() -> None:
    check = {"metadata": {"annotations": {constants.SKIPS_ANNOTATION: '{"A": "x"}'}}}
    assert cronjobs.reported_skips(check) == {"A": "x"}
    broken = {"metadata": {"annotations": {constants.SKIPS_ANNOTATION: "{"}}}
    assert cronjobs.reported_skips(broken) == {}


# -- state, flips mirrored on the CronJob, configuration ------------------------------------


def test_state_remembers_what_it_posted() -> None:
    state = cronjobs.State()
    assert state.first_time("uid/Reason", ["a"])
    assert not state.first_time("uid/Reason", ["a"])
    assert state.first_time("uid/Reason", ["a", "b"])
    state.forget_object("uid")
    assert state.first_time("uid/Reason", ["a", "b"])
    assert not state.namespace_changed("ns", None)  # first sighting
    assert not state.namespace_changed("ns", None)
    assert state.namespace_changed("ns", "true")
    assert state.locks("a") is state.locks("a")


def test_flips_of_generated_checks_become_cronjob_events() -> None:
    down = background.cronjob_flip_event({"old": "up", "new": "down", "reason": "timeout"},
                                         "backup")
    assert down == ("Warning", "HeartbeatDown",
                    "HeartbeatCheck backup is down (was up): no run reported in time")
    assert background.cronjob_flip_event({"old": "down", "new": "up"}, "b") == (
        "Normal", "HeartbeatUp", "HeartbeatCheck b is up again (was down)")
    assert background.cronjob_flip_event({"old": "up", "new": "grace"}, "b") is not None
    assert background.cronjob_flip_event({"old": "new", "new": "up"}, "b") is None
    assert background.cronjob_flip_event({"old": "up", "new": "paused"}, "b") is None


def test_object_ref_knows_its_cronjob() -> None:
    body = {"kind": "HeartbeatCheck", "metadata": {
        "name": "backup", "namespace": "ns", "uid": "hbc",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"heartbeat.dev/source": "cronjob",
                   "app.kubernetes.io/managed-by": "heartbeat-operator"},
        "annotations": {"heartbeat.dev/cronjob-uid": "cj-uid"}}}
    ref = background.ObjectRef.from_body(body)
    assert ref.created == "2026-01-01T00:00:00Z"
    assert ref.cronjob_reference() == {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {
        "name": "backup", "namespace": "ns", "uid": "cj-uid"}}
    plain = background.ObjectRef.from_body({"kind": "HeartbeatCheck", "metadata": {
        "name": "x", "annotations": {"heartbeat.dev/cronjob-uid": "forged"}}})
    assert plain.cronjob_reference() is None


def test_default_time_zone_setting() -> None:
    base = {"HB_PINGSERVER_URL": "http://hb:8000", "HB_API_KEY": "k",
            "HB_CLUSTER_SECRET": "0123456789abcdef"}
    assert load(base).cronjob_default_tz == "UTC"
    assert load({**base, "HB_CRONJOB_DEFAULT_TZ": "Europe/Berlin"}).cronjob_default_tz == (
        "Europe/Berlin")
    for bad in ("Mars/Olympus", "not a zone", "../etc"):
        with pytest.raises(ConfigError, match="HB_CRONJOB_DEFAULT_TZ"):
            load({**base, "HB_CRONJOB_DEFAULT_TZ": bad})


def test_depends_on_annotation_becomes_spec_depends_on() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}depends-on": "db-backup, bucket,db-backup"})
    assert settings.depends_on == ("db-backup", "bucket") and not settings.problems
    spec = cronjobs.desired_spec(cronjob(), settings, default_tz="UTC")
    assert spec["dependsOn"] == ["db-backup", "bucket"]
    assert "dependsOn" not in cronjobs.desired_spec(cronjob(), Settings(monitored=True),
                                                    default_tz="UTC")


def test_bad_depends_on_names_are_problems() -> None:
    settings = parse({f"{P}monitor": "true", f"{P}depends-on": "ok,Not_Ok"})
    assert settings.depends_on == ("ok",)
    assert settings.problems == (f"{P}depends-on: 'Not_Ok' is not a HeartbeatCheck name; "
                                 "left out",)

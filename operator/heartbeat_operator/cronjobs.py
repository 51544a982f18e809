"""Annotated CronJobs -> generated HeartbeatChecks.

One code path: for every monitored CronJob the operator writes a HeartbeatCheck (same name,
owned by the CronJob) and the HeartbeatCheck handlers register it with the ping server, as for
any other HeartbeatCheck. This module holds:

- pure functions: the annotations (`parse_annotations`), the schedule (`translate_schedule`),
  the settings that make monitoring unreliable (`lint`), the desired HeartbeatCheck
  (`desired_check`) and skipped-run Events (`skip_signal`);
- `reconcile_cronjob` and `report_skip`, which apply them (idempotent: run them as often as
  you like), and the small in-memory `State` they share with jobs.py.

A CronJob is monitored when it has `heartbeat.dev/monitor: "true"`, or when its Namespace has
`heartbeat.dev/monitor-cronjobs: "true"` and the CronJob does not say `monitor: "false"`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import threading
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from heartbeat_operator import constants, kube, reconcile, spec, status

logger = logging.getLogger(__name__)

P = constants.ANNOTATION_PREFIX
CHECKS = constants.CHECK_PLURAL
EventPoster = Callable[[Mapping[str, Any], str, str, str], None]
"""(object reference, type, reason, message) -> None."""

SOURCE_LABEL = "heartbeat.dev/source"
SOURCE_CRONJOB = "cronjob"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_CHANNELS = 32
MAX_TAGS = 32
TAG_MAX = 100
DESCRIPTION_MAX = 10_000
JOB_NAME_MAX = 52  # the CronJob controller appends 11 characters for a Job name of <= 63
MIN_STARTING_DEADLINE = 10  # the CronJob controller syncs every 10 s
DEFAULT_GRACE = "1h"

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
TZ_PREFIX_RE = re.compile(r"^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$")
GO_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

# CronJob controller Events that mean a scheduled run did not happen, and the signal each
# becomes: `fail` when no run comes for that slot; `log` when a run is still tracked anyway.
# JobAlreadyActive (concurrencyPolicy: Forbid): the run that blocks the slot has its own max
# runtime and the schedule's next deadline still applies, so a failure would turn the check
# down while that run may still end well. TooManyMissedTimes: the v2 controller still starts
# the most recent missed run.
SKIP_SIGNALS = {
    "MissSchedule": "fail",        # startingDeadlineSeconds passed before the Job was created
    "TooManyMissedTimes": "log",   # more than 100 missed start times
    "FailedNeedsStart": "fail",    # too many missed start times (v1 controller: no start)
    "FailedCreate": "fail",        # the Job could not be created (quota, admission)
    "JobAlreadyActive": "log",     # concurrencyPolicy: Forbid and the last run still runs
}
SKIP_CAUSES = {
    "MissSchedule": "missed its starting deadline (startingDeadlineSeconds)",
    "TooManyMissedTimes": "too many missed start times",
    "FailedNeedsStart": "too many missed start times",
    "FailedCreate": "the Job could not be created",
    "JobAlreadyActive": "skipped: concurrencyPolicy Forbid and the previous run is still active",
}
RUN_NAMESPACE = uuidlib.UUID("6b3c1a52-5f0e-4c7e-9f59-4d1f0e3a8c21")


# -- annotations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What a CronJob's annotations (and its Namespace) ask for."""

    monitored: bool = False
    grace: str = ""  # a normalized duration; "" = the default
    max_runtime: str = ""  # "" = from the Job's activeDeadlineSeconds, else 0s
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    deletion_policy: str = constants.DELETE
    observe_jobs: bool = True
    expect_ping: bool = False
    depends_on: tuple[str, ...] = ()  # HeartbeatChecks (or annotated CronJobs) of the namespace
    problems: tuple[str, ...] = ()  # invalid values, each naming its annotation


def _bool(value: str) -> bool | None:
    text = value.strip().lower()
    return True if text == "true" else False if text == "false" else None


def _duration(key: str, value: str, *, allow_zero: bool, problems: list[str]) -> str:
    try:
        seconds = spec.parse_duration(value, field_name=P + key)
    except spec.SpecError:
        problems.append(f"{P}{key}: {value!r} is not a duration such as 90s, 5m or 1h30m; "
                        "using the default")
        return ""
    if seconds == 0 and allow_zero:
        return "0s"
    if not spec.MIN_PERIOD <= seconds <= spec.MAX_PERIOD:
        bounds = "0s or 1m to 8760h" if allow_zero else "1m to 8760h"
        problems.append(f"{P}{key}: {value!r} is out of range ({bounds}); using the default")
        return ""
    return spec.format_duration(seconds)


def _names(key: str, value: str, problems: list[str], *, kind: str = "an AlertChannel",
           limit: int = MAX_CHANNELS) -> tuple[str, ...]:
    names: list[str] = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        if len(item) > 253 or not NAME_RE.match(item):
            problems.append(f"{P}{key}: {item!r} is not {kind} name; left out")
        elif item not in names:
            names.append(item)
    if len(names) > limit:
        problems.append(f"{P}{key}: more than {limit} names; the rest left out")
    return tuple(names[:limit])


def _tags(key: str, value: str, problems: list[str]) -> tuple[str, ...]:
    tags: list[str] = []
    for item in re.split(r"[,\s]+", value):
        if not item:
            continue
        if len(item) > TAG_MAX:
            problems.append(f"{P}{key}: a tag longer than {TAG_MAX} characters; left out")
        elif item not in tags:
            tags.append(item)
    kept: list[str] = []
    for tag in tags[:MAX_TAGS]:
        if len(" ".join([*kept, tag])) > spec.TAGS_MAX:
            problems.append(f"{P}{key}: more than {spec.TAGS_MAX} characters in total; "
                            "the rest left out")
            break
        kept.append(tag)
    if len(tags) > MAX_TAGS:
        problems.append(f"{P}{key}: more than {MAX_TAGS} tags; the rest left out")
    return tuple(kept)


def parse_annotations(annotations: Mapping[str, str] | None,
                      namespace_opt_in: str | None = None) -> Settings:
    """A CronJob's heartbeat.dev/ annotations (and its Namespace's opt-in value) -> Settings.
    Never raises: an invalid value is a problem (reported as a Warning Event) and its
    setting falls back to the default, so that monitoring goes on."""
    ours = {k[len(P):]: str(v) for k, v in (annotations or {}).items() if k.startswith(P)}
    problems: list[str] = []
    monitored: bool | None = None
    if "monitor" in ours:
        monitored = _bool(ours["monitor"])
        if monitored is None:
            problems.append(f"{P}monitor: {ours['monitor']!r} is not \"true\" or \"false\"")
    if monitored is None:
        by_namespace = _bool(namespace_opt_in) if namespace_opt_in is not None else None
        if namespace_opt_in is not None and by_namespace is None:
            problems.append(f"Namespace annotation {constants.NAMESPACE_OPT_IN}: "
                            f"{namespace_opt_in!r} is not \"true\" or \"false\"")
        monitored = bool(by_namespace)
    if not monitored:
        if ours.get("monitor", "").strip().lower() == "false":
            return Settings(monitored=False)  # opted out: the rest does not matter
        others = sorted(k for k in ours if k != "monitor")
        if others:
            problems.append("not monitored, so these annotations have no effect: "
                            + ", ".join(P + k for k in others) + f" (set {P}monitor: "
                            "\"true\", or opt the Namespace in)")
        return Settings(monitored=False, problems=tuple(problems))

    unknown = sorted(k for k in ours if k not in constants.CRONJOB_ANNOTATIONS)
    for key in unknown:
        problems.append(f"{P}{key}: unknown annotation (known: "
                        + ", ".join(constants.CRONJOB_ANNOTATIONS) + ")")
    grace = _duration("grace", ours["grace"], allow_zero=False,
                      problems=problems) if "grace" in ours else ""
    max_runtime = _duration("max-runtime", ours["max-runtime"], allow_zero=True,
                            problems=problems) if "max-runtime" in ours else ""
    channels = _names("channels", ours.get("channels", ""), problems)
    depends_on = _names("depends-on", ours.get("depends-on", ""), problems,
                        kind="a HeartbeatCheck", limit=spec.DEPENDENCIES_MAX)
    tags = _tags("tags", ours.get("tags", ""), problems)
    description = ours.get("description", "").strip()
    if len(description) > DESCRIPTION_MAX:
        problems.append(f"{P}description: longer than {DESCRIPTION_MAX} characters; cut")
        description = description[:DESCRIPTION_MAX]
    policy = constants.DELETE
    if "deletion-policy" in ours:
        wanted = ours["deletion-policy"].strip().lower()
        if wanted in ("delete", "retain"):
            policy = constants.RETAIN if wanted == "retain" else constants.DELETE
        else:
            problems.append(f"{P}deletion-policy: {ours['deletion-policy']!r} is not Delete or "
                            "Retain; using Delete")
    flags: dict[str, bool] = {"observe-jobs": True, "expect-ping": False}
    for key, default in list(flags.items()):
        if key in ours:
            value = _bool(ours[key])
            if value is None:
                problems.append(f"{P}{key}: {ours[key]!r} is not \"true\" or \"false\"; "
                                f"using {str(default).lower()}")
            else:
                flags[key] = value
    expect_ping = flags["expect-ping"]
    if expect_ping and not flags["observe-jobs"]:
        problems.append(f"{P}expect-ping needs {P}observe-jobs (the operator compares the "
                        "container's ping with what it saw of the Job); expect-ping is off")
        expect_ping = False
    return Settings(monitored=True, grace=grace, max_runtime=max_runtime, channels=channels,
                    tags=tags, description=description, deletion_policy=policy,
                    observe_jobs=flags["observe-jobs"], expect_ping=expect_ping,
                    depends_on=depends_on, problems=tuple(problems))


# -- schedule -----------------------------------------------------------------------------


class ScheduleError(ValueError):
    """A CronJob schedule this operator cannot express as a HeartbeatCheck schedule."""


@dataclass(frozen=True)
class Schedule:
    cron: str = ""  # five fields
    period: str = ""  # `@every <duration>`, as a Kubernetes duration
    time_zone: str = ""  # from a CRON_TZ=/TZ= prefix (deprecated in CronJobs), if any


def go_duration_seconds(text: str) -> float:
    """Go's time.ParseDuration, for `@every 1h30m` (the CronJob controller's cron library
    accepts it): '90s' -> 90.0, '1.5h' -> 5400.0."""
    text = text.strip()
    if not text or GO_DURATION_RE.sub("", text) != "":
        raise ScheduleError(f"@every {text!r}: not a duration such as 90s, 5m or 1h30m")
    return sum(float(num) * GO_UNITS[unit] for num, unit in GO_DURATION_RE.findall(text))


def translate_schedule(text: str) -> Schedule:
    """A CronJob's spec.schedule -> the HeartbeatCheck schedule: macros (@daily, ...) become
    five fields, `?` becomes `*`, `@every D` becomes a period, and a CRON_TZ=/TZ= prefix
    becomes the time zone."""
    text = text.strip()
    zone = ""
    match = TZ_PREFIX_RE.match(text)
    if match:
        zone, text = match.group(1), match.group(2).strip()
    lowered = text.lower()
    if lowered in MACROS:
        return Schedule(cron=MACROS[lowered], time_zone=zone)
    if lowered.startswith("@every"):
        seconds = go_duration_seconds(text[len("@every"):])
        if seconds < spec.MIN_PERIOD:
            raise ScheduleError(f"{text!r}: runs more often than once a minute, the shortest "
                                "period a check can have")
        whole = min(math.ceil(seconds), spec.MAX_PERIOD)
        return Schedule(period=spec.format_duration(whole))
    if text.startswith("@"):
        raise ScheduleError(f"{text!r}: unknown macro")
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"{text!r}: a cron schedule has five fields")
    return Schedule(cron=" ".join(f.replace("?", "*") for f in fields), time_zone=zone)


# -- lint ---------------------------------------------------------------------------------


def lint(cronjob: Mapping[str, Any], *, default_tz: str) -> list[str]:
    """CronJob settings that make monitoring unreliable, one sentence each."""
    meta = cronjob.get("metadata") or {}
    cj_spec = cronjob.get("spec") or {}
    job_spec = (cj_spec.get("jobTemplate") or {}).get("spec") or {}
    pod_spec = (job_spec.get("template") or {}).get("spec") or {}
    findings: list[str] = []
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if cj_spec.get(key) == 0:
            findings.append(f"spec.{key} is 0: finished Jobs are deleted at once, so a run "
                            "that ends while the operator is down is never reported")
    deadline = cj_spec.get("startingDeadlineSeconds")
    if isinstance(deadline, int) and deadline < MIN_STARTING_DEADLINE:
        findings.append(f"spec.startingDeadlineSeconds is {deadline} (below "
                        f"{MIN_STARTING_DEADLINE}): the CronJob controller checks every 10 s, "
                        "so runs may be skipped")
    if not cj_spec.get("timeZone") and not TZ_PREFIX_RE.match(str(cj_spec.get("schedule"))):
        findings.append("spec.timeZone is not set: the schedule follows the controller's "
                        f"local time zone, assumed to be {default_tz} (HB_CRONJOB_DEFAULT_TZ)")
    name = str(meta.get("name") or "")
    if len(name) > JOB_NAME_MAX:
        findings.append(f"the name has {len(name)} characters (more than {JOB_NAME_MAX}): "
                        "the CronJob controller cannot create Jobs for it")
    if pod_spec.get("restartPolicy") == "OnFailure" and not job_spec.get(
            "activeDeadlineSeconds"):
        findings.append("restartPolicy OnFailure without activeDeadlineSeconds: a crashing "
                        "container may be restarted for a long time before the Job fails")
    return findings


def reliability_condition(findings: Sequence[str], *, generation: int | None,
                          now: dt.datetime) -> status.Condition:
    if findings:
        return status.condition(constants.MONITORING_RELIABLE, False, "UnreliableSettings",
                                "; ".join(findings), generation=generation, now=now)
    return status.condition(constants.MONITORING_RELIABLE, True, "SettingsOK",
                            "nothing in the CronJob's settings gets in the way of monitoring",
                            generation=generation, now=now)


# -- the desired HeartbeatCheck -----------------------------------------------------------


def slim(cronjob: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of the parts of a CronJob body this operator reads (for indexes): its
    metadata without managedFields and kubectl's last-applied copy, and its spec."""
    meta = cronjob.get("metadata") or {}
    keep = ("name", "namespace", "uid", "generation", "creationTimestamp", "deletionTimestamp")
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items()
                   if k.startswith(P)}
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {**{k: meta[k] for k in keep if k in meta}, "annotations": annotations},
            "spec": plain(cronjob.get("spec") or {})}


def plain(value: Any) -> Any:
    """A deep plain copy (Kopf bodies are live views)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def cronjob_ref(cronjob: Mapping[str, Any]) -> dict[str, Any]:
    meta = cronjob.get("metadata") or {}
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "uid": meta.get("uid")}}


def max_runtime_from(job_spec: Mapping[str, Any]) -> str:
    """The Job's activeDeadlineSeconds as a maxRuntime: whole minutes, at least 1m."""
    deadline = job_spec.get("activeDeadlineSeconds")
    if not isinstance(deadline, int) or isinstance(deadline, bool) or deadline <= 0:
        return "0s"
    minutes = math.ceil(deadline / 60)
    return spec.format_duration(min(minutes * 60, spec.MAX_PERIOD))


def desired_spec(cronjob: Mapping[str, Any], settings: Settings, *,
                 default_tz: str) -> dict[str, Any]:
    """The HeartbeatCheck spec for a monitored CronJob (raises ScheduleError). Every field
    this operator manages is set explicitly, defaults included, so that comparing with the
    stored object is exact."""
    meta = cronjob.get("metadata") or {}
    cj_spec = cronjob.get("spec") or {}
    job_spec = (cj_spec.get("jobTemplate") or {}).get("spec") or {}
    schedule = translate_schedule(str(cj_spec.get("schedule") or ""))
    out: dict[str, Any] = {}
    if schedule.period:
        out["period"] = schedule.period
    else:
        out["schedule"] = schedule.cron
        out["timeZone"] = str(cj_spec.get("timeZone") or schedule.time_zone or default_tz)
    out["grace"] = settings.grace or DEFAULT_GRACE
    out["maxRuntime"] = settings.max_runtime or max_runtime_from(job_spec)
    if settings.channels:
        out["channels"] = list(settings.channels)
    if settings.tags:
        out["tags"] = list(settings.tags)
    if settings.depends_on:
        out["dependsOn"] = list(settings.depends_on)
    out["description"] = settings.description or (
        f"CronJob {meta.get('namespace')}/{meta.get('name')}")
    # Suspended: paused, and (manualResume) a Job still running meanwhile does not resume it.
    out["paused"] = bool(cj_spec.get("suspend", False))
    out["manualResume"] = True
    # A CronJob that never runs after it was annotated (or resumed) must be noticed too.
    out["expectFirstPing"] = True
    out["deletionPolicy"] = settings.deletion_policy
    return out


def owner_reference(cronjob: Mapping[str, Any]) -> dict[str, Any]:
    meta = cronjob.get("metadata") or {}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "name": meta.get("name"),
            "uid": meta.get("uid"), "controller": True, "blockOwnerDeletion": True}


def desired_metadata(cronjob: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    meta = cronjob.get("metadata") or {}
    owners = [] if settings.deletion_policy == constants.RETAIN else [owner_reference(cronjob)]
    return {
        "labels": {constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
                   SOURCE_LABEL: SOURCE_CRONJOB},
        "annotations": {constants.CRONJOB_UID_ANNOTATION: str(meta.get("uid") or "")},
        "ownerReferences": owners,
    }


def is_generated(check: Mapping[str, Any]) -> bool:
    """A HeartbeatCheck this operator wrote for a CronJob (of the same name)."""
    labels = (check.get("metadata") or {}).get("labels") or {}
    return (labels.get(SOURCE_LABEL) == SOURCE_CRONJOB
            and labels.get(constants.LABEL_MANAGED_BY) == constants.MANAGED_BY)


def _owner_key(ref: Mapping[str, Any]) -> tuple[Any, ...]:
    return (ref.get("kind"), ref.get("name"), ref.get("uid"), bool(ref.get("controller")))


def check_patch(current: Mapping[str, Any], want_meta: Mapping[str, Any],
                want_spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that turns `current` into the desired object; None when it already
    is. Fields of the spec this operator does not set are removed (it owns the spec)."""
    meta = current.get("metadata") or {}
    patch: dict[str, Any] = {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    meta_patch: dict[str, Any] = {}
    if any(labels.get(k) != v for k, v in want_meta["labels"].items()):
        meta_patch["labels"] = dict(want_meta["labels"])
    if any(annotations.get(k) != v for k, v in want_meta["annotations"].items()):
        meta_patch["annotations"] = dict(want_meta["annotations"])
    have_owners = sorted(_owner_key(o) for o in meta.get("ownerReferences") or [])
    want_owners = sorted(_owner_key(o) for o in want_meta["ownerReferences"])
    if have_owners != want_owners:
        meta_patch["ownerReferences"] = list(want_meta["ownerReferences"]) or None
    if meta_patch:
        patch["metadata"] = meta_patch
    have_spec = current.get("spec") or {}
    if dict(have_spec) != dict(want_spec):
        spec_patch: dict[str, Any] = {k: None for k in have_spec if k not in want_spec}
        spec_patch.update(want_spec)
        patch["spec"] = spec_patch
    return patch or None


def run_id(key: str) -> str:
    """A run id derived from a stable key (a Job's UID; a CronJob's UID and a slot)."""
    return str(uuidlib.uuid5(RUN_NAMESPACE, key))


# -- in-memory state shared by the handlers and the background loop ----------------------


class Locks:
    """A fixed set of locks picked by key: one object is never reconciled twice at once
    (a Kopf handler and the background loop may both get to it)."""

    def __init__(self, stripes: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def __call__(self, key: str) -> threading.Lock:
        digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
        return self._locks[int.from_bytes(digest, "big") % len(self._locks)]


@dataclass
class State:
    """What this replica remembers between calls: which warnings it already posted (a restart
    posts them once more), the Namespace opt-in values it saw, and the locks."""

    locks: Locks = field(default_factory=Locks)
    _warned: dict[str, str] = field(default_factory=dict)
    _namespaces: dict[str, str | None] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def first_time(self, key: str, content: Sequence[str]) -> bool:
        """True when `content` differs from what was last recorded under `key`."""
        digest = hashlib.sha256("\n".join(content).encode()).hexdigest()
        with self._guard:
            if self._warned.get(key) == digest:
                return False
            self._warned[key] = digest
            return True

    def forget(self, key: str) -> None:
        with self._guard:
            self._warned.pop(key, None)

    def forget_object(self, uid: str) -> None:
        """Drop everything recorded for an object that is gone."""
        with self._guard:
            for key in [k for k in self._warned if k.startswith(f"{uid}/")]:
                del self._warned[key]

    def namespace_changed(self, name: str, value: str | None) -> bool:
        """Record a Namespace's opt-in value; True when it changed since the last call (the
        first sighting is no change: CronJobs are reconciled on their own at start-up)."""
        with self._guard:
            seen = name in self._namespaces
            before = self._namespaces.get(name)
            self._namespaces[name] = value
            return seen and before != value


# -- reconcile ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    action: str  # created, updated, unchanged, deleted, retained, unmonitored, conflict, ...
    settings: Settings


def _post_once(state: State, cronjob: Mapping[str, Any], reason: str,
               messages: Sequence[str], post_event: EventPoster, type_: str = "Warning") -> None:
    """Post these Events on the CronJob unless exactly these were posted last time."""
    uid = str((cronjob.get("metadata") or {}).get("uid") or "")
    if not state.first_time(f"{uid}/{reason}", messages):
        return
    for message in messages:
        post_event(cronjob_ref(cronjob), type_, reason, message)


def reconcile_cronjob(state: State, cronjob: Mapping[str, Any], *, default_tz: str,
                      namespace_opt_in: str | None, post_event: EventPoster,
                      check_known: bool | None = None) -> Outcome:
    """Bring the CronJob's generated HeartbeatCheck in line with the CronJob: create, update,
    delete or detach it. Raises ApiException for Kubernetes API trouble (the caller retries).
    `check_known=False` says a HeartbeatCheck of that name is not known (from an index): an
    unmonitored CronJob then costs no API call.
    """
    meta = cronjob.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    uid = str(meta.get("uid") or "")
    settings = parse_annotations(meta.get("annotations"), namespace_opt_in)
    if meta.get("deletionTimestamp"):
        return Outcome("deleting", settings)  # the garbage collector takes the check along
    with state.locks(uid):
        _post_once(state, cronjob, constants.EVENT_INVALID_ANNOTATION, settings.problems,
                   post_event)
        if not settings.monitored and check_known is False:
            return Outcome("unmonitored", settings)
        current = kube.get_object(CHECKS, namespace, name)
        if current is not None and not is_generated(current):
            if settings.monitored:
                _post_once(state, cronjob, constants.EVENT_NAME_CONFLICT, [
                    f"a HeartbeatCheck named {name} exists and was not generated for this "
                    "CronJob: left alone, the CronJob is not monitored"], post_event)
            return Outcome("conflict", settings)
        if not settings.monitored:
            return Outcome(_unmonitor(state, cronjob, current, post_event), settings)
        state.forget(f"{uid}/{constants.EVENT_NAME_CONFLICT}")
        return Outcome(_apply(default_tz, state, cronjob, settings, current, post_event),
                       settings)


def _unmonitor(state: State, cronjob: Mapping[str, Any], current: Mapping[str, Any] | None,
               post_event: EventPoster) -> str:
    if current is None:
        return "unmonitored"
    meta = current.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "deleting"
    cj_uid = str((cronjob.get("metadata") or {}).get("uid") or "")
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    owned = any(o.get("uid") == cj_uid for o in meta.get("ownerReferences") or [])
    policy = str((current.get("spec") or {}).get("deletionPolicy") or constants.DELETE)
    if policy == constants.RETAIN:
        if owned:  # detach: it outlives the CronJob (normally Retain has no owner at all)
            kube.patch_object(CHECKS, namespace, name, {"metadata": {"ownerReferences": None}})
        _post_once(state, cronjob, constants.EVENT_CHECK_RETAINED, [
            f"no longer monitored; HeartbeatCheck {name} is kept (deletion-policy Retain): "
            "delete it to stop its alerts"], post_event, type_="Normal")
        return "retained"
    annotations = meta.get("annotations") or {}
    if annotations.get(constants.CRONJOB_UID_ANNOTATION) not in ("", None, cj_uid) and not owned:
        return "unmonitored"  # kept from an earlier CronJob of this name: not ours to delete
    if kube.delete_object(CHECKS, namespace, name, uid=str(meta.get("uid") or "")):
        post_event(cronjob_ref(cronjob), "Normal", constants.EVENT_CHECK_DELETED,
                   f"no longer monitored; HeartbeatCheck {name} deleted")
        logger.info("CronJob %s/%s: no longer monitored, HeartbeatCheck deleted", namespace,
                    name)
    return "deleted"


def _apply(default_tz: str, state: State, cronjob: Mapping[str, Any], settings: Settings,
           current: Mapping[str, Any] | None, post_event: EventPoster) -> str:
    meta = cronjob.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    try:
        want_spec = desired_spec(cronjob, settings, default_tz=default_tz)
    except ScheduleError as exc:
        _post_once(state, cronjob, constants.EVENT_INVALID_SCHEDULE,
                   [f"spec.schedule {exc}: the HeartbeatCheck is not created or updated"],
                   post_event)
        return "invalid-schedule"
    findings = lint(cronjob, default_tz=default_tz)
    if findings:
        _post_once(state, cronjob, constants.EVENT_UNRELIABLE,
                   [f"monitoring is unreliable: {f}" for f in findings], post_event)
    else:
        state.forget(f"{meta.get('uid')}/{constants.EVENT_UNRELIABLE}")
    want_meta = desired_metadata(cronjob, settings)
    if current is None:
        body: dict[str, Any] = {
            "apiVersion": constants.API_VERSION, "kind": constants.CHECK_KIND,
            "metadata": {"name": name, "namespace": namespace, **want_meta},
            "spec": want_spec}
        if not want_meta["ownerReferences"]:
            del body["metadata"]["ownerReferences"]
        try:
            kube.create_object(CHECKS, namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # created meanwhile: the next reconcile compares
                return "unchanged"
            raise
        post_event(cronjob_ref(cronjob), "Normal", constants.EVENT_CHECK_CREATED,
                   f"monitored by HeartbeatCheck {name}")
        logger.info("CronJob %s/%s: HeartbeatCheck created", namespace, name)
        return "created"
    if (current.get("metadata") or {}).get("deletionTimestamp"):
        return "deleting"  # re-created by a later reconcile once it is gone
    patch = check_patch(current, want_meta, want_spec)
    action = "unchanged"
    if patch is not None:
        kube.patch_object(CHECKS, namespace, name, patch)
        logger.info("CronJob %s/%s: HeartbeatCheck updated (%s)", namespace, name,
                    ", ".join(sorted(patch)))
        action = "updated"
    elif _settled(current):
        _ensure_conditions(current, findings, expect_ping=settings.expect_ping)
    return action


def _settled(check: Mapping[str, Any]) -> bool:
    """Registered by its handler for the current generation: conditions written now are not
    overwritten by that handler's own status write."""
    meta = check.get("metadata") or {}
    st = check.get("status") or {}
    return bool(st.get("checkID")) and st.get("observedGeneration") == meta.get("generation")


def _ensure_conditions(check: Mapping[str, Any], findings: Sequence[str], *,
                       expect_ping: bool) -> None:
    meta = check.get("metadata") or {}
    generation = meta.get("generation")

    def update(conditions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        wanted = reliability_condition(findings, generation=generation, now=status.now_utc())
        merged = status.merge_condition(conditions, wanted)
        if not expect_ping:
            merged = [c for c in merged if c.get("type") != constants.SIGNALS_AGREE]
        return merged if _conditions_differ(conditions, merged) else None

    if update(list((check.get("status") or {}).get("conditions") or [])) is None:
        return  # as it should be (judged from the object just read): no second read
    kube.update_conditions(CHECKS, str(meta.get("namespace")), str(meta.get("name")),
                           str(meta.get("uid") or ""), update)


def _conditions_differ(before: Sequence[Mapping[str, Any]],
                       after: Sequence[Mapping[str, Any]]) -> bool:
    def key(conds: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((str(c.get("type")), str(c.get("status")), str(c.get("reason")),
                       str(c.get("message")), str(c.get("observedGeneration")))
                      for c in conds)

    return key(before) != key(after)


# -- skipped runs -------------------------------------------------------------------------


def event_time(event: Mapping[str, Any]) -> dt.datetime | None:
    """When a core/v1 Event last happened (legacy and events.k8s.io style fields)."""
    series = event.get("series") or {}
    for value in (event.get("lastTimestamp"), series.get("lastObservedTime"),
                  event.get("eventTime"), event.get("firstTimestamp"),
                  (event.get("metadata") or {}).get("creationTimestamp")):
        parsed = status.parse_time(value) if isinstance(value, str) else None
        if parsed is not None:
            return parsed
    return None


@dataclass(frozen=True)
class SkipSignal:
    kind: str  # fail or log
    rid: str
    body: str
    event_message: str
    until: dt.datetime  # the reported-until mark: the end of the event's minute


def skip_signal(event: Mapping[str, Any], cronjob_uid: str,
                reported: Mapping[str, str]) -> SkipSignal | None:
    """The signal for a CronJob controller Event that means a run was skipped, or None when
    it is no such Event or was reported already. Cron has minute granularity: repeats of one
    reason within the same minute are the same slot."""
    reason = str(event.get("reason") or "")
    kind = SKIP_SIGNALS.get(reason)
    when = event_time(event)
    if kind is None or when is None:
        return None
    seen = status.parse_time(reported.get(reason))
    if seen is not None and when < seen:
        return None
    minute = when.replace(second=0, microsecond=0)
    message = str(event.get("message") or "")
    cause = SKIP_CAUSES[reason]
    body = (f"scheduled run {cause} ({reason} at {status.rfc3339(when)})"
            + (f": {message}" if message else ""))
    return SkipSignal(kind=kind, rid=run_id(f"{cronjob_uid}/{reason}/{minute.isoformat()}"),
                      body=body, event_message=f"run {cause}" + (f": {message}" if message
                                                                  else ""),
                      until=minute + dt.timedelta(minutes=1))


def reported_skips(check: Mapping[str, Any]) -> dict[str, str]:
    raw = ((check.get("metadata") or {}).get("annotations") or {}).get(
        constants.SKIPS_ANNOTATION) or "{}"
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def report_skip(ctx: reconcile.Context, state: State, event: Mapping[str, Any],
                cronjob: Mapping[str, Any], *, namespace_opt_in: str | None,
                post_event: EventPoster) -> str:
    """Report a skipped run (a CronJob controller Event) once: a signal to the check with the
    cause, and a Warning Event on the CronJob. Raises PingServerUnavailable/Rejected and
    ApiException (the caller retries)."""
    meta = cronjob.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    uid = str(meta.get("uid") or "")
    settings = parse_annotations(meta.get("annotations"), namespace_opt_in)
    if not settings.monitored or not settings.observe_jobs:
        return "not monitored"
    with state.locks(uid):
        check = kube.get_object(CHECKS, namespace, name)
        if check is None or not is_generated(check) or not (check.get("status") or {}).get(
                "checkID"):
            return "no check yet"
        reported = reported_skips(check)
        signal = skip_signal(event, uid, reported)
        created = status.parse_time((check.get("metadata") or {}).get("creationTimestamp"))
        if signal is None:
            return "nothing to report"
        when = event_time(event)
        if created is not None and when is not None and when < created:
            return "before monitoring"
        sent = ctx.client.ping(ctx.check_id(namespace, name), signal.kind, rid=signal.rid,
                               body=signal.body)
        if not sent:
            return "check not registered yet"
        reported = {**reported, str(event.get("reason")): status.rfc3339(signal.until)}
        kube.patch_object(CHECKS, namespace, name, {"metadata": {"annotations": {
            constants.SKIPS_ANNOTATION: json.dumps(reported, sort_keys=True)}}})
        post_event(cronjob_ref(cronjob), "Warning", constants.EVENT_RUN_SKIPPED,
                   signal.event_message)
        logger.info("CronJob %s/%s: %s reported (%s)", namespace, name, event.get("reason"),
                    signal.kind)
        return "reported"

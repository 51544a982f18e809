"""The Jobs of monitored CronJobs: a second signal source.

A Job of a monitored CronJob becomes signals to the CronJob's generated HeartbeatCheck:

- created -> `start` (body: the Job and its scheduled time);
- Complete -> `success` (the ping server times the run: both carry the same run id);
- Failed -> `fail` with the reason (BackoffLimitExceeded, DeadlineExceeded, ...), the
  controller's message, the failed container's exit code and a bounded tail of its log;
- deleted before it finished (concurrencyPolicy Replace, or by hand) -> `fail`.

The run id is UUID5 of the Job's UID, so every signal of one run carries the same `rid`.
Each signal is sent once: the Job's annotation `heartbeat.dev/reported` (the per-run ledger,
e.g. `start,success`) is written after the ping server accepted it. A restarted operator
reads the ledger back from every Job it lists and sends only what is missing; a Job is only
reported when it was created after its HeartbeatCheck.

With `heartbeat.dev/expect-ping: "true"` the container must ping too: the operator's end
signal is `success` only when the Job completed AND the container's last end ping with
`rid=<the Job's UID>` was a success. Otherwise it is `fail`, with the disagreement as a Warning
Event on the CronJob and the SignalsAgree condition on the HeartbeatCheck.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heartbeat_operator import constants, cronjobs, kube, reconcile, spec, status
from heartbeat_operator.cronjobs import EventPoster

logger = logging.getLogger(__name__)

CHECKS = constants.CHECK_PLURAL
START, SUCCESS, FAIL = "start", "success", "fail"
LOG_TAIL_BYTES = 2048
MESSAGE_MAX = 1000
RUNNING, COMPLETE, FAILED, DELETED = "running", "complete", "failed", "deleted"


# -- pure: a Job's state and its ledger ---------------------------------------------------


def run_id(job_uid: str) -> str:
    """The `rid` of every signal of a Job's run: UUID5 of the Job's UID."""
    return cronjobs.run_id(job_uid)


def owner_cronjob(job: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, uid) of the CronJob that controls this Job, if one does."""
    for ref in (job.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "CronJob" and ref.get("controller") and str(
                ref.get("apiVersion", "")).startswith("batch/"):
            return str(ref.get("name")), str(ref.get("uid"))
    return None


def parse_ledger(text: str | None) -> tuple[str, ...]:
    return tuple(s for s in (p.strip() for p in (text or "").split(",")) if s in
                 (START, SUCCESS, FAIL))


def format_ledger(entries: Sequence[str]) -> str:
    return ",".join(dict.fromkeys(entries))


@dataclass(frozen=True)
class JobState:
    namespace: str
    name: str
    uid: str
    phase: str  # running, complete, failed, deleted (deleted before it finished)
    reason: str = ""
    message: str = ""
    scheduled: str = ""  # batch.kubernetes.io/cronjob-scheduled-timestamp, "" for manual runs
    created: dt.datetime | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    ledger: tuple[str, ...] = ()

    @property
    def rid(self) -> str:
        return run_id(self.uid)

    @property
    def ended(self) -> bool:
        return SUCCESS in self.ledger or FAIL in self.ledger

    @property
    def duration(self) -> float | None:
        if self.started and self.finished:
            return max((self.finished - self.started).total_seconds(), 0.0)
        return None


def _condition(job_status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in job_status.get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return dict(cond)
    return None


def job_state(job: Mapping[str, Any], *, deleted: bool = False) -> JobState:
    """What a Job's body says about its run. Only the final conditions count (Complete,
    Failed), not the interim SuccessCriteriaMet/FailureTarget."""
    meta = job.get("metadata") or {}
    job_status = job.get("status") or {}
    annotations = meta.get("annotations") or {}
    complete = _condition(job_status, "Complete")
    failed = _condition(job_status, "Failed")
    phase, reason, message, finished = RUNNING, "", "", None
    if complete:
        phase = COMPLETE
        finished = status.parse_time(job_status.get("completionTime")
                                     or complete.get("lastTransitionTime"))
    elif failed:
        phase = FAILED
        reason = str(failed.get("reason") or "Failed")
        message = str(failed.get("message") or "")
        finished = status.parse_time(failed.get("lastTransitionTime"))
    elif deleted:
        phase = DELETED
    return JobState(
        namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""), phase=phase, reason=reason, message=message,
        scheduled=str(annotations.get(constants.SCHEDULED_TIMESTAMP) or ""),
        created=status.parse_time(meta.get("creationTimestamp")),
        started=status.parse_time(job_status.get("startTime")), finished=finished,
        ledger=parse_ledger(annotations.get(constants.LEDGER_ANNOTATION)))


def pending_signals(job: JobState) -> list[str]:
    """What is still to be sent for this run, in order: `start`, then `end` (success or
    fail, decided by `end_verdict`). A Job deleted before it finished ends only when its
    start was reported (a run never seen running has nothing to end)."""
    out: list[str] = []
    if job.ended:
        return out
    if START not in job.ledger and job.phase != DELETED:
        out.append(START)
    if job.phase in (COMPLETE, FAILED) or (job.phase == DELETED and START in job.ledger):
        out.append("end")
    return out


def reportable(job: JobState, check_created: dt.datetime | None) -> bool:
    """Only runs that began while the check existed are reported (not the history a CronJob
    had before it was monitored)."""
    if check_created is None or job.created is None:
        return False
    return job.created >= check_created


def slim(job: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Job body this module reads (for the background loop's index)."""
    meta = job.get("metadata") or {}
    keep = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp")
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items()
                   if k in (constants.LEDGER_ANNOTATION, constants.SCHEDULED_TIMESTAMP)}
    job_status = job.get("status") or {}
    return {"metadata": {**{k: meta[k] for k in keep if k in meta},
                         "annotations": annotations,
                         "ownerReferences": cronjobs.plain(meta.get("ownerReferences") or [])},
            "status": {"conditions": cronjobs.plain(job_status.get("conditions") or []),
                       **{k: job_status[k] for k in ("startTime", "completionTime")
                          if k in job_status}}}


# -- pure: signal bodies and the end verdict ----------------------------------------------


def _scheduled_text(job: JobState) -> str:
    return (f"scheduled for {job.scheduled}" if job.scheduled
            else "a manual run (no scheduled time)")


def start_body(job: JobState) -> str:
    return f"Job {job.name} created, {_scheduled_text(job)}\n"


def _cut(text: str, limit: int = MESSAGE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Verdict:
    kind: str  # success or fail
    body: str
    events: tuple[tuple[str, str], ...] = ()  # Warning Events on the CronJob: (reason, text)
    agree: bool | None = None  # expect-ping: did the container's ping agree? None: not checked
    agree_reason: str = ""
    agree_message: str = ""


def container_end(pings: Sequence[Mapping[str, Any]], job_uid: str) -> str | None:
    """The container's last end signal for this run ("success" or "fail"; "start" when it
    only started), from the check's ping log (newest first), matched by rid == the Job's
    UID; None when it never pinged."""
    wanted = job_uid.lower()
    mine = [p for p in pings if str(p.get("rid") or "").lower() == wanted]
    for ping in mine:
        kind = str(ping.get("type") or "")
        if kind in (SUCCESS, FAIL):
            return kind
    return START if any(str(p.get("type")) == START for p in mine) else None


def end_verdict(job: JobState, *, expect_ping: bool, container: str | None,
                failure_detail: str = "") -> Verdict:
    """The end signal of a finished (or deleted) run. `container` is `container_end(...)`,
    looked at only with expect-ping."""
    took = spec.format_duration(job.duration) if job.duration is not None else "unknown time"
    when = _scheduled_text(job)
    if job.phase == DELETED:
        text = f"Job {job.name} was deleted before it finished"
        return Verdict(FAIL, f"{text}, {when}\n", ((constants.EVENT_JOB_FAILED, text),))
    if job.phase == FAILED:
        headline = f"Job {job.name} failed: {job.reason}" + (
            f": {_cut(job.message)}" if job.message else "")
        body = f"{headline}\n{when}, ran {took}\n{failure_detail}"
        events: tuple[tuple[str, str], ...] = ((constants.EVENT_JOB_FAILED, headline),)
        if not expect_ping:
            return Verdict(FAIL, body, events)
        if container == SUCCESS:
            message = (f"the container of Job {job.name} pinged success (rid={job.uid}), but "
                       f"the Job failed ({job.reason})")
            return Verdict(FAIL, f"{message}\n{body}",
                           (*events, (constants.EVENT_SIGNALS_DISAGREE, message)), False,
                           "SuccessPingButJobFailed", message)
        return Verdict(FAIL, body, events, True, "Agree",
                       f"Job {job.name} failed, and its container did not report success")
    body = f"Job {job.name} completed in {took}, {when}\n"
    if not expect_ping:
        return Verdict(SUCCESS, body)
    if container == SUCCESS:
        return Verdict(SUCCESS, body, (), True, "Agree",
                       f"Job {job.name} completed and its container pinged success")
    if container == FAIL:
        message = (f"Job {job.name} completed, but its container pinged failure "
                   f"(rid={job.uid})")
        return Verdict(FAIL, f"{message}\n{body}", ((constants.EVENT_SIGNALS_DISAGREE,
                                                       message),),
                       False, "FailurePingButJobCompleted", message)
    message = (f"Job {job.name} completed, but its container sent no end ping with "
               f"rid={job.uid} (heartbeat.dev/expect-ping)")
    return Verdict(FAIL, f"{message}\n{body}", ((constants.EVENT_PING_MISSING, message),),
                   False, "PingMissing", message)


def failed_container(pods: Sequence[Mapping[str, Any]]
                     ) -> tuple[str, str, Mapping[str, Any]] | None:
    """(pod, container, terminated state) of the most recent failed container."""
    best: tuple[str, str, Mapping[str, Any]] | None = None
    best_at = ""
    for pod in pods:
        pod_name = str((pod.get("metadata") or {}).get("name") or "")
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (cs.get("state") or {}).get("terminated") or (
                cs.get("lastState") or {}).get("terminated")
            if not terminated or not terminated.get("exitCode"):
                continue
            at = str(terminated.get("finishedAt") or "")
            if best is None or at > best_at:
                best, best_at = (pod_name, str(cs.get("name")), terminated), at
    return best


def failure_detail(found: tuple[str, str, Mapping[str, Any]] | None, log: str | None) -> str:
    if found is None:
        return ""
    pod, container, terminated = found
    reason = terminated.get("reason") or "terminated"
    lines = [f"pod {pod}, container {container}: exit code {terminated.get('exitCode')} "
             f"({reason})"]
    if terminated.get("message"):
        lines.append(_cut(str(terminated["message"]), 500))
    if log:
        lines.append(f"--- the last {LOG_TAIL_BYTES} bytes of its log ---")
        lines.append(log)
    return "\n".join(lines) + "\n"


# -- reconcile ----------------------------------------------------------------------------


class NotReady(Exception):
    """The run cannot be reported yet (its check is not registered): try again later."""


@dataclass(frozen=True)
class Target:
    """Where a Job's signals go."""

    cronjob: Mapping[str, Any]
    settings: cronjobs.Settings
    check_name: str
    check_uid: str
    check_created: dt.datetime | None


def find_target(namespace: str, owner: tuple[str, str], *,
                cronjob: Mapping[str, Any] | None,
                namespace_opt_in: str | None) -> Target | None:
    """The monitored CronJob and its generated HeartbeatCheck, or None when this Job is not
    to be reported. Raises NotReady when the check is not registered yet."""
    name, uid = owner
    if cronjob is None or (cronjob.get("metadata") or {}).get("uid") != uid:
        cronjob = kube.get_cronjob(namespace, name)
    if cronjob is None or (cronjob.get("metadata") or {}).get("uid") != uid:
        return None
    settings = cronjobs.parse_annotations((cronjob.get("metadata") or {}).get("annotations"),
                                          namespace_opt_in)
    if not settings.monitored or not settings.observe_jobs:
        return None
    check = kube.get_object(CHECKS, namespace, name)
    if check is None:
        raise NotReady(f"no HeartbeatCheck for CronJob {namespace}/{name} yet")
    if not cronjobs.is_generated(check):
        return None  # a HeartbeatCheck of that name that is not ours (CheckNameConflict)
    if not (check.get("status") or {}).get("checkID"):
        raise NotReady(f"HeartbeatCheck {namespace}/{name} is not registered yet")
    meta = check.get("metadata") or {}
    return Target(cronjob, settings, name, str(meta.get("uid") or ""),
                  status.parse_time(meta.get("creationTimestamp")))


def reconcile_job(ctx: reconcile.Context, state: cronjobs.State, job: Mapping[str, Any], *,
                  deleted: bool = False, cronjob: Mapping[str, Any] | None = None,
                  namespace_opt_in: str | None = None, post_event: EventPoster) -> str:
    """Send what is still missing for this Job's run, once each. Returns what happened (for
    logs). Raises NotReady, PingServerUnavailable/Rejected or ApiException: the background
    loop tries again (the ledger makes that safe)."""
    owner = owner_cronjob(job)
    if owner is None:
        return "not a CronJob's Job"
    current = job_state(job, deleted=deleted)
    if not pending_signals(current):
        return "up to date"
    if deleted:
        cronjob = None  # read it live: is it being deleted too (its Jobs with it)?
    if cronjob is not None and (cronjob.get("metadata") or {}).get("uid") == owner[1]:
        known = cronjobs.parse_annotations((cronjob.get("metadata") or {}).get("annotations"),
                                           namespace_opt_in)
        if not known.monitored or not known.observe_jobs:
            return "not monitored"  # decided without a single API call
    with state.locks(current.uid):
        if not deleted:  # re-read under the lock: another thread may have reported it
            fresh = kube.get_job(current.namespace, current.name)
            if fresh is None or (fresh.get("metadata") or {}).get("uid") != current.uid:
                return "gone"
            current = job_state(fresh)
        todo = pending_signals(current)
        if not todo:
            return "up to date"
        target = find_target(current.namespace, owner, cronjob=cronjob,
                             namespace_opt_in=namespace_opt_in)
        if target is None:
            return "not monitored"
        if not reportable(current, target.check_created):
            return "older than its check"
        if current.phase == DELETED and (target.cronjob.get("metadata") or {}).get(
                "deletionTimestamp"):
            return "its CronJob is being deleted"
        return _send(ctx, current, todo, target, post_event)


def _send(ctx: reconcile.Context, job: JobState, todo: list[str], target: Target,
          post_event: EventPoster) -> str:
    check_id = ctx.check_id(job.namespace, target.check_name)
    ledger = list(job.ledger)
    sent: list[str] = []
    for step in todo:
        if step == START:
            if not ctx.client.ping(check_id, START, rid=job.rid, body=start_body(job)):
                raise NotReady(f"check {target.check_name} is not on the ping server yet")
            ledger.append(START)
            _write_ledger(job, ledger)
            sent.append(START)
            continue
        verdict = _verdict(ctx, job, target, check_id)
        if not ctx.client.ping(check_id, verdict.kind, rid=job.rid, body=verdict.body):
            raise NotReady(f"check {target.check_name} is not on the ping server yet")
        ledger.append(verdict.kind)
        _write_ledger(job, ledger)
        sent.append(verdict.kind)
        _tell(job, verdict, target, post_event)
    logger.info("Job %s/%s: reported %s", job.namespace, job.name, ", ".join(sent))
    return "reported " + ",".join(sent)


def _verdict(ctx: reconcile.Context, job: JobState, target: Target, check_id: str) -> Verdict:
    container = None
    if target.settings.expect_ping and job.phase in (COMPLETE, FAILED):
        container = container_end(ctx.client.pings(check_id), job.uid)
    detail = ""
    if job.phase == FAILED:
        found = failed_container(kube.list_job_pods(job.namespace, job.uid))
        log = (kube.pod_log_tail(job.namespace, found[0], found[1], LOG_TAIL_BYTES)
               if found else None)
        detail = failure_detail(found, log)
    return end_verdict(job, expect_ping=target.settings.expect_ping, container=container,
                       failure_detail=detail)


def _write_ledger(job: JobState, ledger: Sequence[str]) -> None:
    if job.phase == DELETED:
        return  # nothing to write to; a deleted Job is never seen again
    kube.annotate_job(job.namespace, job.name, job.uid,
                      {constants.LEDGER_ANNOTATION: format_ledger(ledger)})


def _tell(job: JobState, verdict: Verdict, target: Target, post_event: EventPoster) -> None:
    """Warning Events on the CronJob, and the SignalsAgree condition with expect-ping."""
    ref = cronjobs.cronjob_ref(target.cronjob)
    for reason, message in verdict.events:
        post_event(ref, "Warning", reason, message)
    if verdict.agree is None:
        return
    cond = status.condition(constants.SIGNALS_AGREE, verdict.agree, verdict.agree_reason,
                            verdict.agree_message, generation=None, now=status.now_utc())

    def update(conditions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        return status.merge_condition(conditions, cond)

    kube.update_conditions(CHECKS, job.namespace, target.check_name, target.check_uid, update)

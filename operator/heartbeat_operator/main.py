"""Kopf handlers: the only module with @kopf decorators. Each handler delegates to plain
functions in reconcile.py and background.py.

Run with `kopf run -m heartbeat_operator.main -A` (or `-n NS` per namespace), or through
`run(argv)`, which derives those flags from HB_NAMESPACES (`hb operator`).
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import kopf
from kubernetes.client.exceptions import ApiException

from heartbeat_operator import (
    background,
    config,
    constants,
    cronjobs,
    inventory,
    jobs,
    kube,
    reconcile,
    silences,
)
from heartbeat_operator.client import PingServerClient, PingServerRejected, PingServerUnavailable
from heartbeat_operator.status import find_condition, now_utc

G, V = constants.GROUP, constants.VERSION
CHECKS, CHANNELS = constants.CHECK_PLURAL, constants.CHANNEL_PLURAL
SILENCES = constants.SILENCE_PLURAL
# Seconds between looks at each HeartbeatSilence: it is read from the ping server only when
# it starts or ends, or when its matched-checks count is HB_LASTPING_REFRESH old.
SILENCE_TICK = 5.0
STATE_LABELS = {constants.LABEL_COMPONENT: constants.STATE_COMPONENT,
                constants.LABEL_MANAGED_BY: constants.MANAGED_BY}
MAX_PRIORITY = 10_000
INVENTORY_POLL = 2.0  # seconds between checks of the inventory at start-up
INVENTORY_LOG_EVERY = 15.0
INVENTORY_RELIST = 30.0  # seconds without progress before listing again
# Object workers at once (Kopf's default: unlimited). Thousands of objects at start-up would
# otherwise open thousands of TLS connections to the API server at the same moment.
WORKER_LIMIT = 200
log = logging.getLogger(__name__)
workload_log = logging.getLogger("heartbeat_operator.workloads")
# Kopf logs every successful handler call at INFO; for the event handlers below that is one
# line per CronJob, Job, Namespace and Event change in the cluster: dropped (see _Routine).
QUIET_HANDLERS = ("track_check", "track_channel", "cronjob_event", "job_event",
                  "namespace_event", "cronjob_skipped", "silence_refresh")
# Kopf's two INFO lines per object and change ("Handler 'check_upsert' succeeded.",
# "Creation is processed: 1 succeeded; 0 failed."): 20,000 lines when 10,000 objects resume.
ROUTINE_RE = re.compile(r"^(\w+ '[^']+' succeeded"
                        r"|\w+ is processed: \d+ succeeded; 0 failed)\.$")


class _Routine(logging.Filter):
    """Kopf's routine success lines become DEBUG (shown with --verbose); those of the event
    handlers are dropped. Warnings, errors and failed handlers keep their level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        text = record.getMessage()
        if not ROUTINE_RE.match(text):
            return True
        if any(text.endswith(f" '{h}' succeeded.") for h in QUIET_HANDLERS):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


# -- operator lifecycle -------------------------------------------------------------------


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger,
              **_: Any) -> None:
    try:
        cfg = config.load()
    except config.ConfigError as exc:
        raise kopf.PermanentError(str(exc)) from None
    if not settings.peering.clusterwide and not cfg.namespaces:
        raise kopf.PermanentError("HB_NAMESPACES: required when the operator watches chosen "
                                  "namespaces (-n); it must list the same namespaces")
    # Our own finalizer instead of Kopf's kopf.zalando.org default. Kopf's bookkeeping goes
    # into status (status.kopf), not annotations: a handler's result is then one write to the
    # status subresource instead of two (status and annotations), which at start-up with
    # thousands of objects is a third of all writes.
    settings.persistence.finalizer = constants.FINALIZER
    settings.persistence.progress_storage = kopf.StatusProgressStorage()
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage()
    # Handler logs become Events only from WARNING up; our Normal Events are explicit.
    settings.posting.level = logging.WARNING
    objects_log = logging.getLogger("kopf.objects")
    if not any(isinstance(f, _Routine) for f in objects_log.filters):
        objects_log.addFilter(_Routine())
    # Watches end and restart every few minutes: a silently dead connection cannot last.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    # Sync handlers run in threads; one is held by the background loop.
    settings.execution.max_workers = 16
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = 1.0  # a waiting worker holds a slot
    _configure_peering(settings, cfg, logger)
    kube.ensure_state_configmap(cfg.operator_namespace)
    memo.ctx = reconcile.Context(cfg, PingServerClient(cfg.pingserver_url, cfg.api_key,
                                                       cfg.http_timeout))
    # Before any handler runs: the feed cursor a first start reports flips from.
    memo.start_cursor = background.start_cursor(memo.ctx, cfg.operator_namespace)
    memo.health = background.Health()
    memo.workloads = cronjobs.State()
    memo.inventory = inventory.Inventory()
    logger.info("ping server %s; state in ConfigMap %s/%s", cfg.pingserver_url,
                cfg.operator_namespace, constants.STATE_CONFIGMAP)


def _configure_peering(settings: kopf.OperatorSettings, cfg: config.OperatorConfig,
                       logger: kopf.Logger) -> None:
    if settings.peering.standalone:
        return
    if not settings.peering.mandatory:  # no --peering given: use our own neighbourhood
        settings.peering.name = constants.PEERING_NAME
    if settings.peering.priority == 0:  # equal priorities would pause every replica
        settings.peering.priority = cfg.priority or random.randint(1, MAX_PRIORITY)
    # A replica that died (kill -9, node lost) counts as alive for this long: the standby
    # takes over at most this many seconds later. Shorter means more keep-alive writes
    # (every lifetime minus 5-10 s) and that a replica stalled for longer is taken over
    # while it may still act.
    settings.peering.lifetime = cfg.peering_lifetime
    if kube.ensure_peering(settings.peering.clusterwide, cfg.namespaces):
        # Start paused until the peers are known, so that a new replica never acts (not even
        # briefly) next to the active one.
        settings.peering.mandatory = True
    else:
        logger.warning("Kopf peering CRDs are not installed (crds/kopf-peering.yaml): "
                       "run a single replica")


@kopf.on.cleanup()
def release(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    ctx: reconcile.Context | None = getattr(memo, "ctx", None)
    if ctx is not None:
        try:
            kube.release_state_configmap(ctx.config.operator_namespace)
        except Exception as exc:  # best effort on the way out
            logger.warning("could not release the state ConfigMap: %s", exc)


@kopf.on.probe(id="background")
def probe(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    health: background.Health | None = getattr(memo, "health", None)
    return health.as_dict() if health else {}


# -- the inventory: what the background loop and the CronJob handlers read ----------------
# Plain async event handlers instead of @kopf.index: see inventory.py for why.


@kopf.on.event(G, V, CHECKS)
async def track_check(type: str | None, body: kopf.Body, namespace: str | None, name: str,
                      memo: kopf.Memo, **_: Any) -> None:
    key = memo.ctx.check_id(str(namespace), name)
    if type == "DELETED":
        memo.inventory.checks.drop(key)
    else:
        memo.inventory.checks.put(key, background.ObjectRef.from_body(body))


@kopf.on.event(G, V, CHANNELS)
async def track_channel(type: str | None, body: kopf.Body, namespace: str | None, name: str,
                        memo: kopf.Memo, **_: Any) -> None:
    key = f"{namespace}/{name}"
    if type == "DELETED":
        memo.inventory.channels.drop(key)
    else:
        memo.inventory.channels.put(key, background.ObjectRef.from_body(body))


# -- HeartbeatCheck -------------------------------------------------------------------------


@kopf.on.resume(G, V, CHECKS)
@kopf.on.create(G, V, CHECKS)
@kopf.on.update(G, V, CHECKS, field="spec")
@kopf.on.update(G, V, CHECKS, field="metadata.labels")  # sent for label:<key> matchers
@kopf.on.update(G, V, CHECKS, field=("metadata", "annotations",
                                     constants.CHANNELS_CHANGED_ANNOTATION))  # see channel_upsert
def check_upsert(body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                 labels: kopf.Labels, namespace: str | None, name: str, patch: kopf.Patch,
                 retry: int, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    ctx: reconcile.Context = memo.ctx
    try:
        result = reconcile.ensure_check(ctx, namespace=str(namespace), name=name,
                                        spec_body=spec,
                                        generation=meta.get("generation"),
                                        conditions=status.get("conditions"),
                                        labels=labels)
    except reconcile.Failure as failure:
        patch.status.update(failure.status)
        _fail(body, failure, retry, ctx)
    # No "Registered" Event: the Ready condition says it, and at 10,000 new objects the
    # Event was a third of the start-up's API-server writes.
    patch.status.update(result.status)
    logger.debug("check registered (%s)", "created" if result.created else "updated")
    if result.pending_channels:
        # Pings work already; Ready stays False (ChannelsNotReady) until the channels are
        # attached. Their handlers re-run this one when they get an id (nudge_dependent_checks),
        # and drift repair catches a missed nudge.
        kopf.warn(body, reason=constants.REASON_CHANNELS_PENDING,
                  message="waiting for AlertChannels: " + ", ".join(result.pending_channels))


@kopf.on.delete(G, V, CHECKS)
def check_delete(spec: kopf.Spec, namespace: str | None, name: str, retry: int,
                 memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    ctx: reconcile.Context = memo.ctx
    _remove(lambda: "check " + reconcile.remove_check(ctx, namespace=str(namespace), name=name,
                                                      spec_body=spec),
            "delete the check", retry, ctx, logger)


def _remove(step: Callable[[], str], what: str, retry: int, ctx: reconcile.Context,
            logger: kopf.Logger) -> None:
    """Undo an object on the ping server before its finalizer goes: retried while the server
    is unreachable or the key is refused; any other refusal lets the object go."""
    try:
        outcome = step()
    except (PingServerUnavailable, PingServerRejected) as exc:
        if isinstance(exc, PingServerRejected) and exc.status not in (401, 403):
            logger.warning("the ping server refused to %s (%s); letting the object go", what,
                           exc.message)
            return
        raise kopf.TemporaryError(str(exc), delay=reconcile.backoff(
            retry, ctx.config.backoff_max, float(getattr(exc, "delay", 0) or 0))) from None
    logger.info("%s on the ping server", outcome)


# -- AlertChannel ---------------------------------------------------------------------------


@kopf.on.resume(G, V, CHANNELS)
@kopf.on.create(G, V, CHANNELS)
@kopf.on.update(G, V, CHANNELS)
def channel_upsert(body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                   labels: kopf.Labels, namespace: str | None, name: str, patch: kopf.Patch,
                   retry: int, reason: str, memo: kopf.Memo, **_: Any) -> None:
    ctx: reconcile.Context = memo.ctx
    known_id = status.get("channelID")
    try:
        result = reconcile.ensure_channel(ctx, namespace=str(namespace), name=name,
                                          spec_body=spec,
                                          known_id=known_id, generation=meta.get("generation"),
                                          conditions=status.get("conditions"))
    except reconcile.Failure as failure:
        patch.status.update(failure.status)
        _fail(body, failure, retry, ctx)
    patch.status.update(result.status)
    if result.channel_id != known_id or reason != kopf.Reason.RESUME.value:
        # The id must be readable before the checks that wait for it look (Kopf writes the
        # patch only after this handler returns).
        kube.patch_status(CHANNELS, str(namespace), name, result.status)
        reconcile.nudge_dependent_checks(namespace=str(namespace), channel_name=name,
                                         channel_labels=labels)


@kopf.on.delete(G, V, CHANNELS)
def channel_delete(status: kopf.Status, labels: kopf.Labels, namespace: str | None,
                   name: str, retry: int, memo: kopf.Memo, **_: Any) -> None:
    ctx: reconcile.Context = memo.ctx
    try:
        reconcile.remove_channel(ctx, channel_id=status.get("channelID"))
    except PingServerUnavailable as exc:
        raise kopf.TemporaryError(str(exc), delay=reconcile.backoff(
            retry, ctx.config.backoff_max, float(exc.delay or 0))) from None
    except PingServerRejected:
        pass  # nothing more we can do; the object is going away
    reconcile.nudge_dependent_checks(namespace=str(namespace), channel_name=name,
                                     channel_labels=labels)


# -- HeartbeatSilence -------------------------------------------------------------------------


@kopf.on.resume(G, V, SILENCES)
@kopf.on.create(G, V, SILENCES)
@kopf.on.update(G, V, SILENCES, field="spec")
def silence_upsert(body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                   namespace: str | None, name: str, patch: kopf.Patch, retry: int,
                   memo: kopf.Memo, **_: Any) -> None:
    ctx: reconcile.Context = memo.ctx
    try:
        result = silences.ensure_silence(
            ctx, namespace=str(namespace), name=name, spec_body=spec,
            created_at=str(meta.get("creationTimestamp") or ""),
            generation=meta.get("generation"), conditions=status.get("conditions"))
    except reconcile.Failure as failure:
        patch.status.update(failure.status)
        _fail(body, failure, retry, ctx)
    patch.status.update(result.status)
    memo.silence_read_at = time.monotonic()


@kopf.on.delete(G, V, SILENCES)
def silence_delete(namespace: str | None, name: str, retry: int, memo: kopf.Memo,
                   logger: kopf.Logger, **_: Any) -> None:
    ctx: reconcile.Context = memo.ctx

    def expire() -> str:
        found = silences.remove_silence(ctx, namespace=str(namespace), name=name)
        return "silence expired" if found else "silence absent"

    _remove(expire, "expire the silence", retry, ctx, logger)


@kopf.timer(G, V, SILENCES, interval=SILENCE_TICK, initial_delay=SILENCE_TICK)
def silence_refresh(spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                    namespace: str | None, name: str, patch: kopf.Patch, memo: kopf.Memo,
                    logger: kopf.Logger, **_: Any) -> None:
    """State and matched checks change with time, not with the object: written on change."""
    ctx: reconcile.Context = memo.ctx
    ready = find_condition(status.get("conditions"), constants.READY) or {}
    if ready.get("status") != "True" or status.get("observedGeneration") != meta.get(
            "generation"):
        return  # not registered for this spec (yet): the upsert handler owns it
    now, clock = now_utc(), time.monotonic()
    if not silences.refresh_due(status, now=now, last_refresh=getattr(
            memo, "silence_read_at", None), clock=clock, every=ctx.config.lastping_refresh):
        return
    try:
        changed = silences.refresh_patch(ctx, namespace=str(namespace), name=name,
                                         current=status)
        if changed == {}:  # the ping server lost it: re-create it as it was
            changed = silences.ensure_silence(
                ctx, namespace=str(namespace), name=name, spec_body=spec,
                created_at=str(meta.get("creationTimestamp") or ""),
                generation=meta.get("generation"), conditions=status.get("conditions")).status
            logger.info("the ping server had lost this silence; re-created it")
    except (PingServerUnavailable, PingServerRejected, reconcile.Failure) as exc:
        logger.debug("silence refresh: %s (retried at the next tick)", exc)
        return
    memo.silence_read_at = clock
    if changed:
        patch.status.update(changed)


def _fail(body: kopf.Body, failure: reconcile.Failure, retry: int,
          ctx: reconcile.Context) -> NoReturn:
    """Report a failed reconcile once per streak of retries, then hand it to Kopf: permanent
    (only a spec change re-runs it) or temporary with a growing, capped delay."""
    if failure.permanent or retry == 0:
        kopf.warn(body, reason=failure.reason, message=failure.message)
    if failure.permanent:
        raise kopf.PermanentError(failure.message)
    delay = reconcile.backoff(retry, ctx.config.backoff_max, failure.delay)
    raise kopf.TemporaryError(failure.message, delay=delay)


# -- annotated CronJobs and their Jobs --------------------------------------------------------
# Event handlers (no state on the objects: no Kopf annotations, no finalizers on CronJobs or
# Jobs); the logic is in cronjobs.py and jobs.py, idempotent, and the background loop retries
# what failed here.


def _owned_by_cronjob(body: kopf.Body, **_: Any) -> bool:
    return jobs.owner_cronjob(body) is not None


def _is_skip_event(body: kopf.Body, **_: Any) -> bool:
    involved = body.get("involvedObject") or {}
    return (involved.get("kind") == "CronJob"
            and str(body.get("reason") or "") in cronjobs.SKIP_SIGNALS)


def _opt_in(memo: kopf.Memo, namespace: str) -> str | None:
    """The Namespace's opt-in annotation. Before the Namespace's first watch event it is read
    from the API once: taken as absent, it would make the CronJobs there look unmonitored,
    and their generated checks would be deleted."""
    namespaces: inventory.Table[str | None] = memo.inventory.namespaces
    if namespace not in namespaces:
        ns = kube.get_namespace(namespace) or {}
        value = ((ns.get("metadata") or {}).get("annotations") or {}).get(
            constants.NAMESPACE_OPT_IN)
        namespaces.put_new(namespace, None if value is None else str(value))
    return namespaces.get(namespace)


def _cronjob(memo: kopf.Memo, uid: str, namespace: str, name: str) -> dict[str, Any] | None:
    """A CronJob's slim body by uid: from the inventory, else (not seen yet) from the API."""
    found: dict[str, Any] | None = memo.inventory.cronjobs.get(uid)
    if found is None:
        body = kube.get_cronjob(namespace, name)
        if body is not None and (body.get("metadata") or {}).get("uid") == uid:
            found = cronjobs.slim(body)
    return found


@kopf.on.event("batch", "v1", "cronjobs")
def cronjob_event(type: str | None, body: kopf.Body, namespace: str | None, name: str,
                  uid: str | None, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED":  # the garbage collector deletes its HeartbeatCheck (unless Retain)
        memo.inventory.cronjobs.drop(str(uid))
        memo.workloads.forget_object(str(uid))
        return
    memo.inventory.cronjobs.put(str(uid), cronjobs.slim(body))
    ctx: reconcile.Context = memo.ctx
    known = ctx.check_id(str(namespace), name) in memo.inventory.checks
    try:
        outcome = cronjobs.reconcile_cronjob(
            memo.workloads, cronjobs.plain(body), default_tz=ctx.config.cronjob_default_tz,
            namespace_opt_in=_opt_in(memo, str(namespace)),
            post_event=_post_event, check_known=known)
        workload_log.debug("CronJob %s/%s: %s", namespace, name, outcome.action)
    except ApiException as exc:
        workload_log.warning("CronJob %s/%s: %s (retried by the background loop)", namespace,
                             name, exc.reason)


@kopf.on.event("batch", "v1", "jobs", when=_owned_by_cronjob)
def job_event(type: str | None, body: kopf.Body, namespace: str | None, name: str,
              uid: str | None, memo: kopf.Memo, **_: Any) -> None:
    if type == "DELETED":
        memo.inventory.jobs.drop(str(uid))
    else:
        memo.inventory.jobs.put(str(uid), jobs.slim(body))
    job = cronjobs.plain(body)
    owner = jobs.owner_cronjob(job)
    try:
        cronjob = _cronjob(memo, owner[1], str(namespace), owner[0]) if owner else None
        result = jobs.reconcile_job(
            memo.ctx, memo.workloads, job, deleted=type == "DELETED", cronjob=cronjob,
            namespace_opt_in=_opt_in(memo, str(namespace)), post_event=_post_event)
        workload_log.debug("Job %s/%s: %s", namespace, name, result)
    except jobs.NotReady as exc:
        workload_log.debug("Job %s/%s: %s", namespace, name, exc)
    except (PingServerUnavailable, PingServerRejected, ApiException) as exc:
        workload_log.warning("Job %s/%s: %s (retried by the background loop)", namespace,
                             name, exc)


@kopf.on.event("v1", "namespaces")
def namespace_event(type: str | None, name: str, annotations: kopf.Annotations,
                    memo: kopf.Memo, **_: Any) -> None:
    value = annotations.get(constants.NAMESPACE_OPT_IN)
    if type == "DELETED":
        memo.inventory.namespaces.drop(name)
        return
    memo.inventory.namespaces.put(name, None if value is None else str(value))
    if not memo.workloads.namespace_changed(name, value):
        return
    ctx: reconcile.Context = memo.ctx
    checks = memo.inventory.checks
    for cronjob in memo.inventory.cronjobs.snapshot().values():
        if cronjob["metadata"].get("namespace") != name:
            continue
        known = ctx.check_id(name, cronjob["metadata"]["name"]) in checks
        try:
            outcome = cronjobs.reconcile_cronjob(memo.workloads, cronjob,
                                                 default_tz=ctx.config.cronjob_default_tz,
                                                 namespace_opt_in=value, post_event=_post_event,
                                                 check_known=known)
            workload_log.debug("CronJob %s/%s: %s (the Namespace's opt-in changed)", name,
                               cronjob["metadata"].get("name"), outcome.action)
        except ApiException as exc:
            workload_log.warning("CronJob %s/%s: %s (retried by the background loop)", name,
                                 cronjob["metadata"].get("name"), exc.reason)


@kopf.on.event("v1", "events", when=_is_skip_event)
def cronjob_skipped(body: kopf.Body, namespace: str | None, memo: kopf.Memo,
                    **_: Any) -> None:
    event = cronjobs.plain(body)
    involved = event.get("involvedObject") or {}
    try:
        cronjob = _cronjob(memo, str(involved.get("uid") or ""), str(namespace),
                           str(involved.get("name")))
        if cronjob is None:
            return
        cronjobs.report_skip(memo.ctx, memo.workloads, event, cronjob,
                             namespace_opt_in=_opt_in(memo, str(namespace)),
                             post_event=_post_event)
    except (PingServerUnavailable, PingServerRejected, ApiException) as exc:
        workload_log.warning("CronJob %s/%s: could not report %s: %s", namespace,
                             involved.get("name"), event.get("reason"), exc)


# -- the single background loop -------------------------------------------------------------


def _is_state_configmap(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> bool:
    ctx: reconcile.Context | None = getattr(memo, "ctx", None)
    return (ctx is not None and name == constants.STATE_CONFIGMAP
            and namespace == ctx.config.operator_namespace)


@kopf.daemon("v1", "configmaps", labels=STATE_LABELS, when=_is_state_configmap,
             cancellation_timeout=30.0)
def background_loop(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo,
                    **_: Any) -> None:
    ctx: reconcile.Context = memo.ctx
    inv: inventory.Inventory = memo.inventory
    _await_inventory(stopped, ctx.config, inv)
    loop = background.Background(
        ctx, state_namespace=ctx.config.operator_namespace, post_event=_post_event,
        post_flip_event=kube.post_event_once,
        cursor=str((body.get("data") or {}).get(constants.CURSOR_KEY) or memo.start_cursor),
        health=memo.health)
    workloads = background.Workloads(ctx, memo.workloads, _post_event)
    while not stopped:
        checks = inv.checks.snapshot()
        loop.tick(checks, list(inv.channels.snapshot().values()))
        workloads.tick(cronjob_bodies=inv.cronjobs.snapshot(), job_bodies=inv.jobs.snapshot(),
                       namespaces=inv.namespaces.snapshot(), checks=checks)
        stopped.wait(ctx.config.feed_interval)


def _await_inventory(stopped: kopf.DaemonStopped, cfg: config.OperatorConfig,
                     inv: inventory.Inventory) -> None:
    """Wait until the inventory holds every HeartbeatCheck and AlertChannel that existed at
    start-up: before that, flips of checks not seen yet would be dropped from the feed. One
    listing, taken again only when the count stops falling (objects deleted meanwhile)."""
    namespaces = None if cfg.clusterwide else cfg.namespaces
    uids: list[str] | None = None
    best, stalled_since, logged = -1, time.monotonic(), 0.0
    while not stopped:
        try:
            if uids is None:
                uids = kube.list_uids(CHECKS, namespaces) + kube.list_uids(CHANNELS, namespaces)
        except ApiException as exc:
            if exc.status == 403:  # may not list them: go on without waiting
                log.warning("cannot list HeartbeatChecks or AlertChannels (%s): flips of "
                            "objects not seen yet may be missed right after start-up",
                            exc.reason)
                return
            log.warning("listing objects: %s (retrying)", exc.reason)
        else:
            missing = inv.missing(uids)
            if missing == 0:
                return
            now = time.monotonic()
            if best < 0 or missing < best:
                best, stalled_since = missing, now
            elif now - stalled_since >= INVENTORY_RELIST:
                uids, best = None, -1
            if now - logged >= INVENTORY_LOG_EVERY:
                log.info("background loop: waiting for %d objects to be seen", missing)
                logged = now
        stopped.wait(INVENTORY_POLL)


def _post_event(ref: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    kopf.event(ref, type=type_, reason=reason, message=message)  # type: ignore[arg-type]


# -- entry point ----------------------------------------------------------------------------


def kopf_args(cfg: config.OperatorConfig, extra: Sequence[str]) -> list[str]:
    """`kopf run` arguments: namespaces from HB_NAMESPACES and the liveness endpoint from
    HB_LIVENESS, unless `extra` chooses them itself."""
    args = ["run", "-m", "heartbeat_operator.main"]
    scoped = any(a in ("-A", "--all-namespaces", "-n") or a.startswith("--namespace")
                 for a in extra)
    if not scoped:
        args += (["--all-namespaces"] if cfg.clusterwide
                 else [f"--namespace={ns}" for ns in cfg.namespaces])
    if cfg.liveness and not any(a in ("-L",) or a.startswith("--liveness") for a in extra):
        args.append(f"--liveness={cfg.liveness}")
    return args + list(extra)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the operator until SIGINT/SIGTERM; `argv` holds extra `kopf run` options
    (e.g. --standalone, --verbose, --priority=N). Returns the exit status."""
    import click
    from kopf import cli

    try:
        cfg = config.load()
    except config.ConfigError as exc:
        print(f"hb operator: {exc}", file=sys.stderr)
        return 2
    try:
        cli.main(args=kopf_args(cfg, list(argv or [])), prog_name="hb operator",
                 standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 1
    return 0

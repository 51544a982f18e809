"""The operator's one background loop: the flips feed, lastPing refresh and drift repair.

It runs inside a single Kopf daemon (see main.py), so only the active replica runs it.

- Flips feed: every HB_FEED_INTERVAL, read flips after the cursor; for each flip of one of
  our checks, patch status (state, lastFlip, Healthy) and post an Event. The cursor is kept
  in memory and in the state ConfigMap, so a restart resumes where it stopped; a first start
  takes it at start-up, before any check is registered (start_cursor).
- Refresh: every HB_LASTPING_REFRESH, one list of all checks; patch lastPing, nextDeadline
  and lastDuration of the checks whose values moved. So a check's status is written at most
  once per interval however often it is pinged. The writes go in slices of REFRESH_SLICE
  seconds, one per tick, so the feed is still read every tick while 10,000 statuses are
  written.
- Drift repair: every HB_DRIFT_INTERVAL, re-create what the ping server lacks (Redis wiped:
  same UUIDs, so same ping URLs) and re-apply what differs from the spec; channels first,
  since re-created channels get new ids that the checks must then use.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from heartbeat_operator import constants, cronjobs, jobs, kube, reconcile, spec, status
from heartbeat_operator.client import PingServerRejected, PingServerUnavailable
from heartbeat_operator.spec import ChannelChoice

logger = logging.getLogger(__name__)

MAX_PAGES = 20  # flips pages per tick; the rest waits for the next tick
FLIP_WORKERS = 8  # checks whose flips (or refreshed statuses) are written at the same time
# Seconds of status refresh per tick: as long as the default feed interval, so during a round
# the feed is read at least every 10 s, and 10,000 statuses take about two minutes.
REFRESH_SLICE = 5.0
REFRESH_BATCH = 64  # statuses refreshed side by side between two looks at the clock
PATCH_ATTEMPTS = 3
WARN_EVERY = 300.0  # seconds between repeats of the same warning

EventPoster = Callable[[Mapping[str, Any], str, str, str], None]
"""(object reference, type, reason, message) -> None."""
KeyedEventPoster = Callable[[Mapping[str, Any], str, str, str, str], Any]
"""(object reference, type, reason, message, key) -> None: posts once per key, durably
(kube.post_event_once)."""


@dataclass(frozen=True)
class ObjectRef:
    """What the loop needs to know about one custom object (from the inventory)."""

    kind: str
    namespace: str
    name: str
    uid: str
    generation: int | None
    spec: Mapping[str, Any]
    labels: Mapping[str, str]
    status: Mapping[str, Any]
    deleting: bool
    created: str = ""  # metadata.creationTimestamp
    cronjob_uid: str = ""  # set on HeartbeatChecks generated for a CronJob (of the same name)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ObjectRef:
        meta = body.get("metadata") or {}
        return cls(
            kind=str(body.get("kind") or ""),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            generation=meta.get("generation"),
            spec=_plain(body.get("spec") or {}),
            labels=_plain(meta.get("labels") or {}),
            status=_plain(body.get("status") or {}),
            deleting=bool(meta.get("deletionTimestamp")),
            created=str(meta.get("creationTimestamp") or ""),
            cronjob_uid=(str((meta.get("annotations") or {}).get(
                constants.CRONJOB_UID_ANNOTATION) or "")
                if cronjobs.is_generated(body) else ""),
        )

    def cronjob_reference(self) -> dict[str, Any] | None:
        """The CronJob a generated check belongs to (for Events where people look)."""
        if not self.cronjob_uid:
            return None
        return {"apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "uid": self.cronjob_uid}}

    def reference(self) -> dict[str, Any]:
        return {"apiVersion": constants.API_VERSION, "kind": self.kind,
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid}}

    def as_body(self) -> dict[str, Any]:
        return {"metadata": {"name": self.name, "namespace": self.namespace,
                             "labels": dict(self.labels)},
                "spec": dict(self.spec), "status": dict(self.status)}

    @property
    def settled(self) -> bool:
        """Reconciled by its handler at least once, for the current generation: drift repair
        leaves objects whose handler has not run yet (or is retrying a new spec) to it."""
        registered = self.status.get("checkID") or self.status.get("channelID")
        return bool(registered) and self.status.get("observedGeneration") == self.generation

    def channels_stale(self, choice: ChannelChoice) -> bool:
        """The status names other channels, or waits for channels that are ready now."""
        listed = sorted(self.status.get("channels") or [])
        ready = status.find_condition(self.status.get("conditions"), constants.READY) or {}
        waiting = ready.get("reason") == constants.REASON_CHANNELS_PENDING
        return listed != sorted(choice.names) or waiting != bool(choice.pending)

    @property
    def invalid_as_is(self) -> bool:
        """Refused for the current generation: only a spec change can help."""
        ready = status.find_condition(self.status.get("conditions"), constants.READY)
        return bool(ready and ready.get("reason") == constants.REASON_INVALID
                    and self.status.get("observedGeneration") == self.generation)


_plain = cronjobs.plain


def cronjob_flip_event(flip: Mapping[str, Any], check_name: str
                       ) -> tuple[str, str, str] | None:
    """The Event a flip of a generated check puts on its CronJob (`kubectl describe cronjob`
    shows it): a missed or failed run as HeartbeatDown, the recovery as HeartbeatUp."""
    old, new = status.map_state(flip.get("old")), status.map_state(flip.get("new"))
    reason = str(flip.get("reason") or "")
    because = {"timeout": ": no run reported in time", "fail": ": a run failed",
               "fail_tolerated": ""}.get(reason, f": {reason}" if reason else "")
    if new == "down":
        return ("Warning", constants.EVENT_HEARTBEAT_DOWN,
                f"HeartbeatCheck {check_name} is down (was {old}){because}")
    if new == "late":
        return ("Warning", constants.EVENT_HEARTBEAT_LATE,
                f"HeartbeatCheck {check_name}: the expected run is overdue (grace period)")
    if new == "up" and old in ("down", "late"):
        return ("Normal", constants.EVENT_HEARTBEAT_UP,
                f"HeartbeatCheck {check_name} is up again (was {old})")
    return None


def warn_rarely(warned: dict[str, tuple[str, float]], message: str, what: str,
                now: float) -> None:
    """Log a failure when it is new, then at most once per WARN_EVERY: the loop runs every
    few seconds and an outage must not flood the log. `warned` remembers what was said."""
    last = warned.get(what)
    if last is None or last[0] != message or now - last[1] >= WARN_EVERY:
        logger.warning("%s", message)
        warned[what] = (message, now)


def _side_by_side(work: Callable[[Any], None], items: list[Any]) -> None:
    """`work(item)` for every item, up to FLIP_WORKERS at a time; the first error is raised
    once all are done. Each call runs in a copy of this thread's context: Kopf's event
    posting needs it."""
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(min(FLIP_WORKERS, len(items))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, work, item) for item in items]
        for future in futures:
            future.result()


def start_cursor(ctx: reconcile.Context, state_namespace: str) -> str:
    """The stored cursor; without one (first start), the end of the feed now, stored at once.
    Taken at start-up, before any handler registers a check, so that every flip of a check
    this operator registers is reported, and the history from before it is not. "" when the
    ping server cannot be read: the loop then skips the backlog at its first read."""
    stored = kube.read_cursor(state_namespace)
    if stored:
        return stored
    cursor = ""
    try:
        while True:
            flips, cursor = ctx.client.flips(cursor)
            if not flips or not cursor:
                break
    except (PingServerUnavailable, PingServerRejected) as exc:
        logger.warning("flips feed: no stored cursor and the feed cannot be read (%s); flips "
                       "before its first read will be skipped", exc)
        return ""
    if cursor:
        kube.write_cursor(state_namespace, cursor)
    return cursor


@dataclass
class Health:
    """What the liveness probe reports (no secrets)."""

    feed_ok_at: str | None = None
    feed_error: str | None = None
    flips_seen: int = 0
    last_refresh_at: str | None = None
    last_drift_at: str | None = None
    repaired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Background:
    ctx: reconcile.Context
    state_namespace: str
    post_event: EventPoster
    cursor: str = ""
    # Flip Events; None: through post_event, without the once-per-flip guarantee.
    post_flip_event: KeyedEventPoster | None = None
    clock: Callable[[], float] = time.monotonic
    health: Health = field(default_factory=Health)
    _next_refresh: float = 0.0
    _next_drift: float = 0.0
    _caught_up: bool = False
    _saved_cursor: str = ""
    # The refresh round in progress: (uuid, check JSON) from its listing, not yet looked at,
    # and the checks whose flips the feed reported since that listing (newer than it).
    _refresh_queue: deque[tuple[str, Mapping[str, Any]]] = field(default_factory=deque)
    _flipped_since_listing: set[str] = field(default_factory=set)
    _warned: dict[str, tuple[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._saved_cursor = self.cursor
        # Without a cursor (neither stored nor taken at start-up: see start_cursor) there is
        # no telling which flips were already reported: skip the backlog silently, then let
        # the first refresh set every state.
        self._caught_up = bool(self.cursor)
        start = self.clock()
        self._next_refresh = start
        self._next_drift = start + self.ctx.config.drift_interval

    # -- the tick -------------------------------------------------------------------------

    def tick(self, checks: Mapping[str, ObjectRef], channels: Iterable[ObjectRef]) -> None:
        """One round: feed, and refresh/drift when due. Never raises for ping server or
        Kubernetes API trouble (the next tick retries); logs it instead."""
        try:
            self.poll_flips(checks)
        except (PingServerUnavailable, PingServerRejected, ApiException) as exc:
            self.health.feed_error = str(exc)
            self._warn("flips feed", exc)
        else:
            if self._warned.pop("flips feed", None):
                logger.info("flips feed: working again")
            self.health.feed_ok_at = status.rfc3339(status.now_utc())
            self.health.feed_error = None
        now = self.clock()
        if now >= self._next_drift:
            self._next_drift = now + self.ctx.config.drift_interval
            self._guard("drift repair", lambda: self.repair(checks, list(channels)))
            self.health.last_drift_at = status.rfc3339(status.now_utc())
        if now >= self._next_refresh and not self._refresh_queue:
            self._next_refresh = now + self.ctx.config.lastping_refresh
            self._guard("status refresh", self._list_for_refresh)
        if self._refresh_queue:
            self._guard("status refresh", lambda: self.refresh_slice(checks))
            if not self._refresh_queue:
                self.health.last_refresh_at = status.rfc3339(status.now_utc())

    def _guard(self, what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except (PingServerUnavailable, PingServerRejected, ApiException) as exc:
            self._warn(what, exc)

    def _warn(self, what: str, exc: Exception) -> None:
        warn_rarely(self._warned, f"{what}: {exc}", what, self.clock())

    # -- flips feed -----------------------------------------------------------------------

    def poll_flips(self, checks: Mapping[str, ObjectRef]) -> None:
        for _ in range(MAX_PAGES):
            flips, cursor = self.ctx.client.flips(self.cursor)
            if self._caught_up:
                self._handle_page(checks, flips)
            self.health.flips_seen += len(flips)
            self.cursor = cursor
            self._save_cursor()
            if not flips or cursor == "":
                break
        if not self._caught_up:
            logger.info("flips feed: ready (older flips skipped: no stored cursor)")
        elif not self.health.feed_ok_at:
            logger.info("flips feed: ready (resumed from the stored cursor)")
        self._caught_up = True

    def _handle_page(self, checks: Mapping[str, ObjectRef],
                     flips: Iterable[Mapping[str, Any]]) -> None:
        """Report a page of flips: each check's in order, different checks side by side (a
        mass outage flips thousands at once, and each report is three API calls). An error
        stops the page before the cursor moves: the next tick replays it, and replayed flips
        are recognised (see _flip_status)."""
        by_check: dict[str, list[tuple[ObjectRef, Mapping[str, Any]]]] = {}
        for flip in flips:
            ref = checks.get(str(flip.get("check") or ""))
            if ref is not None and not ref.deleting:
                by_check.setdefault(ref.uid, []).append((ref, flip))
        _side_by_side(self._handle_flips, list(by_check.values()))

    def _handle_flips(self, group: list[tuple[ObjectRef, Mapping[str, Any]]]) -> None:
        for ref, flip in group:
            self._flipped_since_listing.add(str(flip["check"]))
            self.handle_flip(ref, flip)

    def _save_cursor(self) -> None:
        if self.cursor and self.cursor != self._saved_cursor:
            kube.write_cursor(self.state_namespace, self.cursor)
            self._saved_cursor = self.cursor

    def handle_flip(self, ref: ObjectRef, flip: Mapping[str, Any]) -> None:
        """Events first, then the status that marks the flip as reported: a crash in between
        replays the flip, and the Events, named after it, are not posted twice."""
        check = self.ctx.client.get_check(str(flip["check"]))
        flipped_at = status.parse_time(status.normalize_time(flip.get("timestamp")))
        self._patch_with_conditions(
            ref, lambda obj: self._flip_status(obj, flip, check, flipped_at),
            before_write=lambda: self._post_flip_events(ref, flip))

    def _post_flip_events(self, ref: ObjectRef, flip: Mapping[str, Any]) -> None:
        key = f"flip/{flip.get('id') or flip.get('ts')}/{flip.get('new')}"
        event = status.flip_event(flip)
        if event is not None:
            self._post_flip_event(ref.reference(), *event, key)
        mirrored = cronjob_flip_event(flip, ref.name)
        owner = ref.cronjob_reference()
        if mirrored is not None and owner is not None:
            self._post_flip_event(owner, *mirrored, key)

    def _post_flip_event(self, ref: Mapping[str, Any], type_: str, reason: str, message: str,
                         key: str) -> None:
        if self.post_flip_event is None:
            self.post_event(ref, type_, reason, message)
        else:
            self.post_flip_event(ref, type_, reason, message, key)

    @staticmethod
    def _flip_status(obj: Mapping[str, Any], flip: Mapping[str, Any],
                     check: Mapping[str, Any] | None,
                     flipped_at: dt.datetime | None) -> dict[str, Any] | None:
        current = obj.get("status") or {}
        seen = status.parse_time(current.get("lastFlip"))
        if seen and flipped_at and (flipped_at < seen or (
                flipped_at == seen and current.get("state") == status.map_state(flip.get("new")))):
            return None  # replayed after a restart: already reported
        patch = status.flip_patch(flip=flip, conditions=current.get("conditions"),
                                  generation=(obj.get("metadata") or {}).get("generation"),
                                  now=status.now_utc())
        if check is not None:
            runtime = status.runtime_fields(check)
            runtime.pop("state", None)  # the flip says which state this event is about
            patch.update(runtime)
        return patch

    def _patch_with_conditions(
            self, ref: ObjectRef,
            build: Callable[[Mapping[str, Any]], dict[str, Any] | None],
            before_write: Callable[[], None] | None = None) -> bool | None:
        """Read the object, build the patch from its current status, write it with the
        resourceVersion as a precondition (a handler may have written meanwhile).
        `before_write` runs once, before the first write (not when there is nothing to do)."""
        for _ in range(PATCH_ATTEMPTS):
            obj = kube.get_object(constants.CHECK_PLURAL, ref.namespace, ref.name)
            if obj is None or (obj.get("metadata") or {}).get("uid") != ref.uid:
                return None
            patch = build(obj)
            if patch is None:
                return None
            if before_write is not None:
                before_write()
                before_write = None
            try:
                kube.patch_status_checked(constants.CHECK_PLURAL, ref.namespace, ref.name,
                                          patch, obj["metadata"]["resourceVersion"])
                return True
            except ApiException as exc:
                if exc.status == 409:
                    continue
                if exc.status == 404:
                    return None
                raise
        logger.warning("status of %s/%s: kept conflicting, giving up this round",
                       ref.namespace, ref.name)
        return False

    # -- lastPing refresh -----------------------------------------------------------------

    def _list_for_refresh(self) -> None:
        self._flipped_since_listing = set()
        self._refresh_queue = deque((str(c.get("uuid")), c)
                                    for c in self.ctx.client.list_checks())

    def refresh_slice(self, checks: Mapping[str, ObjectRef]) -> None:
        """Refresh statuses from the round's listing for about REFRESH_SLICE seconds. A check
        whose flip the feed reported after the listing is skipped: the flip wrote newer data
        than the listing holds (the next round catches up its lastPing)."""
        deadline = self.clock() + REFRESH_SLICE
        while self._refresh_queue and self.clock() < deadline:
            batch = [self._refresh_queue.popleft()
                     for _ in range(min(REFRESH_BATCH, len(self._refresh_queue)))]
            work = []
            for uuid, check in batch:
                ref = checks.get(uuid)
                if (ref is not None and not ref.deleting and ref.status.get("checkID")
                        and uuid not in self._flipped_since_listing):
                    work.append((ref, check))
            _side_by_side(self._refresh_one, work)

    def _refresh_one(self, item: tuple[ObjectRef, Mapping[str, Any]]) -> None:
        ref, check = item
        fields = status.runtime_fields(check)
        changed = status.runtime_changed(ref.status, fields)
        if not changed:
            return
        if "state" not in changed:
            kube.patch_status(constants.CHECK_PLURAL, ref.namespace, ref.name, changed)
            return
        state = fields["state"]

        def build(obj: Mapping[str, Any]) -> dict[str, Any]:
            current = obj.get("status") or {}
            healthy = status.healthy_condition(
                state, generation=(obj.get("metadata") or {}).get("generation"),
                now=status.now_utc())
            return {**fields, "conditions": status.merge_condition(current.get("conditions"),
                                                                   healthy)}

        self._patch_with_conditions(ref, build)

    # -- drift repair ---------------------------------------------------------------------

    def repair(self, checks: Mapping[str, ObjectRef], channels: list[ObjectRef]) -> None:
        changed_namespaces = self.repair_channels(channels)
        server = {str(c.get("uuid")): c for c in self.ctx.client.list_checks()}
        channel_cache: dict[str, list[dict[str, Any]]] = {}
        # Checks without dependencies first: after the ping server lost its data, a dependent
        # can only be re-created once its dependencies are.
        for uuid, ref in sorted(checks.items(), key=lambda item: bool(item[1].spec.get(
                "dependsOn"))):
            if ref.deleting or not ref.settled or ref.invalid_as_is:
                continue
            if ref.namespace in changed_namespaces or ref.namespace not in channel_cache:
                channel_cache[ref.namespace] = kube.list_objects(constants.CHANNEL_PLURAL,
                                                                 ref.namespace)
                changed_namespaces.discard(ref.namespace)
            actual = server.get(uuid)
            reason = ""
            if actual is None:
                reason = "missing"
            else:
                try:
                    check_spec, choice, desired = reconcile.desired_check(
                        namespace=ref.namespace, name=ref.name, spec_body=ref.spec,
                        channel_bodies=channel_cache[ref.namespace], labels=ref.labels)
                except spec.SpecError:
                    continue  # the handler reports it
                drift = spec.payload_drift(desired, actual, dependency_ids=[
                    self.ctx.check_id(ref.namespace, dep) for dep in check_spec.depends_on])
                paused = str(actual.get("status")) == "paused"
                if bool(ref.spec.get("paused", False)) != paused:
                    drift.append("paused")
                if ref.channels_stale(choice):
                    drift.append("status.channels")
                if drift:
                    reason = "drift in " + ", ".join(sorted(set(drift)))
            if reason:
                self._repair_check(ref, reason, channel_cache[ref.namespace])

    def _repair_check(self, ref: ObjectRef, reason: str,
                      channel_bodies: list[dict[str, Any]]) -> None:
        try:
            result = reconcile.ensure_check(
                self.ctx, namespace=ref.namespace, name=ref.name, spec_body=ref.spec,
                generation=ref.generation, conditions=ref.status.get("conditions"),
                channel_bodies=channel_bodies, labels=ref.labels)
        except reconcile.Failure as failure:
            logger.warning("drift repair of %s/%s: %s", ref.namespace, ref.name,
                           failure.message)
            return
        kube.patch_status(constants.CHECK_PLURAL, ref.namespace, ref.name, result.status)
        self.health.repaired += 1
        logger.info("drift repair of %s/%s: %s", ref.namespace, ref.name, reason)
        if reason == "missing":
            self.post_event(ref.reference(), "Normal", constants.EVENT_RESTORED,
                            "the ping server had lost this check; re-created it with the "
                            "same ping URL")

    def repair_channels(self, channels: list[ObjectRef]) -> set[str]:
        """Re-create missing channels and re-apply changed ones (a rotated Secret included);
        copy the ping server's last delivery error into status. Returns the namespaces whose
        channel ids changed."""
        live = [c for c in channels if not c.deleting and c.settled]
        changed: set[str] = set()
        server_list: list[dict[str, Any]] | None = None
        for ref in live:
            known_id = str(ref.status.get("channelID") or "")
            actual = self.ctx.client.get_channel(known_id) if known_id else None
            try:
                desired = reconcile.channel_payload(ref.namespace, ref.name, ref.spec)
            except (spec.SpecError, kube.SecretMissing):
                continue  # the channel handler reports it
            digest = spec.config_digest(self.ctx.config.api_key, desired["config"])
            if actual is not None and actual.get("config_digest") == digest:
                error = str(actual.get("last_error") or "") or None
                if error != ref.status.get("lastError"):
                    kube.patch_status(constants.CHANNEL_PLURAL, ref.namespace, ref.name,
                                      {"lastError": error})
                continue
            if server_list is None:
                server_list = self.ctx.client.list_channels()
            try:
                result = reconcile.ensure_channel(
                    self.ctx, namespace=ref.namespace, name=ref.name, spec_body=ref.spec,
                    known_id=known_id or None, generation=ref.generation,
                    conditions=ref.status.get("conditions"), server_channels=server_list)
            except reconcile.Failure as failure:
                logger.warning("drift repair of AlertChannel %s/%s: %s", ref.namespace,
                               ref.name, failure.message)
                continue
            kube.patch_status(constants.CHANNEL_PLURAL, ref.namespace, ref.name, result.status)
            self.health.repaired += 1
            logger.info("drift repair of AlertChannel %s/%s: %s", ref.namespace, ref.name,
                        "missing" if actual is None else "settings changed")
            if result.channel_id != known_id:
                changed.add(ref.namespace)
        return changed


# -- annotated CronJobs and their Jobs ----------------------------------------------------


@dataclass
class Workloads:
    """The retry path for CronJobs and Jobs (the Kopf event handlers are the fast path and
    are not retried): every tick, the Jobs of monitored CronJobs with signals still to send
    (from their ledger, so without API calls for the rest); every HB_DRIFT_INTERVAL, every
    CronJob (its generated HeartbeatCheck and conditions)."""

    ctx: reconcile.Context
    state: cronjobs.State
    post_event: EventPoster
    clock: Callable[[], float] = time.monotonic
    _next_cronjobs: float = 0.0
    _warned: dict[str, tuple[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._next_cronjobs = self.clock() + self.ctx.config.drift_interval

    def tick(self, *, cronjob_bodies: Mapping[str, Mapping[str, Any]],
             job_bodies: Mapping[str, Mapping[str, Any]],
             namespaces: Mapping[str, str | None],
             checks: Mapping[str, ObjectRef]) -> None:
        """`cronjob_bodies` by CronJob uid, `job_bodies` by Job uid (slim bodies from the
        inventory), `namespaces`: Namespace name -> its opt-in annotation (None: none),
        `checks`: HeartbeatChecks by check id. CronJobs and Jobs in namespaces not seen yet
        wait: a missing opt-in would make them look unmonitored."""
        for job in job_bodies.values():
            self._job(job, cronjob_bodies, namespaces, checks)
        now = self.clock()
        if now >= self._next_cronjobs:
            self._next_cronjobs = now + self.ctx.config.drift_interval
            for cronjob in cronjob_bodies.values():
                namespace = str((cronjob.get("metadata") or {}).get("namespace"))
                name = str((cronjob.get("metadata") or {}).get("name"))
                if namespace not in namespaces:
                    continue
                try:
                    cronjobs.reconcile_cronjob(
                        self.state, cronjob, default_tz=self.ctx.config.cronjob_default_tz,
                        namespace_opt_in=namespaces.get(namespace),
                        post_event=self.post_event,
                        check_known=self.ctx.check_id(namespace, name) in checks)
                except ApiException as exc:
                    self._warn(f"CronJob {namespace}/{name}", exc)

    def _job(self, job: Mapping[str, Any], cronjob_bodies: Mapping[str, Mapping[str, Any]],
             namespaces: Mapping[str, str | None],
             checks: Mapping[str, ObjectRef]) -> None:
        owner = jobs.owner_cronjob(job)
        state = jobs.job_state(job)
        if (owner is None or not jobs.pending_signals(state)
                or state.namespace not in namespaces):
            return
        cronjob = cronjob_bodies.get(owner[1])
        if cronjob is None:
            return
        settings = cronjobs.parse_annotations(
            (cronjob.get("metadata") or {}).get("annotations"), namespaces.get(state.namespace))
        if not settings.monitored or not settings.observe_jobs:
            return
        ref = checks.get(self.ctx.check_id(state.namespace, owner[0]))
        if ref is None or not ref.status.get("checkID") or not ref.cronjob_uid:
            return  # not registered yet: its handler will get there
        if not jobs.reportable(state, status.parse_time(ref.created)):
            return
        what = f"Job {state.namespace}/{state.name}"
        try:
            jobs.reconcile_job(self.ctx, self.state, job, cronjob=cronjob,
                               namespace_opt_in=namespaces.get(state.namespace),
                               post_event=self.post_event)
        except jobs.NotReady as exc:
            logger.debug("%s: %s", what, exc)
        except (PingServerUnavailable, PingServerRejected, ApiException) as exc:
            self._warn(what, exc)
        else:
            self._warned.pop(what, None)

    def _warn(self, what: str, exc: Exception) -> None:
        warn_rarely(self._warned, f"{what}: {exc} (retrying)", what, self.clock())

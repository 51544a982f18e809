"""Plain, typed, idempotent reconcile steps shared by the Kopf handlers and the background loop.

Each `ensure_*` function brings the ping server in line with one object and returns the status
to write; each failure comes back as a `Failure` that says how to report and retry it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heartbeat_operator import constants, identity, kube, spec, status
from heartbeat_operator.client import PingServerClient, PingServerRejected, PingServerUnavailable
from heartbeat_operator.config import OperatorConfig

logger = logging.getLogger(__name__)

BACKOFF_BASE = 5.0
PING_KEY_PLACEHOLDER = "$(HB_PING_KEY)"


@dataclass
class Context:
    """What every reconcile needs; built once at start-up and kept in Kopf's memo."""

    config: OperatorConfig
    client: PingServerClient

    def check_id(self, namespace: str, name: str) -> str:
        return identity.check_uuid(self.config.cluster_secret, namespace, name)


@dataclass
class Failure(Exception):
    """A reconcile that could not finish. `permanent`: retrying the same spec cannot help
    (Kopf PermanentError); otherwise retry after a growing, capped delay."""

    reason: str
    message: str
    status: dict[str, Any]
    permanent: bool = False
    delay: float = 0.0

    def __str__(self) -> str:
        return self.message


@dataclass
class CheckResult:
    check_id: str
    created: bool
    status: dict[str, Any]
    check: dict[str, Any] = field(repr=False)
    pending_channels: tuple[str, ...] = ()


def backoff(retry: int, cap: float, at_least: float = 0.0) -> float:
    """5 s, 10 s, 20 s, ... capped; never shorter than what the server asked for."""
    delay = BACKOFF_BASE * (2 ** min(max(retry, 0), 16))
    return float(min(cap, max(delay, at_least)))


# The API's field names in its 400 messages -> the HeartbeatCheck spec's, where they differ
# in more than case (the message then names the field the user wrote).
CHECK_FIELDS = {"depends_on": "spec.dependsOn"}


def failure(exc: Exception, *, generation: int | None,
             conditions: Sequence[Mapping[str, Any]] | None, now: dt.datetime,
             fields: Mapping[str, str] = CHECK_FIELDS) -> Failure:
    """How to report and retry `exc` (re-raised when it is none of ours); `fields` maps the
    API's field names in its 400 messages to the spec's."""
    permanent = False
    delay = 0.0
    if isinstance(exc, spec.SpecError):
        reason, message, permanent = constants.REASON_INVALID, str(exc), True
    elif isinstance(exc, PingServerRejected):
        named = spec.api_error_field(exc.message, fields)
        where = f"{named}: " if named else ""
        if exc.unknown_channel:
            reason = constants.REASON_CHANNELS_PENDING
            message = (f"the ping server does not know a channel ({exc.message}); "
                       "waiting for the AlertChannel to be registered again")
        elif exc.unknown_dependency:
            reason = constants.REASON_DEPENDENCIES_PENDING
            message = (f"{where}the ping server refused it ({exc.message}); waiting for the "
                       "HeartbeatCheck to exist and be registered")
        elif exc.invalid_spec:
            reason, permanent = constants.REASON_INVALID, True
            message = f"{where}the ping server refused the spec: {exc.message}"
        else:
            reason = constants.REASON_REJECTED
            message = f"the ping server refused the request ({exc.status}): {exc.message}"
    elif isinstance(exc, PingServerUnavailable):
        reason, message, delay = constants.REASON_UNAVAILABLE, str(exc), float(exc.delay or 0)
    elif isinstance(exc, kube.SecretMissing):
        reason, message = constants.REASON_SECRET_MISSING, str(exc)
    else:
        raise exc
    patch = status.failure_patch(reason=reason, message=message, generation=generation,
                                 conditions=conditions, now=now)
    return Failure(reason, message, patch, permanent, delay)


# -- HeartbeatCheck -----------------------------------------------------------------------


def slug_url(ping_url: str | None, slug: str) -> str | None:
    """The slug ping URL with the ping key left as `$(HB_PING_KEY)`: the key is a project-wide
    secret, so it lives in the `heartbeat-ping-key` Secret, not in status. In a Pod spec,
    Kubernetes expands `$(HB_PING_KEY)` from an env var defined from that Secret."""
    if not ping_url or "/ping/" not in ping_url:
        return None
    base = ping_url.rsplit("/", 1)[0]
    return f"{base}/{PING_KEY_PLACEHOLDER}/{slug}"


def desired_check(*, namespace: str, name: str, spec_body: Mapping[str, Any],
                  channel_bodies: Sequence[Mapping[str, Any]] | None = None,
                  labels: Mapping[str, str] | None = None,
                  ) -> tuple[spec.CheckSpec, spec.ChannelChoice, dict[str, Any]]:
    """The parsed spec, the chosen channels and the API payload (raises SpecError).
    AlertChannels come from `channel_bodies`, or are listed from the API when needed."""
    check_spec = spec.parse_check_spec(spec_body)
    choice = spec.ChannelChoice((), (), ())
    if check_spec.uses_channels:
        if channel_bodies is None:
            channel_bodies = kube.list_objects(constants.CHANNEL_PLURAL, namespace)
        choice = spec.choose_channels(check_spec, channel_bodies)
    payload = spec.check_payload(check_spec, namespace=namespace, name=name,
                                 channel_ids=choice.ids, labels=labels)
    return check_spec, choice, payload


def ensure_check(ctx: Context, *, namespace: str, name: str, spec_body: Mapping[str, Any],
                 generation: int | None, conditions: Sequence[Mapping[str, Any]] | None,
                 channel_bodies: Sequence[Mapping[str, Any]] | None = None,
                 labels: Mapping[str, str] | None = None,
                 now: dt.datetime | None = None) -> CheckResult:
    """Create or update the check of one HeartbeatCheck (its UUID derives from the cluster
    secret and the object's namespace/name, so repeating this never duplicates it).

    `labels` are the object's, sent with the check for `label:<key>` silence matchers.
    """
    now = now or status.now_utc()
    try:
        check_spec, choice, payload = desired_check(
            namespace=namespace, name=name, spec_body=spec_body,
            channel_bodies=channel_bodies, labels=labels)
        check_id = ctx.check_id(namespace, name)
        check, created = ctx.client.upsert_check(check_id, payload)
        check = _apply_pause(ctx.client, check_id, check, check_spec.paused)
        if ctx.config.ping_key and check.get("ping_url"):
            base = str(check["ping_url"]).rsplit("/", 1)[0]
            kube.ensure_ping_key_secret(namespace, ctx.config.ping_key, base)
    except (spec.SpecError, PingServerRejected, PingServerUnavailable, kube.SecretMissing) as exc:
        raise failure(exc, generation=generation, conditions=conditions, now=now) from None
    url = slug_url(check.get("ping_url"), str(payload["slug"])) if ctx.config.ping_key else None
    patch = status.ready_patch(check_id=check_id, check=check, spec=check_spec, choice=choice,
                               slug_url=url, generation=generation, conditions=conditions,
                               now=now)
    return CheckResult(check_id=check_id, created=created, status=patch, check=check,
                       pending_channels=choice.pending)


def _apply_pause(client: PingServerClient, check_id: str, check: dict[str, Any],
                 paused: bool) -> dict[str, Any]:
    state = str(check.get("status") or "")
    if paused and state != "paused":
        return client.pause_check(check_id) or check
    if not paused and state == "paused":
        return client.resume_check(check_id) or check
    return check


def remove_check(ctx: Context, *, namespace: str, name: str,
                 spec_body: Mapping[str, Any]) -> str:
    """Delete the check unless the object says Retain. Returns what happened: "deleted",
    "absent" or "retained". Raises PingServerUnavailable/PingServerRejected to retry."""
    policy = str(spec_body.get("deletionPolicy") or constants.DELETE)
    if policy == constants.RETAIN:
        return "retained"
    existed = ctx.client.delete_check(ctx.check_id(namespace, name))
    return "deleted" if existed else "absent"


# -- AlertChannel -------------------------------------------------------------------------


@dataclass
class ChannelResult:
    channel_id: str
    created: bool
    status: dict[str, Any]


def channel_payload(namespace: str, name: str, spec_body: Mapping[str, Any]) -> dict[str, Any]:
    return spec.channel_payload(spec_body, namespace=namespace, name=name,
                                resolve=kube.SecretReader(namespace))


def ensure_channel(ctx: Context, *, namespace: str, name: str, spec_body: Mapping[str, Any],
                   known_id: str | None, generation: int | None,
                   conditions: Sequence[Mapping[str, Any]] | None,
                   server_channels: Sequence[Mapping[str, Any]] | None = None,
                   now: dt.datetime | None = None) -> ChannelResult:
    """Create or update the ping server channel of one AlertChannel. The ping server chooses
    channel ids, so the id is kept in status; a channel whose id was lost (status wiped,
    operator crashed between create and status write) is found again by its unique name."""
    now = now or status.now_utc()
    try:
        payload = channel_payload(namespace, name, spec_body)
        channel: dict[str, Any] | None = None
        if known_id:
            channel = ctx.client.update_channel(known_id, payload)
        if channel is None:
            listing = (server_channels if server_channels is not None
                       else ctx.client.list_channels())
            same = [c for c in listing if c.get("name") == payload["name"]]
            if same:
                channel = ctx.client.update_channel(str(same[0]["id"]), payload)
        created = False
        if channel is None:
            channel = ctx.client.create_channel(payload)
            created = True
    except (spec.SpecError, PingServerRejected, PingServerUnavailable, kube.SecretMissing) as exc:
        failed = failure(exc, generation=generation, conditions=conditions, now=now)
        patch = status.channel_failure_patch(reason=failed.reason, message=failed.message,
                                             generation=generation, conditions=conditions,
                                             now=now)
        raise Failure(failed.reason, failed.message, patch, failed.permanent,
                      failed.delay) from None
    channel_id = str(channel.get("id") or "")
    patch = status.channel_ready_patch(channel_id=channel_id, kind=str(payload["kind"]),
                                       last_error=str(channel.get("last_error") or ""),
                                       generation=generation, conditions=conditions, now=now)
    return ChannelResult(channel_id, created, patch)


def remove_channel(ctx: Context, *, channel_id: str | None) -> bool:
    if not channel_id:
        return False
    return ctx.client.delete_channel(channel_id)


def channel_used_by(check_spec: Mapping[str, Any], channel_name: str,
                    channel_labels: Mapping[str, str]) -> bool:
    if channel_name in (check_spec.get("channels") or []):
        return True
    selector = check_spec.get("channelSelector")
    return isinstance(selector, Mapping) and spec.selector_matches(selector, channel_labels)


def nudge_dependent_checks(*, namespace: str, channel_name: str,
                           channel_labels: Mapping[str, str]) -> int:
    """Re-run the handlers of the checks that use a channel (it got an id, changed labels, or
    went away) by changing an annotation they watch, so that their channel lists follow. The
    check's own handler stays the only writer of its check and status: a channel handler that
    upserted the check itself could mark it Ready while the check handler's older upsert,
    without the channel, was still to land. Returns how many checks were nudged."""
    stamp = f"{channel_name}@{time.time_ns()}"
    nudged = 0
    for obj in kube.list_objects(constants.CHECK_PLURAL, namespace):
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        previous = (obj.get("status") or {}).get("channels") or []
        if not (channel_used_by(obj.get("spec") or {}, channel_name, channel_labels)
                or channel_name in previous):
            continue
        patch = {"metadata": {"annotations": {constants.CHANNELS_CHANGED_ANNOTATION: stamp}}}
        if kube.patch_object(constants.CHECK_PLURAL, namespace, meta["name"], patch):
            nudged += 1
    return nudged

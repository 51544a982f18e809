"""HeartbeatSilence -> a silence on the ping server: upsert, refresh, expire.

Plain, typed and idempotent, as reconcile.py: the silence id derives from the cluster secret
and the object's namespace/name, so an upsert repeated after a restart replaces the same
silence. Every silence carries `namespace=<its namespace>`: it mutes its own namespace only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heartbeat_operator import identity, reconcile, spec, status
from heartbeat_operator.client import PingServerRejected, PingServerUnavailable


@dataclass
class SilenceResult:
    silence_id: str
    created: bool
    status: dict[str, Any]


def silence_id(ctx: reconcile.Context, namespace: str, name: str) -> str:
    return identity.silence_uuid(ctx.config.cluster_secret, namespace, name)


def ensure_silence(ctx: reconcile.Context, *, namespace: str, name: str,
                   spec_body: Mapping[str, Any], created_at: str, generation: int | None,
                   conditions: Sequence[Mapping[str, Any]] | None,
                   now: dt.datetime | None = None) -> SilenceResult:
    """Create or replace the silence of one HeartbeatSilence; raises reconcile.Failure."""
    now = now or status.now_utc()
    try:
        silence_spec = spec.parse_silence_spec(spec_body)
        payload = spec.silence_payload(silence_spec, namespace=namespace, name=name,
                                       created_at=created_at)
        sid = silence_id(ctx, namespace, name)
        answer, created = ctx.client.upsert_silence(sid, payload)
    except (spec.SpecError, PingServerRejected, PingServerUnavailable) as exc:
        raise reconcile.failure(exc, generation=generation, conditions=conditions, now=now,
                                fields=spec.SILENCE_FIELDS) from None
    matchers = [m.text() for m in spec.silence_matchers(silence_spec, namespace)]
    patch = status.silence_ready_patch(silence_id=sid, silence=answer, spec=silence_spec,
                                       matchers=matchers, generation=generation,
                                       conditions=conditions, now=now)
    return SilenceResult(sid, created, patch)


def remove_silence(ctx: reconcile.Context, *, namespace: str, name: str) -> bool:
    """Expire the silence now (the ping server keeps it listable for a while). Raises
    PingServerUnavailable/PingServerRejected to retry."""
    return ctx.client.expire_silence(silence_id(ctx, namespace, name))


def refresh_due(current: Mapping[str, Any], *, now: dt.datetime, last_refresh: float | None,
                clock: float, every: float) -> bool:
    """Whether to read the silence again: its state is due to change (it starts or ends), or
    its matched-checks count was last read `every` seconds ago or longer."""
    changes_at = status.silence_next_change(current)
    if changes_at is not None and now >= changes_at:
        return True
    return last_refresh is None or clock - last_refresh >= every


def refresh_patch(ctx: reconcile.Context, *, namespace: str, name: str,
                  current: Mapping[str, Any]) -> dict[str, Any] | None:
    """The status fields that moved since `current` (None: nothing to write). A silence the
    ping server lost (its data wiped) comes back as {} : the caller re-applies the spec."""
    answer = ctx.client.get_silence(silence_id(ctx, namespace, name))
    if answer is None:
        return {}
    return status.runtime_changed(current, status.silence_runtime_fields(answer)) or None

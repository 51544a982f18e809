"""Held alerts: the notifier's side of silences, maintenance windows and dependencies.

A down (or late) alert of a muted check is not delivered: it is written to its shard's held
hash (keys.held_key) and the flip is acknowledged, so a notifier that dies afterwards loses
nothing. Every HB_HOLD_CHECK_INTERVAL, and at once when a silence opens or closes, each
notifier looks at the held alerts of its shards; those no longer muted go back into the
stream through release.lua, which compares the entry with what the notifier read, so with any
number of notifiers each held alert is released exactly once. A recovery flip of a check
whose alert is held removes the entry and sends nothing: the receiver never heard of the
outage. Repeat reminders of a muted check are dropped (the alert they repeat was delivered
before the silence, or is held already).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pingserver.config import Settings
from pingserver.engine.flips import Flip
from pingserver.metrics import ALERTS_HELD, ALERTS_RELEASED
from pingserver.model import Check
from pingserver.silences import Mute, SilenceIndex, mute_of
from pingserver.store import Store, now_ms

log = logging.getLogger("hb.notifier")

RELOAD_SECONDS = 0.5  # how stale the silences may be when held alerts are looked at
REBUILD_SECONDS = 60.0  # the index is rebuilt even without changes (expired ones leave it)
HOLD_KINDS = ("down", "late")


@dataclass(frozen=True)
class Decision:
    """What to do with one alert: deliver, hold (with why) or drop."""

    action: str  # "deliver" | "hold" | "drop"
    mute: Mute = field(default_factory=Mute)


DELIVER = Decision("deliver")


class Holds:
    def __init__(self, store: Store, settings: Settings, shards: Sequence[int]) -> None:
        self.store = store
        self.settings = settings
        self.shards = list(shards)
        self.index = SilenceIndex()
        self.version = -1
        self.checked_at = 0.0  # monotonic time of the last version check
        self.built_at = 0.0
        # An entry whose check is no longer down is left for the recovery flip to drop; past
        # this age no flip in delivery can still be on its way.
        self.max_age_ms = int(max(60.0, 2 * settings.notify_claim_idle) * 1000)

    # The silence index -------------------------------------------------------------------

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the silences when they changed (one GET per RELOAD_SECONDS)."""
        now = time.monotonic()
        if not force and now - self.checked_at < RELOAD_SECONDS:
            return
        self.checked_at = now
        version = await self.store.silences_version()
        if version == self.version and now - self.built_at < REBUILD_SECONDS:
            return
        version, silences = await self.store.all_silences()
        names = await self.store.project_names() if silences else {}
        self.index = SilenceIndex.build(silences, names, now_ms())
        self.version, self.built_at = version, now

    async def _dependencies(self, checks: Sequence[Check]) -> dict[str, Check]:
        wanted = sorted({d for c in checks for d in c.depends_on})
        return await self.store.checks_by_id(wanted) if wanted else {}

    def _mutes(self, checks: Sequence[Check], deps: dict[str, Check]) -> dict[str, Mute]:
        now = now_ms()
        return {c.uuid: mute_of(c, self.index, deps, now) for c in checks}

    # Deciding flips ----------------------------------------------------------------------

    async def decide(self, alerts: Sequence[tuple[Flip, Check, str]]) -> list[Decision]:
        """One decision per (flip, check, alert kind), in order."""
        if not alerts:
            return []
        # A GET of the version per batch: a silence made before a flip always applies to it.
        await self.refresh(force=True)
        muted_kind = [(f, c) for f, c, k in alerts if k in HOLD_KINDS]
        deps = await self._dependencies([c for _, c in muted_kind])
        mutes = self._mutes([c for _, c in muted_kind], deps)
        recoveries = [c.uuid for _, c, k in alerts if k not in HOLD_KINDS]
        had = dict(zip(recoveries, await self.store.drop_held(recoveries), strict=True)) \
            if recoveries else {}
        out: list[Decision] = []
        for flip, check, kind in alerts:
            if kind not in HOLD_KINDS:
                out.append(Decision("drop") if had.get(check.uuid) else DELIVER)
                continue
            mute = mutes[check.uuid]
            if not mute:
                out.append(DELIVER)
            elif flip.repeat:
                out.append(Decision("drop", mute))
            else:
                out.append(Decision("hold", mute))
        return out

    async def hold(self, flip: Flip, check: Check, kind: str, mute: Mute) -> None:
        why = mute.reason
        await self.store.hold(check.uuid, {
            "flip": flip.id, "kind": kind, "project": check.project, "ts": flip.ts,
            "reason": flip.reason, "rid": flip.rid, "held_at": now_ms(), "why": why,
            "silences": [s.id for s in mute.silences],
            "deps": [c.uuid for c in mute.held_by]})
        await self.store.note(check.uuid, {
            "ts": now_ms(), "flip": flip.id, "flip_ts": flip.ts, "channel": "", "kind": kind,
            "reason": flip.reason, "status": "held", "why": why})
        ALERTS_HELD.labels(kind).inc()
        log.info("flip %s of check %s held: %s", flip.id, check.uuid, why)

    async def dropped(self, flip: Flip, check: Check, kind: str, mute: Mute) -> None:
        why = mute.reason or "recovered while its alert was held"
        await self.store.note(check.uuid, {
            "ts": now_ms(), "flip": flip.id, "flip_ts": flip.ts, "channel": "", "kind": kind,
            "reason": flip.reason, "status": "dropped", "why": why})

    # Releasing ---------------------------------------------------------------------------

    def next_wake(self, interval: float) -> float:
        """Seconds until the next look: the interval, or sooner when a silence changes."""
        change = self.index.next_change(now_ms())
        if not change:
            return interval
        return max(0.01, min(interval, (change - now_ms()) / 1000 + 0.01))

    async def release_due(self) -> int:
        """Hand back the held alerts of this notifier's shards that are no longer muted;
        returns how many went back into the stream."""
        await self.refresh()
        counts = await self.store.held_counts()
        released = 0
        for shard in self.shards:
            if counts[shard]:
                released += await self._release_shard(shard)
        return released

    async def _release_shard(self, shard: int) -> int:
        held = await self.store.held(shard)
        checks = await self.store.checks_by_id(sorted(held))
        deps = await self._dependencies(list(checks.values()))
        mutes = self._mutes(list(checks.values()), deps)
        released = 0
        for uuid, raw in held.items():
            if mutes.get(uuid):
                continue
            result = await self.store.release(uuid, raw, self.max_age_ms)
            if result == 1:
                released += 1
                ALERTS_RELEASED.inc()
                log.info("check %s: held alert released", uuid)
        return released

"""Flip stream entries and the rule deciding which of them become alerts (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from pingserver.model import Check

QUIET_REASONS = ("fail_tolerated", "pause", "resume")


@dataclass(frozen=True)
class Flip:
    """One entry of a shard's flip stream (see keys.py and common.lua `flip`)."""

    id: str  # stream id: unique, so it is the idempotency key of every delivery
    check: str
    project: str
    old: str
    new: str
    ts: int  # ms: the flip time, which is the computed deadline for timeouts
    reason: str
    rid: str
    downtime: int  # ms: how long the check was down (recoveries and reminders)
    released: bool = False  # a held alert handed back when its silence or dependency ended

    @classmethod
    def from_fields(cls, entry_id: str, fields: dict[str, str]) -> Flip:
        return cls(id=entry_id, check=fields["check"], project=fields.get("project", ""),
                   old=fields.get("old", ""), new=fields.get("new", ""),
                   ts=int(fields.get("ts") or 0), reason=fields.get("reason", ""),
                   rid=fields.get("rid", ""), downtime=int(fields.get("downtime") or 0),
                   released=fields.get("released") == "1")

    @property
    def created_ms(self) -> int:
        """When the entry entered the stream (the milliseconds part of its id)."""
        return int(self.id.split("-", 1)[0])

    @property
    def repeat(self) -> bool:
        return self.reason == "repeat"


def alert_kind(flip: Flip, check: Check) -> str | None:
    """"down", "up" or "late" when the flip should alert the check's channels, else None.

    Nothing for new->up and paused->up (healthchecks), for pause and resume, and for a
    failure below the check's threshold. Late and its recovery only for checks with
    alert_on_late. A repeat reminder resends the down alert while the check is still down.
    """
    if flip.reason in QUIET_REASONS or flip.new in ("new", "paused"):
        return None
    if flip.new == "down":
        if flip.repeat and check.status != "down":
            return None  # recovered before the reminder was handled: stay quiet
        return "down"
    if flip.new == "late":
        return "late" if check.config["alert_on_late"] else None
    if flip.new == "up":
        if flip.old == "down":
            return "up"
        if flip.old == "late" and check.config["alert_on_late"]:
            return "up"
    return None

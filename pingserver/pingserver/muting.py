"""Which of a project's checks are muted now, for the API and the dashboard (the notifier
keeps its own cached index: engine/hold.py)."""

from __future__ import annotations

from collections.abc import Sequence

from pingserver.model import Check
from pingserver.silences import Mute, SilenceIndex, mute_of
from pingserver.store import Store


async def project_index(store: Store, pid: str, now: int) -> SilenceIndex:
    project = await store.project(pid)
    return SilenceIndex.build(await store.list_silences(pid), {pid: project.get("name", "")},
                              now)


async def mutes(store: Store, pid: str, checks: Sequence[Check], now: int) -> dict[str, Mute]:
    """Mute of each check; dependencies missing from `checks` are read."""
    index = await project_index(store, pid, now)
    known = {c.uuid: c for c in checks}
    missing = sorted({d for c in checks for d in c.depends_on} - set(known))
    if missing:
        known.update(await store.checks_by_id(missing))
    return {c.uuid: mute_of(c, index, known, now) for c in checks}

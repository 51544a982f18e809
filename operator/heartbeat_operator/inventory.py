"""What the operator knows of the cluster's objects, kept up to date from watch events.

Kopf's event handlers (main.py) write here; the background loop and the CronJob and Job
handlers read. Kopf's own indexes (`@kopf.index`) would do the same, but in Kopf 1.45 every
object that appears before the indexes are complete wakes every waiting worker: O(n²) at
start-up, and 10,000 HeartbeatChecks never got Ready. Without index handlers Kopf does not
hold its workers back, so what is read here may still be incomplete right after start-up:
`caught_up` says when it covers a given listing.

Writers run on Kopf's event loop, readers in handler threads and in the daemon's thread:
every table guards its dict with a lock and hands out copies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from heartbeat_operator.background import ObjectRef

T = TypeVar("T")


class Table(Generic[T]):
    """A dict behind a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, T] = {}

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._items[key] = value

    def put_new(self, key: str, value: T) -> None:
        """Put unless the key is there already (a watch event may have been faster)."""
        with self._lock:
            self._items.setdefault(key, value)

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def get(self, key: str) -> T | None:
        with self._lock:
            return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def snapshot(self) -> dict[str, T]:
        with self._lock:
            return dict(self._items)


@dataclass
class Inventory:
    checks: Table[ObjectRef] = field(default_factory=Table)  # by check id
    channels: Table[ObjectRef] = field(default_factory=Table)  # by "namespace/name"
    cronjobs: Table[dict[str, Any]] = field(default_factory=Table)  # slim bodies by uid
    jobs: Table[dict[str, Any]] = field(default_factory=Table)  # Jobs of CronJobs, by uid
    # Namespace name -> its opt-in annotation (None: not annotated). A name missing here has
    # not been seen yet (see main.py: then it is read from the API once).
    namespaces: Table[str | None] = field(default_factory=Table)

    def missing(self, uids: Iterable[str]) -> int:
        """How many of the listed HeartbeatCheck and AlertChannel uids are not held yet."""
        held = {ref.uid for ref in self.checks.snapshot().values()}
        held.update(ref.uid for ref in self.channels.snapshot().values())
        return sum(1 for uid in uids if uid not in held)

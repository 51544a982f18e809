"""The operator's inventory: the tables the watch-event handlers fill and the background loop
reads, and how it tells that everything listed at start-up has been seen."""

from __future__ import annotations

from typing import Any

from heartbeat_operator.background import ObjectRef
from heartbeat_operator.inventory import Inventory, Table


def ref(kind: str, name: str) -> ObjectRef:
    body: dict[str, Any] = {"kind": kind, "metadata": {"name": name, "namespace": "ns",
                                                       "uid": f"uid-{name}"}}
    return ObjectRef.from_body(body)


def test_table_put_drop_and_snapshot_is_a_copy() -> None:
    table: Table[int] = Table()
    table.put("a", 1)
    table.put("a", 2)
    snapshot = table.snapshot()
    table.put("b", 3)
    table.drop("a")
    table.drop("missing")
    assert snapshot == {"a": 2}
    assert table.snapshot() == {"b": 3}
    assert "b" in table and "a" not in table
    assert table.get("b") == 3 and table.get("a") is None


def test_put_new_keeps_what_a_watch_event_put_first() -> None:
    table: Table[str | None] = Table()
    table.put("ns", "true")  # the Namespace's watch event
    table.put_new("ns", None)  # an older read from the API arriving later
    table.put_new("other", "false")
    assert table.snapshot() == {"ns": "true", "other": "false"}


def test_missing_counts_listed_checks_and_channels_not_seen_yet() -> None:
    inventory = Inventory()
    listed = ["uid-a", "uid-b", "uid-hook"]
    assert inventory.missing(listed) == 3
    inventory.checks.put("id-a", ref("HeartbeatCheck", "a"))
    inventory.channels.put("ns/hook", ref("AlertChannel", "hook"))
    assert inventory.missing(listed) == 1
    inventory.checks.put("id-b", ref("HeartbeatCheck", "b"))
    assert inventory.missing(listed) == 0
    inventory.checks.drop("id-a")
    assert inventory.missing(listed) == 1

"""`hb status`: the project's checks as a table, through the management API."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hb.client import EXIT_OK, EXIT_REJECTED, Policy, Result, report, request

PROG = "hb status"
COLUMNS = ("NAME", "STATUS", "LAST PING", "NEXT PING", "TAGS")


def ago(iso: str | None, now: datetime) -> str:
    """'2024-01-01T00:00:00+00:00' -> '5m ago' / 'in 2h'; '-' for never."""
    if not iso:
        return "-"
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = int((now - then).total_seconds())
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            text = f"{span // size}{unit}"
            break
    else:
        text = f"{span}s"
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def rows(checks: Sequence[Mapping[str, Any]], now: datetime) -> list[list[str]]:
    ordered = sorted(checks, key=lambda c: (str(c.get("name") or c.get("slug") or "")))
    table = []
    for check in ordered:
        status = str(check.get("status", "?"))
        if check.get("started") and status not in ("paused", "started"):
            status += " (running)"
        table.append([str(check.get("name") or check.get("slug") or "(unnamed)"), status,
                      ago(check.get("last_ping"), now), ago(check.get("next_ping"), now),
                      str(check.get("tags") or "")])
    return table


def render(checks: Sequence[Mapping[str, Any]], now: datetime | None = None) -> str:
    from tabulate import tabulate

    if not checks:
        return "no checks"
    return tabulate(rows(checks, now or datetime.now(UTC)), headers=COLUMNS, tablefmt="plain")


def fetch(api: str, key: str, policy: Policy, tags: Sequence[str] = ()) -> tuple[Result, Any]:
    url = f"{api.rstrip('/')}/api/v3/checks/"
    params = {"tag": list(tags)} if tags else None
    result = request("GET", url, policy, headers={"X-Api-Key": key}, params=params)
    if not result.ok:
        return result, None
    try:
        return result, json.loads(result.text)["checks"]
    except (ValueError, KeyError, TypeError):
        return Result(EXIT_REJECTED, result.status, "the answer is not a list of checks"), None


def run(api: str, key: str, policy: Policy, *, tags: Sequence[str] = (),
        as_json: bool = False) -> int:
    result, checks = fetch(api, key, policy, tags)
    if checks is None:
        report(PROG, result, f"GET {api.rstrip('/')}/api/v3/checks/")
        return result.exit_code
    print(json.dumps(checks, indent=2) if as_json else render(checks))
    return EXIT_OK

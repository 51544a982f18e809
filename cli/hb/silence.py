"""`hb silence add|list|expire`: silences through the management API (docs/oncall.md).

Matchers are passed to the API as written, in amtool's syntax (`tag=db`, `name=~"nightly-.*"`),
so there is one parser, the server's. `add` prints the new silence's id alone, for scripts:

    ID=$(hb silence add tag=db --duration 2h --comment "pg upgrade")
    ...maintenance...
    hb silence expire "$ID"

Exit codes as the other client commands, except that a request the API refuses as invalid
(400: an unknown matcher name, a bad regex, an end before the start...) is a usage error, 2,
with the API's message naming the field.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hb.client import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Policy, Result, report, request
from hb.status import ago

PROG = "hb silence"
COLUMNS = ("ID", "STATE", "MATCHERS", "ENDS/NEXT", "COMMENT")
COMMENT_WIDTH = 40


def _url(api: str, sid: str = "") -> str:
    return f"{api.rstrip('/')}/api/v3/silences/{sid}"


def _headers(key: str) -> dict[str, str]:
    return {"X-Api-Key": key, "Content-Type": "application/json"}


def _failed(prog: str, result: Result, what: str) -> int:
    """Say why on stderr; a 400 is the caller's mistake (exit 2), with the API's words."""
    if result.status == 400:
        try:
            message = str(json.loads(result.text)["error"])
        except (ValueError, KeyError, TypeError):
            message = result.text.strip()[:200]
        print(f"{prog}: {message}", file=sys.stderr)
        return EXIT_USAGE
    report(prog, result, what)
    return result.exit_code


def add_body(matchers: Sequence[str], *, comment: str, author: str, duration: int | None,
             start: str | None, end: str | None, schedule: str | None,
             tz: str | None) -> dict[str, Any]:
    """The API request; fields not given are left out, so the API's defaults and checks
    apply (a start of now, `tz` only with a schedule...)."""
    body: dict[str, Any] = {"matchers": list(matchers), "comment": comment,
                            "created_by": author}
    optional = {"duration": duration, "starts_at": start, "ends_at": end,
                "schedule": schedule, "tz": tz}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def add(api: str, key: str, policy: Policy, body: Mapping[str, Any]) -> int:
    result = request("POST", _url(api), policy, body=json.dumps(body).encode(),
                     headers=_headers(key))
    if not result.ok:
        return _failed(f"{PROG} add", result, f"POST {_url(api)}")
    try:
        print(json.loads(result.text)["id"])
    except (ValueError, KeyError, TypeError):
        print(f"{PROG} add: the answer has no silence id", file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


def matcher_text(m: Mapping[str, Any]) -> str:
    """The API's matcher object in amtool syntax."""
    op = ("=~" if m.get("isEqual", True) else "!~") if m.get("isRegex") else (
        "=" if m.get("isEqual", True) else "!=")
    return f"{m.get('name')}{op}{json.dumps(str(m.get('value', '')))}"


def when(silence: Mapping[str, Any], now: datetime) -> str:
    """When an active silence ends, a pending one next starts, an expired one ended."""
    state = silence.get("state")
    if state == "active":
        return "ends " + ago(silence.get("current_end"), now)
    if state == "pending":
        return "starts " + ago(silence.get("next_start"), now)
    return "ended " + ago(silence.get("ends_at") or silence.get("updated_at"), now)


def rows(silences: Sequence[Mapping[str, Any]], now: datetime) -> list[list[str]]:
    table = []
    for s in silences:
        comment = str(s.get("comment") or "")
        if len(comment) > COMMENT_WIDTH:
            comment = comment[:COMMENT_WIDTH - 1] + "…"
        table.append([str(s.get("id")), str(s.get("state")),
                      " ".join(matcher_text(m) for m in s.get("matchers") or ()),
                      when(s, now), comment])
    return table


def render(silences: Sequence[Mapping[str, Any]], now: datetime | None = None) -> str:
    from tabulate import tabulate

    if not silences:
        return "no silences"
    return tabulate(rows(silences, now or datetime.now(UTC)), headers=COLUMNS,
                    tablefmt="plain")


def list_(api: str, key: str, policy: Policy, *, state: str | None, quiet: bool,
          as_json: bool) -> int:
    result = request("GET", _url(api), policy, headers=_headers(key),
                     params={"state": state} if state else None)
    if not result.ok:
        return _failed(f"{PROG} list", result, f"GET {_url(api)}")
    try:
        silences = json.loads(result.text)["silences"]
    except (ValueError, KeyError, TypeError):
        print(f"{PROG} list: the answer is not a list of silences", file=sys.stderr)
        return EXIT_REJECTED
    if as_json:
        print(json.dumps(silences, indent=2))
    elif quiet:
        for s in silences:
            print(s["id"])
    else:
        print(render(silences))
    return EXIT_OK


def expire(api: str, key: str, policy: Policy, ids: Sequence[str]) -> int:
    """Expire each; the exit code is the worst of them (an unknown id is 1)."""
    worst = EXIT_OK
    for sid in ids:
        result = request("DELETE", _url(api, sid), policy, headers=_headers(key))
        if result.status == 404:
            print(f"{PROG} expire: {sid}: no such silence", file=sys.stderr)
            worst = max(worst, EXIT_REJECTED)
        elif not result.ok:
            worst = max(worst, _failed(f"{PROG} expire", result, f"DELETE {_url(api, sid)}"))
    return worst

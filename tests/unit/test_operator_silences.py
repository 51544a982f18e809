"""When a HeartbeatSilence is read again from the ping server (pure: no cluster, no network)."""

from __future__ import annotations

import datetime as dt

from heartbeat_operator.silences import refresh_due

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
ACTIVE = {"state": "active", "startsAt": "2026-03-01T11:00:00Z",
          "endsAt": "2026-03-01T13:00:00Z"}


def test_read_when_it_starts_or_ends() -> None:
    later = T0 + dt.timedelta(hours=1)
    assert not refresh_due(ACTIVE, now=T0, last_refresh=100.0, clock=101.0, every=300)
    assert refresh_due(ACTIVE, now=later, last_refresh=100.0, clock=101.0, every=300)
    pending = {**ACTIVE, "state": "pending", "startsAt": "2026-03-01T12:30:00Z"}
    assert not refresh_due(pending, now=T0, last_refresh=100.0, clock=101.0, every=300)
    assert refresh_due(pending, now=T0 + dt.timedelta(minutes=30), last_refresh=100.0,
                       clock=101.0, every=300)


def test_read_when_the_matched_count_is_old_or_never_read() -> None:
    expired = {**ACTIVE, "state": "expired"}
    assert refresh_due(expired, now=T0, last_refresh=None, clock=0.0, every=300)
    assert not refresh_due(expired, now=T0, last_refresh=100.0, clock=399.0, every=300)
    assert refresh_due(expired, now=T0, last_refresh=100.0, clock=400.0, every=300)

"""Property: any valid check configuration is accepted, stored as given, and read back the
same; an update changes exactly the fields it names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pingserver.store import ProjectKeys
from tests.conftest import PingServer
from tests.support.api import Api

PERIOD = st.integers(60, 31_536_000)
OPTIONAL_PERIOD = st.one_of(st.just(0), PERIOD)
KEYWORDS = st.text(max_size=200)
VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=100),
    "slug": st.from_regex(r"[a-z0-9_-]{0,100}", fullmatch=True),
    "tags": st.lists(st.text("abcxyz-_.:/", min_size=1, max_size=8), max_size=5).map(" ".join),
    "desc": st.text(max_size=300),
    "timeout": PERIOD,
    "grace": PERIOD,
    "schedule": st.sampled_from(["* * * * *", "0 9 * * 1-5", "@daily", "*/15 * * * *",
                                 "Mon *-*-* 09:00", "*-*-* 00/6:00", "0 0 29 2 *"]),
    "tz": st.sampled_from(["UTC", "Europe/Riga", "America/New_York", "Asia/Kolkata",
                           "Europe/Kiev", "Australia/Lord_Howe"]),
    "manual_resume": st.booleans(),
    "methods": st.sampled_from(["", "POST"]),
    "channels": st.sampled_from(["", "*"]),
    "start_kw": KEYWORDS,
    "success_kw": KEYWORDS,
    "failure_kw": KEYWORDS,
    "filter_http_body": st.booleans(),
    "filter_default_fail": st.booleans(),
    "max_runtime": OPTIONAL_PERIOD,
    "alert_on_late": st.booleans(),
    "repeat_every": OPTIONAL_PERIOD,
    "fail_threshold": st.integers(1, 100),
}
SPECS = st.fixed_dictionaries({}, optional=VALID_FIELDS)
ECHOED = set(VALID_FIELDS) - {"timeout", "schedule", "tz", "channels"}


def assert_applied(spec: dict[str, Any], check: dict[str, Any]) -> None:
    for name in ECHOED & set(spec):
        assert check[name] == spec[name], name
    if "schedule" in spec:
        assert check["schedule"] == spec["schedule"] and "timeout" not in check
        assert check["tz"] == spec.get("tz", check["tz"])
    elif "timeout" in spec:
        assert check["timeout"] == spec["timeout"] and "schedule" not in check


@pytest.fixture
def api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key)


@given(created=SPECS, updated=SPECS)
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_valid_configurations_round_trip(api: Api, created: dict[str, Any],
                                         updated: dict[str, Any]) -> None:
    check = api.create(**created)
    assert_applied(created, check)
    assert api.check(check["uuid"]) == check

    resp = api.post(f"/checks/{check['uuid']}", updated)
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert_applied(updated, after)
    for name in ECHOED - set(updated):  # untouched fields keep their values
        if name != "slug":
            assert after[name] == check[name], name
    assert api.check(check["uuid"]) == after

"""HeartbeatCheck/AlertChannel spec -> API payload: pure functions, no cluster, no network."""

from __future__ import annotations

from typing import Any

import pytest

from heartbeat_operator import spec
from heartbeat_operator.spec import SpecError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1h", 3600), ("2h0m5s", 7205), ("0s", 0),
     ("8760h", 31_536_000), (" 10m ", 600)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert spec.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "1d", "m5", "5m1h", "1.5h", "-5m", "5 m"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(SpecError, match="not a duration"):
        spec.parse_duration(text, field_name="spec.grace")


@pytest.mark.parametrize(("seconds", "text"),
                         [(0, "0s"), (59, "59s"), (60, "1m"), (5400, "1h30m"), (3601, "1h1s"),
                          (0.4, "0s"), (12.6, "13s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert spec.format_duration(seconds) == text


def test_format_and_parse_round_trip() -> None:
    for seconds in (1, 61, 3599, 3600, 86_399, 31_536_000):
        assert spec.parse_duration(spec.format_duration(seconds)) == seconds


# -- HeartbeatCheck spec ------------------------------------------------------------------


def test_minimal_period_spec_gets_defaults() -> None:
    parsed = spec.parse_check_spec({"period": "5m"})
    assert parsed.period == 300
    assert parsed.grace == 3600
    assert parsed.schedule == ""
    assert parsed.deletion_policy == "Delete"
    assert parsed.failure_threshold == 1
    assert parsed.methods == ""
    assert not parsed.uses_channels
    assert parsed.schedule_summary() == "every 5m"


def test_cron_spec_with_time_zone() -> None:
    parsed = spec.parse_check_spec({"schedule": "0 3 * * *", "timeZone": "Europe/Berlin",
                                    "grace": "30m"})
    assert (parsed.schedule, parsed.time_zone, parsed.grace) == ("0 3 * * *",
                                                                 "Europe/Berlin", 1800)
    assert parsed.schedule_summary() == "0 3 * * * (Europe/Berlin)"
    assert spec.parse_check_spec({"schedule": "@daily"}).schedule_summary() == "@daily"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "exactly one of spec.schedule and spec.period"),
        ({"schedule": "* * * * *", "period": "5m"}, "exactly one"),
        ({"period": "5m", "timeZone": "UTC"}, "timeZone applies to spec.schedule"),
        ({"period": "30s"}, "spec.period: must be between 1m and 8760h"),
        ({"period": "9000h"}, "spec.period: must be between"),
        ({"period": "5m", "grace": "10s"}, "spec.grace: must be between"),
        ({"period": "5m", "maxRuntime": "30s"}, "spec.maxRuntime"),
        ({"period": "5m", "repeatEvery": "1s"}, "spec.repeatEvery"),
        ({"period": "5m", "failureThreshold": 0}, "spec.failureThreshold"),
        ({"period": "5m", "failureThreshold": True}, "spec.failureThreshold"),
        ({"period": "5m", "methods": "GET"}, "spec.methods"),
        ({"period": "5m", "deletionPolicy": "Orphan"}, "spec.deletionPolicy"),
        ({"period": "5m", "tags": ["has space"]}, "spec.tags"),
        ({"period": "5m", "tags": "prod"}, "spec.tags: must be a list"),
        ({"period": "5m", "startKeywords": ["a,b"]}, "must not contain a comma"),
        ({"period": "5m", "failureKeywords": ["x" * 150, "y" * 60]}, "at most 200"),
        ({"period": "5m", "defaultFail": True}, "defaultFail needs spec.filterBody"),
        ({"period": "5m", "channelSelector": "team=a"}, "label selector"),
    ],
)
def test_invalid_specs_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.parse_check_spec(body)


def test_zero_max_runtime_and_repeat_mean_off() -> None:
    parsed = spec.parse_check_spec({"period": "5m", "maxRuntime": "0s", "repeatEvery": "0s"})
    assert (parsed.max_runtime, parsed.repeat_every) == (0, 0)


def test_payload_for_a_period_check() -> None:
    parsed = spec.parse_check_spec({
        "period": "10m", "grace": "5m", "tags": ["prod", "db"], "description": "nightly",
        "methods": "POST", "manualResume": True, "filterBody": True, "defaultFail": True,
        "startKeywords": ["begin"], "successKeywords": ["ok", "done"],
        "failureKeywords": ["ERROR"], "maxRuntime": "1h", "alertOnLate": True,
        "repeatEvery": "30m", "failureThreshold": 3})
    payload = spec.check_payload(parsed, namespace="team-a", name="backup",
                                 channel_ids=["c2", "c1", "c2"])
    assert payload == {
        "name": "team-a/backup", "slug": "team-a_backup", "tags": "prod db", "desc": "nightly",
        "grace": 300, "channels": "c1,c2", "methods": "POST", "manual_resume": True,
        "filter_http_body": True, "filter_default_fail": True, "start_kw": "begin",
        "success_kw": "ok,done", "failure_kw": "ERROR", "max_runtime": 3600,
        "alert_on_late": True, "repeat_every": 1800, "fail_threshold": 3, "timeout": 600,
        "expect_first_ping": False, "namespace": "team-a", "labels": {}, "depends_on": [],
    }


def test_payload_for_a_cron_check_sends_schedule_not_timeout() -> None:
    parsed = spec.parse_check_spec({"schedule": "*/5 * * * *", "timeZone": "Asia/Tokyo"})
    payload = spec.check_payload(parsed, namespace="ns", name="job", channel_ids=[])
    assert payload["schedule"] == "*/5 * * * *"
    assert payload["tz"] == "Asia/Tokyo"
    assert "timeout" not in payload
    assert payload["channels"] == ""


def test_payload_holds_only_fields_the_api_accepts() -> None:
    """The API rejects unknown fields (strict schema): keep the payload to its field set."""
    accepted = {"name", "slug", "tags", "desc", "timeout", "grace", "tz", "schedule",
                "manual_resume", "methods", "channels", "start_kw", "success_kw", "failure_kw",
                "filter_http_body", "filter_default_fail", "max_runtime", "alert_on_late",
                "repeat_every", "fail_threshold", "expect_first_ping", "namespace", "labels",
                "depends_on"}
    for body in ({"period": "5m"}, {"schedule": "@hourly"}):
        payload = spec.check_payload(spec.parse_check_spec(body), namespace="n", name="x",
                                     channel_ids=["a"])
        assert set(payload) <= accepted
        assert None not in payload.values()  # the API refuses nulls


def test_slug_is_unique_per_object_and_fits() -> None:
    assert spec.check_slug("a-b", "c") != spec.check_slug("a", "b-c")
    assert spec.check_slug("ns", "job.v2") == "ns_job_v2"
    long_a = spec.check_slug("ns", "x" * 200 + "a")
    long_b = spec.check_slug("ns", "x" * 200 + "b")
    assert len(long_a) == spec.SLUG_MAX and len(long_b) == spec.SLUG_MAX
    assert long_a != long_b
    assert spec.check_display_name("ns", "y" * 300) == ("ns/" + "y" * 300)[:100]


# -- drift --------------------------------------------------------------------------------


def test_no_drift_when_the_server_matches() -> None:
    desired = {"grace": 60, "channels": "a,b", "tags": "x y", "manual_resume": False,
               "timeout": 60, "desc": ""}
    actual = {"grace": 60, "channels": "b,a", "tags": "y x", "manual_resume": False,
              "timeout": 60, "desc": "", "status": "up", "n_pings": 3}
    assert spec.payload_drift(desired, actual) == []


def test_drift_names_the_changed_fields() -> None:
    desired = {"grace": 60, "channels": "a", "manual_resume": True, "desc": "d"}
    actual = {"grace": 120, "channels": "", "manual_resume": False, "desc": "d"}
    assert spec.payload_drift(desired, actual) == ["grace", "channels", "manual_resume"]


def test_drift_sees_a_switch_between_cron_and_period() -> None:
    assert "timeout" in spec.payload_drift({"timeout": 60}, {"schedule": "* * * * *",
                                                             "tz": "UTC"})
    assert "schedule" in spec.payload_drift({"schedule": "* * * * *", "tz": "UTC"},
                                            {"timeout": 60})


def test_fields_the_server_does_not_report_are_not_drift() -> None:
    assert spec.payload_drift({"max_runtime": 60}, {"grace": 60}) == []


# -- selectors and channels ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "a", "x": "y"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["1", "2"]}]},
         {"tier": "2"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["1"]}]}, {},
         True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["1"]}]},
         {"tier": "1"}, False),
        ({"matchExpressions": [{"key": "pager", "operator": "Exists"}]}, {"pager": ""}, True),
        ({"matchExpressions": [{"key": "pager", "operator": "DoesNotExist"}]},
         {"pager": "x"}, False),
        ({"matchExpressions": [{"key": "k", "operator": "Bogus"}]}, {"k": "v"}, False),
    ],
)
def test_selector_matches(selector: dict[str, Any], labels: dict[str, str],
                          matches: bool) -> None:
    assert spec.selector_matches(selector, labels) is matches


def channel(name: str, channel_id: str | None, labels: dict[str, str] | None = None,
            deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"channelID": channel_id} if channel_id else {}}


def test_choose_channels_by_name_and_selector() -> None:
    parsed = spec.parse_check_spec({"period": "5m", "channels": ["mail", "missing"],
                                    "channelSelector": {"matchLabels": {"team": "a"}}})
    choice = spec.choose_channels(parsed, [
        channel("mail", "id-mail"),
        channel("slack", "id-slack", {"team": "a"}),
        channel("pager", None, {"team": "a"}),
        channel("other", "id-other", {"team": "b"}),
        channel("gone", "id-gone", {"team": "a"}, deleting=True),
    ])
    assert set(choice.ids) == {"id-mail", "id-slack"}
    assert set(choice.names) == {"mail", "slack"}
    # A selected channel being deleted is no longer wanted: once it is gone nothing would
    # re-run the check to clear it (a named one is still wanted: see below).
    assert set(choice.pending) == {"missing", "pager"}
    named = spec.parse_check_spec({"period": "5m", "channels": ["gone"]})
    assert spec.choose_channels(named, [channel("gone", "id-gone", deleting=True)]
                                ).pending == ("gone",)


def test_empty_selector_selects_every_channel() -> None:
    parsed = spec.parse_check_spec({"period": "5m", "channelSelector": {}})
    choice = spec.choose_channels(parsed, [channel("a", "1"), channel("b", "2")])
    assert sorted(choice.ids) == ["1", "2"]


# -- AlertChannel -------------------------------------------------------------------------


SECRETS = {("hooks", "down"): "https://hooks.example/down?token=s3cret",
           ("hooks", "token"): "Bearer t0ken",
           ("apprise", "urls"): "slack://a/b/c\n ntfy://topic"}


def resolve(name: str, key: str) -> str:
    try:
        return SECRETS[(name, key)]
    except KeyError:
        raise LookupError(f"Secret {name} has no key {key}") from None


def ref(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def test_webhook_channel_payload_resolves_secrets() -> None:
    body = {"kind": "webhook", "webhook": {"down": {
        "url": ref("hooks", "down"), "body": "$NAME is $STATUS",
        "headers": [{"name": "Authorization", **ref("hooks", "token")}]}}}
    payload = spec.channel_payload(body, namespace="ns", name="ops", resolve=resolve)
    assert payload == {"kind": "webhook", "name": "k8s:ns/ops", "config": {"down": {
        "method": "POST", "url": "https://hooks.example/down?token=s3cret",
        "body": "$NAME is $STATUS", "headers": {"Authorization": "Bearer t0ken"}}}}


def test_email_and_apprise_channel_payloads() -> None:
    email = spec.channel_payload({"kind": "email", "email": {"to": "ops@example.com",
                                                             "up": False}},
                                 namespace="ns", name="mail", resolve=resolve)
    assert email["config"] == {"to": "ops@example.com", "up": False, "down": True}
    apprise = spec.channel_payload({"kind": "apprise", "apprise": {"urls": [
        ref("apprise", "urls")]}}, namespace="ns", name="a", resolve=resolve)
    assert apprise["config"] == {"urls": ["slack://a/b/c", "ntfy://topic"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [({"kind": "webhook", "webhook": {}}, "set down, up or both"),
     ({"kind": "webhook", "webhook": {"down": {"url": "https://x"}}}, "secretKeyRef"),
     ({"kind": "email", "email": {}}, "spec.email.to"),
     ({"kind": "apprise", "apprise": {"urls": []}}, "at least one"),
     ({"kind": "pigeon"}, "not webhook, email, apprise or alertmanager")],
)
def test_invalid_channel_specs(body: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.channel_payload(body, namespace="ns", name="c", resolve=resolve)


def test_missing_secret_propagates_without_the_value() -> None:
    body = {"kind": "webhook", "webhook": {"up": {"url": ref("hooks", "nope")}}}
    with pytest.raises(LookupError) as info:
        spec.channel_payload(body, namespace="ns", name="c", resolve=resolve)
    assert "s3cret" not in str(info.value)



# -- dependencies, namespace and labels ------------------------------------------------------


def test_depends_on_goes_by_slug_with_namespace_and_labels() -> None:
    parsed = spec.parse_check_spec({"period": "5m", "dependsOn": ["db", "bucket.v2", "db"]})
    assert parsed.depends_on == ("db", "bucket.v2")
    payload = spec.check_payload(parsed, namespace="team-a", name="etl", channel_ids=[],
                                 labels={"team": "data", "app": "etl"})
    assert payload["depends_on"] == ["team-a_db", "team-a_bucket_v2"]
    assert payload["namespace"] == "team-a"
    assert payload["labels"] == {"app": "etl", "team": "data"}


@pytest.mark.parametrize(("value", "message"), [
    (["Not_A_Name"], "spec.dependsOn: 'Not_A_Name' is not an object name"),
    ("db", "spec.dependsOn: must be a list of strings"),
    ([f"c{i}" for i in range(21)], "spec.dependsOn: at most 20 names"),
])
def test_depends_on_refuses_bad_names(value: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.parse_check_spec({"period": "5m", "dependsOn": value})


def test_labels_beyond_the_api_limit_are_left_out() -> None:
    labels = {f"k{i:03d}": "v" for i in range(100)}
    sent = spec.api_labels(labels)
    assert len(sent) == spec.LABELS_MAX and "k000" in sent and "k099" not in sent


def test_drift_compares_labels_as_maps_and_dependencies_by_uuid() -> None:
    desired = {"labels": {"a": "1", "b": "2"}, "depends_on": ["ns_db"], "namespace": "ns"}
    actual = {"labels": {"b": "2", "a": "1"}, "depends_on": ["u-db"], "namespace": "ns"}
    assert spec.payload_drift(desired, actual) == []  # without ids: not comparable
    assert spec.payload_drift(desired, actual, dependency_ids=["u-db"]) == []
    assert spec.payload_drift(desired, actual, dependency_ids=["u-other"]) == ["depends_on"]
    assert spec.payload_drift(desired, {**actual, "labels": {"a": "1"}}) == ["labels"]
    assert spec.payload_drift(desired, {**actual, "namespace": ""}) == ["namespace"]


# -- HeartbeatSilence ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("tag=db", ("tag", "db", False, True)),
    ("tag != db", ("tag", "db", False, False)),
    ('name=~"etl-.*"', ("name", "etl-.*", True, True)),
    ("slug!~tmp-.*", ("slug", "tmp-.*", True, False)),
    ("label:app.kubernetes.io/name=web", ("label:app.kubernetes.io/name", "web", False, True)),
    ('tag="a \\"b\\""', ("tag", 'a "b"', False, True)),
])
def test_matchers_in_amtool_syntax(text: str, expected: tuple[str, str, bool, bool]) -> None:
    found = spec.parse_matcher(text, "spec.matchers[0]")
    assert (found.name, found.value, found.is_regex, found.is_equal) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("namespace=other", r"spec.matchers\[0\]: no namespace matchers"),
    ("team=db", r"spec.matchers\[0\]: unknown matcher name 'team'"),
    ("tag", r"spec.matchers\[0\]: 'tag' is not a matcher"),
    ('tag="open', r"spec.matchers\[0\]: .* unterminated or invalid quoted value"),
    ("label:=x", r"spec.matchers\[0\]: .*is not a matcher"),
])
def test_bad_matchers_name_their_index(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.parse_matcher(text, "spec.matchers[0]")


@pytest.mark.parametrize(("body", "message"), [
    ({"matchers": ["tag=db"]}, "spec.endsAt: set endsAt, duration or schedule"),
    ({"schedule": "0 2 * * 0"}, "spec.duration: required with spec.schedule"),
    ({"endsAt": "2026-12-06T04:00:00Z", "duration": "2h"}, "spec.duration: cannot be set"),
    ({"duration": "2h", "timeZone": "Europe/Berlin"}, "spec.timeZone applies to spec.schedule"),
    ({"startsAt": "2026-12-06T04:00:00Z", "endsAt": "2026-12-06T02:00:00Z"},
     "spec.endsAt: must be after spec.startsAt"),
    ({"endsAt": "tomorrow"}, "spec.endsAt: 'tomorrow' is not a date-time"),
    ({"endsAt": "2026-12-06T04:00:00"}, "spec.endsAt: needs a UTC offset"),
    ({"duration": "2d"}, "spec.duration: '2d' is not a duration"),
    ({"duration": "0s"}, "spec.duration: must be longer than 0s"),
    ({"duration": "1h", "matchers": "tag=db"}, "spec.matchers: must be a list of strings"),
    ({"duration": "1h", "matchers": ["tag=a"] * 20}, "spec.matchers: at most 19"),
    ({"duration": "1h", "comment": "x" * 1001}, "spec.comment: at most 1000"),
])
def test_silence_spec_refusals_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.parse_silence_spec(body)


def test_one_off_silence_payload_starts_at_creation_and_keeps_to_its_namespace() -> None:
    parsed = spec.parse_silence_spec({"matchers": ["tag=db", 'name=~"etl-.*"', "name!=x"],
                                      "duration": "2h", "comment": "pg upgrade"})
    payload = spec.silence_payload(parsed, namespace="payments", name="pg",
                                   created_at="2026-12-06T12:00:00Z")
    assert payload == {
        "matchers": [
            {"name": "tag", "value": "db", "isRegex": False, "isEqual": True},
            {"name": "name", "value": "payments/(?:etl-.*)", "isRegex": True, "isEqual": True},
            {"name": "name", "value": "payments/x", "isRegex": False, "isEqual": False},
            {"name": "namespace", "value": "payments", "isRegex": False, "isEqual": True}],
        "starts_at": "2026-12-06T12:00:00+00:00", "duration": 7200,
        "comment": "pg upgrade", "created_by": "HeartbeatSilence payments/pg"}
    assert parsed.schedule_summary() == ""


def test_window_payload_without_matchers_mutes_the_whole_namespace() -> None:
    parsed = spec.parse_silence_spec({"schedule": "0 2 * * 0", "duration": "2h",
                                      "timeZone": "Europe/Berlin", "createdBy": "alice",
                                      "startsAt": "2026-12-01T00:00:00+01:00",
                                      "endsAt": "2027-06-01T00:00:00Z"})
    payload = spec.silence_payload(parsed, namespace="ops", name="weekly",
                                   created_at="2026-11-01T00:00:00Z")
    assert payload["matchers"] == [{"name": "namespace", "value": "ops", "isRegex": False,
                                    "isEqual": True}]
    assert (payload["schedule"], payload["tz"], payload["duration"]) == ("0 2 * * 0",
                                                                         "Europe/Berlin", 7200)
    assert payload["starts_at"] == "2026-12-01T00:00:00+01:00"
    assert payload["ends_at"] == "2027-06-01T00:00:00+00:00"
    assert payload["created_by"] == "alice"
    assert parsed.schedule_summary() == "0 2 * * 0 (Europe/Berlin) for 2h"


def test_a_namespace_with_regex_characters_is_escaped_in_name_regexes() -> None:
    scoped = spec.scoped_matcher(spec.Matcher("name", "a|b", is_regex=True), "a.b")
    assert scoped.value == r"a\.b/(?:a|b)"
    assert spec.scoped_matcher(spec.Matcher("tag", "x"), "ns") == spec.Matcher("tag", "x")


@pytest.mark.parametrize(("message", "field"), [
    ("json validation error: ends_at must be after starts_at", "spec.endsAt"),
    ("json validation error: matchers[2] invalid regex '(': missing )", "spec.matchers[2]"),
    ("json validation error: tz is not a valid timezone", "spec.timeZone"),
    ("json validation error: duration is too large (at most 60 s)", "spec.duration"),
    ("json validation error: id has unexpected value", None),
    ("something else", None),
])
def test_api_errors_are_mapped_to_spec_fields(message: str, field: str | None) -> None:
    assert spec.api_error_field(message, spec.SILENCE_FIELDS) == field

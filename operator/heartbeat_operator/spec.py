"""Custom resource spec -> ping server API payload. Pure functions: no I/O, no Kopf.

Durations are written the Kubernetes way ("90s", "5m", "1h30m"); the API takes seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heartbeat_operator import constants

DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MIN_PERIOD = 60  # seconds; the API's minimum for timeout and grace
MAX_PERIOD = 365 * 86400
SLUG_MAX = 100
NAME_MAX = 100
KEYWORDS_MAX = 200
TAGS_MAX = 500
DEPENDENCIES_MAX = 20  # the API's limit
LABELS_MAX = 64  # the API's limit; more labels are not sent (sorted by key, the first kept)
OBJECT_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class SpecError(ValueError):
    """The spec cannot be turned into an API payload (normally the CRD schema refuses it
    first; this guards objects created before a schema change, or with validation off)."""


def parse_duration(text: str, *, field_name: str = "duration") -> int:
    """'1h30m' -> 5400. Only h, m and s, in that order, each at most once."""
    match = DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not match or not text.strip():
        raise SpecError(f"{field_name}: {text!r} is not a duration such as 90s, 5m or 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: float) -> str:
    """5400 -> '1h30m'; 0 -> '0s'. Sub-second values round to whole seconds."""
    total = round(seconds)
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{secs}s" if secs else ""]
    return "".join(parts)


@dataclass(frozen=True)
class CheckSpec:
    """A validated HeartbeatCheck spec."""

    schedule: str = ""
    time_zone: str = "UTC"
    period: int = 0
    grace: int = 3600
    max_runtime: int = 0
    channels: tuple[str, ...] = ()
    channel_selector: Mapping[str, Any] | None = None
    tags: tuple[str, ...] = ()
    description: str = ""
    paused: bool = False
    manual_resume: bool = False
    methods: str = ""
    start_keywords: tuple[str, ...] = ()
    success_keywords: tuple[str, ...] = ()
    failure_keywords: tuple[str, ...] = ()
    filter_body: bool = False
    default_fail: bool = False
    alert_on_late: bool = False
    repeat_every: int = 0
    failure_threshold: int = 1
    expect_first_ping: bool = False
    deletion_policy: str = constants.DELETE
    depends_on: tuple[str, ...] = ()  # names of HeartbeatChecks in the same namespace

    @property
    def uses_channels(self) -> bool:
        return bool(self.channels) or self.channel_selector is not None

    def schedule_summary(self) -> str:
        """What the Schedule printer column shows."""
        if self.schedule:
            tz = "" if self.time_zone == "UTC" else f" ({self.time_zone})"
            return f"{self.schedule}{tz}"
        return f"every {format_duration(self.period)}"


def _strings(value: Any, field_name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{field_name}: must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def object_names(value: Any, field_name: str, limit: int) -> tuple[str, ...]:
    """Names of objects in the namespace, without duplicates (the order kept)."""
    names = tuple(dict.fromkeys(_strings(value, field_name)))
    for name in names:
        if len(name) > 253 or not OBJECT_NAME_RE.match(name):
            raise SpecError(f"{field_name}: {name!r} is not an object name")
    if len(names) > limit:
        raise SpecError(f"{field_name}: at most {limit} names")
    return names


def _keywords(value: Any, field_name: str) -> tuple[str, ...]:
    words = _strings(value, field_name)
    for word in words:
        if "," in word:
            raise SpecError(f"{field_name}: {word!r} must not contain a comma")
    if len(",".join(words)) > KEYWORDS_MAX:
        raise SpecError(f"{field_name}: at most {KEYWORDS_MAX} characters in total")
    return words


def _bounded(seconds: int, field_name: str, *, allow_zero: bool) -> int:
    if seconds == 0 and allow_zero:
        return 0
    if seconds < MIN_PERIOD or seconds > MAX_PERIOD:
        raise SpecError(f"{field_name}: must be between 1m and 8760h")
    return seconds


def parse_check_spec(spec: Mapping[str, Any]) -> CheckSpec:
    """Validate a HeartbeatCheck spec (the same rules as the CRD schema)."""
    schedule = str(spec.get("schedule") or "").strip()
    period_text = spec.get("period")
    if bool(schedule) == bool(period_text):
        raise SpecError("exactly one of spec.schedule and spec.period must be set")
    time_zone = str(spec.get("timeZone") or "UTC")
    if spec.get("timeZone") and not schedule:
        raise SpecError("spec.timeZone applies to spec.schedule only")
    period = 0
    if period_text:
        period = _bounded(parse_duration(period_text, field_name="spec.period"), "spec.period",
                          allow_zero=False)
    grace = _bounded(parse_duration(spec.get("grace") or "1h", field_name="spec.grace"),
                     "spec.grace", allow_zero=False)
    max_runtime = _bounded(
        parse_duration(spec.get("maxRuntime") or "0s", field_name="spec.maxRuntime"),
        "spec.maxRuntime", allow_zero=True)
    repeat_every = _bounded(
        parse_duration(spec.get("repeatEvery") or "0s", field_name="spec.repeatEvery"),
        "spec.repeatEvery", allow_zero=True)
    threshold = spec.get("failureThreshold", 1)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= 100:
        raise SpecError("spec.failureThreshold: must be an integer from 1 to 100")
    methods = str(spec.get("methods") or "Any")
    if methods not in ("Any", "POST"):
        raise SpecError("spec.methods: must be Any or POST")
    policy = str(spec.get("deletionPolicy") or constants.DELETE)
    if policy not in (constants.DELETE, constants.RETAIN):
        raise SpecError("spec.deletionPolicy: must be Delete or Retain")
    tags = _strings(spec.get("tags"), "spec.tags")
    for tag in tags:
        if any(c.isspace() for c in tag):
            raise SpecError(f"spec.tags: {tag!r} must not contain spaces")
    if len(" ".join(tags)) > TAGS_MAX:
        raise SpecError(f"spec.tags: at most {TAGS_MAX} characters in total")
    selector = spec.get("channelSelector")
    if selector is not None and not isinstance(selector, Mapping):
        raise SpecError("spec.channelSelector: must be a label selector")
    filter_body = bool(spec.get("filterBody", False))
    default_fail = bool(spec.get("defaultFail", False))
    if default_fail and not filter_body:
        raise SpecError("spec.defaultFail needs spec.filterBody: true")
    return CheckSpec(
        schedule=schedule,
        time_zone=time_zone,
        period=period,
        grace=grace,
        max_runtime=max_runtime,
        channels=_strings(spec.get("channels"), "spec.channels"),
        channel_selector=selector,
        tags=tags,
        description=str(spec.get("description") or ""),
        paused=bool(spec.get("paused", False)),
        manual_resume=bool(spec.get("manualResume", False)),
        methods="POST" if methods == "POST" else "",
        start_keywords=_keywords(spec.get("startKeywords"), "spec.startKeywords"),
        success_keywords=_keywords(spec.get("successKeywords"), "spec.successKeywords"),
        failure_keywords=_keywords(spec.get("failureKeywords"), "spec.failureKeywords"),
        filter_body=filter_body,
        default_fail=default_fail,
        alert_on_late=bool(spec.get("alertOnLate", False)),
        repeat_every=repeat_every,
        failure_threshold=threshold,
        expect_first_ping=bool(spec.get("expectFirstPing", False)),
        deletion_policy=policy,
        depends_on=object_names(spec.get("dependsOn"), "spec.dependsOn", DEPENDENCIES_MAX),
    )


def check_display_name(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"[:NAME_MAX]


def check_slug(namespace: str, name: str) -> str:
    """`<namespace>_<name>`, dots turned into underscores. Namespaces never contain '_' and
    object names never contain '_', so the slug is unique per object. Over-long slugs keep a
    hash suffix so that they stay unique."""
    slug = f"{namespace}_{name.replace('.', '_')}"
    if len(slug) > SLUG_MAX:
        digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
        slug = f"{slug[:SLUG_MAX - 9]}_{digest}"
    return slug


def api_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The object's labels as sent with its check (for `label:<key>` silence matchers)."""
    return {k: str(v) for k, v in sorted((labels or {}).items())[:LABELS_MAX]}


def check_payload(spec: CheckSpec, *, namespace: str, name: str, channel_ids: Sequence[str],
                  labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON body for POST /api/v3/checks/ (without uuid/unique) and for updates.
    Dependencies go by slug: the API's errors then name the slug, not the UUID of another
    check (the secret part of its ping URL)."""
    payload: dict[str, Any] = {
        "name": check_display_name(namespace, name),
        "slug": check_slug(namespace, name),
        "tags": " ".join(spec.tags),
        "desc": spec.description,
        "grace": spec.grace,
        "channels": ",".join(sorted(set(channel_ids))),
        "methods": spec.methods,
        "manual_resume": spec.manual_resume,
        "filter_http_body": spec.filter_body,
        "filter_default_fail": spec.default_fail,
        "start_kw": ",".join(spec.start_keywords),
        "success_kw": ",".join(spec.success_keywords),
        "failure_kw": ",".join(spec.failure_keywords),
        "max_runtime": spec.max_runtime,
        "alert_on_late": spec.alert_on_late,
        "repeat_every": spec.repeat_every,
        "fail_threshold": spec.failure_threshold,
        "expect_first_ping": spec.expect_first_ping,
        "namespace": namespace,
        "labels": api_labels(labels),
        "depends_on": [check_slug(namespace, dep) for dep in spec.depends_on],
    }
    if spec.schedule:
        payload["schedule"] = spec.schedule
        payload["tz"] = spec.time_zone
    else:
        payload["timeout"] = spec.period
    return payload


def _word_set(value: Any, sep: str) -> frozenset[str]:
    return frozenset(w.strip() for w in str(value or "").split(sep) if w.strip())


def payload_drift(desired: Mapping[str, Any], actual: Mapping[str, Any], *,
                  dependency_ids: Iterable[str] | None = None) -> list[str]:
    """Fields of `desired` that the ping server's check JSON reports differently. Fields the
    server does not report are not compared (a read cannot prove them wrong); nor is
    depends_on without `dependency_ids` (the UUIDs of its slugs, which the server reports)."""
    changed: list[str] = []
    for key, want in desired.items():
        if key not in actual:
            continue
        have = actual[key]
        if key == "depends_on":
            if dependency_ids is None:
                continue
            same = set(have or []) == set(dependency_ids)
        elif isinstance(want, Mapping):
            same = isinstance(have, Mapping) and dict(have) == dict(want)
        elif key == "channels":
            same = _word_set(want, ",") == _word_set(have, ",")
        elif key == "tags":
            same = _word_set(want, " ") == _word_set(have, " ")
        elif isinstance(want, bool):
            same = bool(have) == want
        elif isinstance(want, int):
            try:
                same = int(have) == want
            except (TypeError, ValueError):
                same = False
        else:
            same = str(have if have is not None else "") == str(want)
        if not same:
            changed.append(key)
    # A check that switched between cron and period reports the other field.
    if "timeout" in desired and actual.get("schedule") and "timeout" not in actual:
        changed.append("timeout")
    if "schedule" in desired and "timeout" in actual and "schedule" not in actual:
        changed.append("schedule")
    return changed


# -- label selectors and channel choice ---------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


@dataclass(frozen=True)
class ChannelChoice:
    ids: tuple[str, ...]
    names: tuple[str, ...]
    pending: tuple[str, ...]  # wanted, but missing or without a channel id yet


def choose_channels(spec: CheckSpec, channels: Iterable[Mapping[str, Any]]) -> ChannelChoice:
    """Pick AlertChannel objects (bodies from the Kubernetes API) by name and by selector."""
    by_name = {str(c["metadata"]["name"]): c for c in channels}
    wanted: dict[str, None] = dict.fromkeys(spec.channels)
    if spec.channel_selector is not None:
        for name, body in sorted(by_name.items()):
            labels = body["metadata"].get("labels") or {}
            # A matching channel being deleted is no longer wanted (named ones still are).
            if body["metadata"].get("deletionTimestamp"):
                continue
            if selector_matches(spec.channel_selector, labels):
                wanted[name] = None
    ids: list[str] = []
    names: list[str] = []
    pending: list[str] = []
    for name in wanted:
        found = by_name.get(name) or {}
        channel_id = (found.get("status") or {}).get("channelID")
        deleting = bool((found.get("metadata") or {}).get("deletionTimestamp"))
        if not found or not channel_id or deleting:
            pending.append(name)
        else:
            ids.append(str(channel_id))
            names.append(name)
    return ChannelChoice(tuple(ids), tuple(names), tuple(pending))


# -- AlertChannel ------------------------------------------------------------------------

Resolver = Callable[[str, str], str]
"""(secret name, key) -> value; raises when the Secret or key is missing."""


def _secret_ref(ref: Any, field_name: str) -> tuple[str, str]:
    inner = ref.get("secretKeyRef") if isinstance(ref, Mapping) else None
    if not isinstance(inner, Mapping) or not inner.get("name") or not inner.get("key"):
        raise SpecError(f"{field_name}: needs secretKeyRef with name and key")
    return str(inner["name"]), str(inner["key"])


def _resolved(ref: Any, field_name: str, resolve: Resolver) -> str:
    """The referenced Secret value; a missing Secret or key names the field that refers to it
    (the error keeps its type: the Secret may still appear, so it is retried)."""
    name, key = _secret_ref(ref, field_name)
    try:
        return resolve(name, key).strip()
    except LookupError as exc:
        raise type(exc)(f"{field_name}: {exc}") from None


def _webhook_side(side: Mapping[str, Any], field_name: str,
                  resolve: Resolver) -> dict[str, Any]:
    url = _resolved(side.get("url"), f"{field_name}.url", resolve)
    headers: dict[str, str] = {}
    for i, header in enumerate(side.get("headers") or []):
        hname = str(header.get("name") or "")
        if not hname:
            raise SpecError(f"{field_name}.headers[{i}].name: required")
        headers[hname] = _resolved(header, f"{field_name}.headers[{i}]", resolve)
    return {"method": str(side.get("method") or "POST"), "url": url,
            "body": str(side.get("body") or ""), "headers": headers}


def channel_payload(spec: Mapping[str, Any], *, namespace: str, name: str,
                    resolve: Resolver) -> dict[str, Any]:
    """The JSON body for POST /api/v3/channels/. Secret values come from `resolve`."""
    kind = spec.get("kind")
    config: dict[str, Any]
    if kind == "webhook":
        hook = spec.get("webhook") or {}
        config = {}
        for side in ("down", "up"):
            if hook.get(side):
                config[side] = _webhook_side(hook[side], f"spec.webhook.{side}", resolve)
        if not config:
            raise SpecError("spec.webhook: set down, up or both")
        secrets = [_resolved(ref, f"spec.webhook.signingSecrets[{i}]", resolve)
                   for i, ref in enumerate(hook.get("signingSecrets") or [])]
        for i, secret in enumerate(secrets):
            if not secret.startswith("whsec_"):  # the value itself is never shown
                raise SpecError(f"spec.webhook.signingSecrets[{i}]: the Secret's value must "
                                "start with whsec_")
        if secrets:
            config["secrets"] = secrets
    elif kind == "email":
        email = spec.get("email") or {}
        if not email.get("to"):
            raise SpecError("spec.email.to: required")
        config = {"to": str(email["to"]), "up": bool(email.get("up", True)),
                  "down": bool(email.get("down", True))}
    elif kind == "apprise":
        refs = (spec.get("apprise") or {}).get("urls") or []
        if not refs:
            raise SpecError("spec.apprise.urls: at least one")
        urls: list[str] = []
        for i, ref in enumerate(refs):
            urls += _resolved(ref, f"spec.apprise.urls[{i}]", resolve).split()
        config = {"urls": urls}
    elif kind == "alertmanager":
        config = _alertmanager(spec.get("alertmanager") or {}, resolve)
    else:
        raise SpecError(f"spec.kind: {kind!r} is not webhook, email, apprise or alertmanager")
    return {"kind": kind, "name": channel_display_name(namespace, name), "config": config}


def _alertmanager(am: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
    urls = am.get("urls") or []
    if not isinstance(urls, list) or not urls:
        raise SpecError("spec.alertmanager.urls: at least one")
    for i, url in enumerate(urls):
        if not re.match(r"^https?://\S+$", str(url)):
            raise SpecError(f"spec.alertmanager.urls[{i}]: not an http or https URL")
    config: dict[str, Any] = {"urls": [str(u) for u in urls],
                              "severity": str(am.get("severity") or "critical")}
    if am.get("labels"):
        config["labels"] = {str(k): str(v) for k, v in am["labels"].items()}
    basic, bearer = am.get("basicAuth"), am.get("bearerToken")
    if basic and bearer:
        raise SpecError("spec.alertmanager: set basicAuth or bearerToken, not both")
    if basic:
        if not basic.get("username"):
            raise SpecError("spec.alertmanager.basicAuth.username: required")
        config["username"] = str(basic["username"])
        config["password"] = _resolved(basic.get("password"),
                                       "spec.alertmanager.basicAuth.password", resolve)
    if bearer:
        config["bearer_token"] = _resolved(bearer, "spec.alertmanager.bearerToken", resolve)
    return config


def config_digest(api_key: str, config: Mapping[str, Any]) -> str:
    """The ping server's `config_digest` of a channel configuration (the configuration itself
    is write-only): HMAC-SHA256 of its canonical JSON keyed by the API key, the rule of
    pingserver/api/serialize.py `config_digest`. Drift repair compares it with the answer."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mac = hmac.new(api_key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{mac}"


def channel_display_name(namespace: str, name: str) -> str:
    return f"k8s:{namespace}/{name}"[:NAME_MAX]



# -- HeartbeatSilence --------------------------------------------------------------------

MATCHER_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*(?::[^\s=!~]+)?)\s*(=~|!~|!=|=)\s*(.*?)\s*$",
                        re.DOTALL)
MATCHER_NAMES = ("name", "slug", "tag", "uuid", "project")
LABEL_MATCHER = "label:"
MATCHERS_MAX = 19  # the API takes 20; the operator adds the namespace matcher
COMMENT_MAX = 1000
CREATED_BY_MAX = 100
# The API's field names in its 400 messages -> the HeartbeatSilence spec's.
SILENCE_FIELDS = {"matchers": "spec.matchers", "starts_at": "spec.startsAt",
                  "ends_at": "spec.endsAt", "duration": "spec.duration",
                  "schedule": "spec.schedule", "tz": "spec.timeZone",
                  "comment": "spec.comment", "created_by": "spec.createdBy"}
API_FIELD_RE = re.compile(r"^json validation error: ([a-z_]+)(\[\d+\])?")


@dataclass(frozen=True)
class Matcher:
    """One matcher in Alertmanager's model (amtool syntax: `tag=db`, `name=~"etl-.*"`)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex,
                "isEqual": self.is_equal}

    def text(self) -> str:
        op = ("=~" if self.is_equal else "!~") if self.is_regex else ("=" if self.is_equal
                                                                      else "!=")
        return f"{self.name}{op}{json.dumps(self.value)}"


def parse_matcher(text: str, field_name: str) -> Matcher:
    found = MATCHER_RE.match(text) if isinstance(text, str) else None
    if not found:
        raise SpecError(f"{field_name}: {text!r} is not a matcher such as tag=db, "
                        'name=~"etl-.*" or label:app!=web')
    name, op, value = found.groups()
    if name == "namespace":
        raise SpecError(f"{field_name}: no namespace matchers: a HeartbeatSilence mutes the "
                        "checks of its own namespace only")
    if name not in MATCHER_NAMES and not (name.startswith(LABEL_MATCHER)
                                          and len(name) > len(LABEL_MATCHER)):
        raise SpecError(f"{field_name}: unknown matcher name {name!r} (known: "
                        + ", ".join(MATCHER_NAMES) + ", label:<key>)")
    if value.startswith('"'):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if not isinstance(decoded, str):
            raise SpecError(f"{field_name}: {text!r} has an unterminated or invalid quoted "
                            "value")
        value = decoded
    return Matcher(name, value, is_regex="~" in op, is_equal=op in ("=", "=~"))


def scoped_matcher(matcher: Matcher, namespace: str) -> Matcher:
    """`name` means the HeartbeatCheck's name here; the ping server's check is called
    `<namespace>/<name>`."""
    if matcher.name != "name":
        return matcher
    prefix = f"{namespace}/"
    value = (f"{re.escape(prefix)}(?:{matcher.value})" if matcher.is_regex
             else prefix + matcher.value)
    return Matcher("name", value, matcher.is_regex, matcher.is_equal)


def _timestamp(value: Any, field_name: str) -> str:
    """An RFC 3339 date-time as the API takes it ("" when absent)."""
    if value in (None, ""):
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(f"{field_name}: {value!r} is not a date-time such as "
                        "2026-12-06T02:00:00Z") from None
    if moment.tzinfo is None:
        raise SpecError(f"{field_name}: needs a UTC offset or Z")
    return moment.isoformat()


@dataclass(frozen=True)
class SilenceSpec:
    """A validated HeartbeatSilence spec."""

    matchers: tuple[Matcher, ...] = ()
    starts_at: str = ""  # "" = when the object was created
    ends_at: str = ""
    duration: int = 0  # seconds; 0 = not given
    schedule: str = ""
    time_zone: str = ""  # "" = not given (UTC)
    comment: str = ""
    created_by: str = ""

    def schedule_summary(self) -> str:
        """What the Schedule printer column shows: "" for a one-off silence."""
        if not self.schedule:
            return ""
        tz = f" ({self.time_zone})" if self.time_zone and self.time_zone != "UTC" else ""
        return f"{self.schedule}{tz} for {format_duration(self.duration)}"


def parse_silence_spec(spec: Mapping[str, Any]) -> SilenceSpec:
    """Validate a HeartbeatSilence spec (the same rules as the CRD schema; the ping server
    checks regexes, cron expressions, zones and the longest allowed silence)."""
    raw = spec.get("matchers")
    if raw is not None and (not isinstance(raw, list)
                            or not all(isinstance(m, str) for m in raw)):
        raise SpecError("spec.matchers: must be a list of strings")
    matchers = tuple(parse_matcher(m, f"spec.matchers[{i}]") for i, m in enumerate(raw or []))
    if len(matchers) > MATCHERS_MAX:
        raise SpecError(f"spec.matchers: at most {MATCHERS_MAX}")
    schedule = str(spec.get("schedule") or "").strip()
    duration = 0
    if spec.get("duration"):
        duration = parse_duration(spec["duration"], field_name="spec.duration")
        if duration <= 0:
            raise SpecError("spec.duration: must be longer than 0s")
    starts_at = _timestamp(spec.get("startsAt"), "spec.startsAt")
    ends_at = _timestamp(spec.get("endsAt"), "spec.endsAt")
    if schedule and not duration:
        raise SpecError("spec.duration: required with spec.schedule (the window's length)")
    if not schedule and not (ends_at or duration):
        raise SpecError("spec.endsAt: set endsAt, duration or schedule")
    if not schedule and ends_at and duration:
        raise SpecError("spec.duration: cannot be set with spec.endsAt (without a schedule)")
    if spec.get("timeZone") and not schedule:
        raise SpecError("spec.timeZone applies to spec.schedule only")
    if starts_at and ends_at and dt.datetime.fromisoformat(ends_at) <= dt.datetime.fromisoformat(
            starts_at):
        raise SpecError("spec.endsAt: must be after spec.startsAt")
    comment = str(spec.get("comment") or "")
    if len(comment) > COMMENT_MAX:
        raise SpecError(f"spec.comment: at most {COMMENT_MAX} characters")
    created_by = str(spec.get("createdBy") or "")
    if len(created_by) > CREATED_BY_MAX:
        raise SpecError(f"spec.createdBy: at most {CREATED_BY_MAX} characters")
    return SilenceSpec(matchers=matchers, starts_at=starts_at, ends_at=ends_at,
                       duration=duration, schedule=schedule,
                       time_zone=str(spec.get("timeZone") or ""), comment=comment,
                       created_by=created_by)


def silence_matchers(spec: SilenceSpec, namespace: str) -> list[Matcher]:
    """The matchers sent: the user's (in order, so the API's `matchers[i]` is spec's), then
    `namespace=<its namespace>`, which no other matcher can widen (all must match)."""
    return [*(scoped_matcher(m, namespace) for m in spec.matchers),
            Matcher("namespace", namespace)]


def silence_payload(spec: SilenceSpec, *, namespace: str, name: str,
                    created_at: str) -> dict[str, Any]:
    """The JSON body for POST /api/v3/silences/ (without id). Without startsAt the silence
    starts when the object was created, not at each upsert (an operator restart must not
    move a two-hour silence)."""
    payload: dict[str, Any] = {
        "matchers": [m.as_json() for m in silence_matchers(spec, namespace)],
        "comment": spec.comment,
        "created_by": (spec.created_by
                       or f"HeartbeatSilence {namespace}/{name}")[:CREATED_BY_MAX],
    }
    starts_at = spec.starts_at or _timestamp(created_at, "metadata.creationTimestamp")
    if starts_at:
        payload["starts_at"] = starts_at
    if spec.ends_at:
        payload["ends_at"] = spec.ends_at
    if spec.duration:
        payload["duration"] = spec.duration
    if spec.schedule:
        payload["schedule"] = spec.schedule
        payload["tz"] = spec.time_zone or "UTC"
    return payload


def api_error_field(message: str, fields: Mapping[str, str]) -> str | None:
    """The spec field an API 400 message ("json validation error: ends_at ...") is about."""
    found = API_FIELD_RE.match(message)
    if not found or found.group(1) not in fields:
        return None
    return fields[found.group(1)] + (found.group(2) or "")

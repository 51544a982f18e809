"""Custom resource spec -> ping server API payload. Pure functions: no I/O, no Kopf.

Durations are written the Kubernetes way ("90s", "5m", "1h30m"); the API takes seconds.
"""

from __future__ import annotations

import hashlib
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


def check_payload(spec: CheckSpec, *, namespace: str, name: str,
                  channel_ids: Sequence[str]) -> dict[str, Any]:
    """The JSON body for POST /api/v3/checks/ (without uuid/unique) and for updates."""
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
    }
    if spec.schedule:
        payload["schedule"] = spec.schedule
        payload["tz"] = spec.time_zone
    else:
        payload["timeout"] = spec.period
    return payload


def _word_set(value: Any, sep: str) -> frozenset[str]:
    return frozenset(w.strip() for w in str(value or "").split(sep) if w.strip())


def payload_drift(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """Fields of `desired` that the ping server's check JSON reports differently. Fields the
    server does not report are not compared (a read cannot prove them wrong)."""
    changed: list[str] = []
    for key, want in desired.items():
        if key not in actual:
            continue
        have = actual[key]
        if key == "channels":
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


def _webhook_side(side: Mapping[str, Any], field_name: str,
                  resolve: Resolver) -> dict[str, Any]:
    url = resolve(*_secret_ref(side.get("url"), f"{field_name}.url")).strip()
    headers: dict[str, str] = {}
    for i, header in enumerate(side.get("headers") or []):
        hname = str(header.get("name") or "")
        if not hname:
            raise SpecError(f"{field_name}.headers[{i}].name: required")
        headers[hname] = resolve(*_secret_ref(header, f"{field_name}.headers[{i}]")).strip()
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
            urls += resolve(*_secret_ref(ref, f"spec.apprise.urls[{i}]")).split()
        config = {"urls": urls}
    else:
        raise SpecError(f"spec.kind: {kind!r} is not webhook, email or apprise")
    return {"kind": kind, "name": channel_display_name(namespace, name), "config": config}


def channel_display_name(namespace: str, name: str) -> str:
    return f"k8s:{namespace}/{name}"[:NAME_MAX]


"""Checks of a channel's config by kind, before it is stored: the API answers 400 naming the
field ("config.urls is missing"), the operator sets Ready=False with the same words."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pingserver.engine.channels import signing

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_URLS = 8
WEBHOOK_SIDES = ("down", "up", "late")


class ConfigError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"config.{field} {reason}")
        self.field = f"config.{field}"


def validate(kind: str, config: dict[str, Any]) -> None:
    """Raise ConfigError for the first problem of `config`. Kinds without rules pass."""
    if kind == "alertmanager":
        _alertmanager(config)
    elif kind == "webhook":
        _webhook(config)


def _http_url(value: Any, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, "is missing")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(field, "is not an http or https URL")


def _string(config: dict[str, Any], field: str) -> None:
    if field in config and not isinstance(config[field], str):
        raise ConfigError(field, "is not a string")


def _alertmanager(config: dict[str, Any]) -> None:
    urls = config.get("urls")
    if not urls:
        raise ConfigError("urls", "is missing")
    if not isinstance(urls, list):
        raise ConfigError("urls", "is not an array")
    if len(urls) > MAX_URLS:
        raise ConfigError("urls", "is too long")
    for i, url in enumerate(urls):
        _http_url(url, f"urls[{i}]")
    for field in ("severity", "username", "password", "bearer_token"):
        _string(config, field)
    if config.get("bearer_token") and config.get("username"):
        raise ConfigError("bearer_token", "excludes username and password")
    labels = config.get("labels", {})
    if not isinstance(labels, dict):
        raise ConfigError("labels", "is not an object")
    for name, value in labels.items():
        if not LABEL_NAME.match(name):
            raise ConfigError(f"labels.{name}", "is not a valid label name")
        if not isinstance(value, str):
            raise ConfigError(f"labels.{name}", "is not a string")


def _webhook(config: dict[str, Any]) -> None:
    for side in WEBHOOK_SIDES:
        spec = config.get(side)
        if isinstance(spec, dict) and "url" not in spec:
            raise ConfigError(f"{side}.url", "is missing")
    if "secrets" not in config:
        return
    secrets = config["secrets"]
    if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
        raise ConfigError("secrets", "is not an array of strings")
    if len(secrets) > signing.MAX_SECRETS:
        raise ConfigError("secrets", f"has more than {signing.MAX_SECRETS} items")
    for i, secret in enumerate(secrets):
        try:
            signing.key_of(secret)
        except ValueError as exc:
            raise ConfigError(f"secrets[{i}]", str(exc)) from None

"""Start-up validation of the Redis settings (HB_REDIS_*): each bad value or combination
stops the process with the variable's name, and the password never shows."""

from __future__ import annotations

import pytest

from pingserver.config import ConfigError, load, sentinels

SECRET = "p@ss:/#%word"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HB_REDIS_URL", "HB_REDIS_CLUSTER", "HB_REDIS_PASSWORD", "HB_REDIS_SENTINELS",
                 "HB_REDIS_SENTINEL_MASTER", "HB_REDIS_WAIT_REPLICAS",
                 "HB_REDIS_WAIT_TIMEOUT_MS", "HB_REDIS_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("env", "variable"), [
    ({"HB_REDIS_SENTINELS": "s0:26379,s1"}, "HB_REDIS_SENTINELS"),
    ({"HB_REDIS_SENTINELS": "s0:99999"}, "HB_REDIS_SENTINELS"),
    ({"HB_REDIS_SENTINELS": "s0:26379"}, "HB_REDIS_SENTINEL_MASTER"),
    ({"HB_REDIS_SENTINELS": "s0:26379", "HB_REDIS_SENTINEL_MASTER": "m",
      "HB_REDIS_CLUSTER": "1"}, "HB_REDIS_CLUSTER"),
    ({"HB_REDIS_WAIT_REPLICAS": "1", "HB_REDIS_CLUSTER": "1"}, "HB_REDIS_CLUSTER"),
    ({"HB_REDIS_WAIT_REPLICAS": "1", "HB_REDIS_WAIT_TIMEOUT_MS": "2000"},
     "HB_REDIS_WAIT_TIMEOUT_MS"),
    ({"HB_REDIS_WAIT_REPLICAS": "-1"}, "HB_REDIS_WAIT_REPLICAS"),
    ({"HB_REDIS_PASSWORD": SECRET, "HB_REDIS_URL": "redis://:other@r:6379/0"},
     "HB_REDIS_PASSWORD"),
])
def test_bad_redis_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch,
                                              env: dict[str, str], variable: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=variable) as failure:
        load()
    assert SECRET not in str(failure.value)


def test_sentinel_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HB_REDIS_SENTINELS", " s0.example:26379, [::1]:26380 ")
    monkeypatch.setenv("HB_REDIS_SENTINEL_MASTER", "heartbeat")
    monkeypatch.setenv("HB_REDIS_PASSWORD", SECRET)
    settings = load()
    assert sentinels(settings) == [("s0.example", 26379), ("::1", 26380)]
    assert settings.redis_password.get_secret_value() == SECRET
    assert SECRET not in repr(settings)  # a logged settings object shows no password

"""Stable check identities: HMAC of the cluster secret and namespace/name, shaped as a UUID."""

from __future__ import annotations

import uuid

from heartbeat_operator.identity import check_uuid, silence_uuid

SECRET = "cluster-secret-0123456789"


def test_same_object_same_uuid() -> None:
    assert check_uuid(SECRET, "team-a", "backup") == check_uuid(SECRET, "team-a", "backup")


def test_uuid_differs_per_object_and_per_secret() -> None:
    seen = {check_uuid(SECRET, "team-a", "backup"), check_uuid(SECRET, "team-b", "backup"),
            check_uuid(SECRET, "team-a", "restore"), check_uuid("another-secret-xyz", "team-a",
                                                                 "backup")}
    assert len(seen) == 4


def test_namespace_name_boundary_is_unambiguous() -> None:
    # "a-b"/"c" and "a"/"b-c" must not collide: the separator is "/", which neither contains.
    assert check_uuid(SECRET, "a-b", "c") != check_uuid(SECRET, "a", "b-c")


def test_shaped_as_a_version_4_uuid() -> None:
    value = check_uuid(SECRET, "ns", "name")
    parsed = uuid.UUID(value)
    assert str(parsed) == value
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122


def test_known_value_is_stable_across_releases() -> None:
    """Changing the derivation would move every ping URL: this pins it."""
    assert check_uuid("s" * 16, "default", "nightly") == "6a3f9874-5336-4364-bdae-e3f7d05b447c"


def test_silence_ids_are_stable_and_never_a_check_uuid() -> None:
    first = silence_uuid(SECRET, "team-a", "pg")
    assert first == silence_uuid(SECRET, "team-a", "pg")
    assert first != check_uuid(SECRET, "team-a", "pg")
    assert first != silence_uuid(SECRET, "team-b", "pg")
    assert uuid.UUID(first).version == 4

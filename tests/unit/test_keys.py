"""The key schema: everything about a check shares one Redis Cluster slot."""

from __future__ import annotations

import re
import uuid as uuidlib

from pingserver import keys


def test_all_keys_of_a_check_share_the_shard_hash_tag() -> None:
    for _ in range(50):
        u = str(uuidlib.uuid4())
        shard = keys.shard_of(u)
        names = [*keys.state_keys(u), *keys.all_check_keys(u), keys.events_key(shard)]
        tags = {re.search(r"\{(.*?)\}", name).group(1) for name in names}  # type: ignore[union-attr]
        assert tags == {str(shard)}


def test_shards_are_spread() -> None:
    counts = [0] * keys.SHARDS
    for _ in range(4000):
        counts[keys.shard_of(str(uuidlib.uuid4()))] += 1
    assert min(counts) > 4000 / keys.SHARDS / 2

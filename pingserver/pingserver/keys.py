"""The Redis key schema and the Lua scripts: the one place that names Redis keys.

Everything about one check lives in one shard, and every key of a shard carries the shard's
hash tag (`hb:{7}:...`), so a check's hash, its ping log, its runs, the shard's deadline set
and the shard's flip stream share one Redis Cluster slot and one Lua script can update them
atomically. The number of shards is fixed: changing it would move checks between shards.

Per shard N (tag `{N}`):
  hb:{N}:c:<uuid>   hash    check configuration and runtime state
  hb:{N}:p:<uuid>   list    ping log, newest first, JSON entries, capped
  hb:{N}:b:<uuid>   hash    ping number -> body
  hb:{N}:r:<uuid>   hash    open runs: rid ('_' when none) -> start time
  hb:{N}:f:<uuid>   zset    flip history (JSON, scored by flip time), 93 days
  hb:{N}:n:<uuid>   list    notification log (JSON), capped
  hb:{N}:due        zset    check uuid -> next moment the sweeper must look at it
  hb:{N}:events     stream  flips and repeat reminders, read by the notifier group

Global (one key each, any slot):
  hb:project:<pid>              hash  name, ping_key, badge_key, created
  hb:projects                   set   project ids
  hb:apikey:<sha256 of key>     str   "<pid>:rw" or "<pid>:ro"
  hb:pingkey:<ping key>         str   project id
  hb:project:<pid>:checks       set   check uuids
  hb:project:<pid>:slug:<slug>  set   check uuids with that slug (slugs are not unique)
  hb:project:<pid>:channels     set   channel ids
  hb:channel:<id>               hash  kind, name, config (JSON), status of deliveries
  hb:badge:<badge key>          str   check uuid
  hb:projectbadge:<badge key>   str   project id (project and tag badges)
  hb:deadletter                 list  deliveries that failed for good (JSON), capped
"""

from __future__ import annotations

import hashlib
import zlib
from functools import cache
from importlib import resources

SHARDS = 16
STREAM_GROUP = "notifier"


def shard_of(uuid: str) -> int:
    return zlib.crc32(uuid.encode()) % SHARDS


def shard_prefix(shard: int) -> str:
    return f"hb:{{{shard}}}:"


def check_key(uuid: str) -> str:
    return f"{shard_prefix(shard_of(uuid))}c:{uuid}"


def pings_key(uuid: str) -> str:
    return f"{shard_prefix(shard_of(uuid))}p:{uuid}"


def bodies_key(uuid: str) -> str:
    return f"{shard_prefix(shard_of(uuid))}b:{uuid}"


def runs_key(uuid: str) -> str:
    return f"{shard_prefix(shard_of(uuid))}r:{uuid}"


def flips_key(uuid: str) -> str:
    return f"{shard_prefix(shard_of(uuid))}f:{uuid}"


def notes_key(uuid: str) -> str:
    return f"{shard_prefix(shard_of(uuid))}n:{uuid}"


def due_key(shard: int) -> str:
    return f"{shard_prefix(shard)}due"


def events_key(shard: int) -> str:
    return f"{shard_prefix(shard)}events"


def check_keys(uuid: str) -> list[str]:
    """KEYS of ping.lua: check, pings, bodies, runs, flips, due, events (the hot path:
    the shard is computed once)."""
    p = shard_prefix(shard_of(uuid))
    return [f"{p}c:{uuid}", f"{p}p:{uuid}", f"{p}b:{uuid}", f"{p}r:{uuid}", f"{p}f:{uuid}",
            f"{p}due", f"{p}events"]


def state_keys(uuid: str) -> list[str]:
    """KEYS of configure.lua and pause.lua: check, runs, due, flips, events."""
    shard = shard_of(uuid)
    return [check_key(uuid), runs_key(uuid), due_key(shard), flips_key(uuid), events_key(shard)]


def all_check_keys(uuid: str) -> list[str]:
    return [check_key(uuid), pings_key(uuid), bodies_key(uuid), runs_key(uuid),
            flips_key(uuid), notes_key(uuid)]


PROJECTS = "hb:projects"
DEADLETTER = "hb:deadletter"


def project_key(pid: str) -> str:
    return f"hb:project:{pid}"


def project_checks_key(pid: str) -> str:
    return f"hb:project:{pid}:checks"


def project_slug_key(pid: str, slug: str) -> str:
    return f"hb:project:{pid}:slug:{slug}"


def project_channels_key(pid: str) -> str:
    return f"hb:project:{pid}:channels"


def apikey_key(key_hash: str) -> str:
    return f"hb:apikey:{key_hash}"


def pingkey_key(ping_key: str) -> str:
    return f"hb:pingkey:{ping_key}"


def channel_key(channel_id: str) -> str:
    return f"hb:channel:{channel_id}"


def badge_key(badge: str) -> str:
    return f"hb:badge:{badge}"


def project_badge_key(badge: str) -> str:
    return f"hb:projectbadge:{badge}"


@cache
def script_source(name: str) -> str:
    """A script with the shared helpers of common.lua prepended."""
    lua = resources.files("pingserver").joinpath("lua")
    common = lua.joinpath("common.lua").read_text()
    return common + "\n" + lua.joinpath(f"{name}.lua").read_text()


@cache
def script_sha(name: str) -> str:
    return hashlib.sha1(script_source(name).encode()).hexdigest()


def slug_lock_key(pid: str, slug: str) -> str:
    """Held for a moment while `?create=1` creates a check, so two pings make one check."""
    return f"hb:project:{pid}:slugcreate:{slug}"

"""The Redis key schema and the Lua scripts: the one place that names Redis keys.

Everything about one check lives in one shard, and every key of a shard carries the shard's
hash tag (`hb:{7}:...`), so a check's hash, its ping log, its runs, the shard's deadline set
and the shard's flip stream share one Redis Cluster slot and one Lua script can update them
atomically. The number of shards is fixed: changing it would move checks between shards.

ping.lua and sweep.lua make a check's keys from the shard prefix (`hb:{N}:`, taken from the
check key or the due key they are given) instead of receiving each one: the names below are
spelled there too.

Per shard N (tag `{N}`):
  hb:{N}:c:<uuid>   hash    check configuration and runtime state
  hb:{N}:p:<uuid>   list    ping log, newest first, one '|'-separated line per ping
                            (model.ping_entry), capped
  hb:{N}:b:<uuid>   hash    ping number -> body
  hb:{N}:r:<uuid>   hash    open runs: rid ('_' when none) -> start time
  hb:{N}:f:<uuid>   zset    flip history ("seq|old|new|reason|rid|downtime", scored by
                            flip time), 93 days
  hb:{N}:n:<uuid>   list    notification log (JSON), capped
  hb:{N}:due        zset    check uuid -> next moment the sweeper must look at it
  hb:{N}:events     stream  flips and repeat reminders, read by the notifier group
  hb:{N}:held       hash    check uuid -> its alert held by a silence or a dependency (JSON:
                            flip id, kind, reason, ts, held_at, why); release.lua moves it
                            back into the stream (engine/hold.py)
  hb:{N}:resend     zset    "<check uuid> <channel id>" -> next re-post (ms) of a firing
                            Alertmanager alert (engine/channels/alertmanager.py)

Global (one key each, any slot):
  hb:project:<pid>              hash  name, ping_key, badge_key, badge_secret, created
  hb:projects                   set   project ids
  hb:apikey:<sha256 of key>     str   "<pid>:rw" or "<pid>:ro"
  hb:pingkey:<ping key>         str   project id
  hb:project:<pid>:checks       set   check uuids
  hb:project:<pid>:slugs        hash  slug -> uuids of the checks with that slug, sorted and
                                      comma-separated (slugs are not unique; slug.lua)
  hb:project:<pid>:slugcreate:<slug>  str  lock held for a moment by `?create=1`
  hb:project:<pid>:channels     set   channel ids
  hb:channel:<id>               hash  kind, name, config (JSON), status of deliveries
  hb:projectbadge:<badge key>   str   project id (project and tag badges)
  hb:badgecipher                str   the key that turns a check uuid into its badge id and
                                      back (badges.check_badge_id): no per-check badge key
  hb:deadletter                 list  deliveries that failed for good (JSON), capped
  hb:{silences}:<pid>           hash  silence id -> silence (JSON, silences.Silence)
  hb:{silences}:projects        set   project ids that have silences
  hb:{silences}:version         str   counter bumped by every silence change (notifiers
                                      reload their silence index when it moves)
                                      (one hash tag: a change is one MULTI, also in a cluster)

Memory (target: at most 1 KB per check without ping history): every Redis key costs about
100 bytes besides its value, so a check has only the keys that must be its own (hash, flip
history, ping log; runs and bodies only while it has some) and is otherwise an entry in shared
keys (deadline set, project set, slug hash); nothing per check is needed for its badge. The
check hash stays a listpack (short values, few fields) and stores no config field at its
default (model.stored) and no runtime field that is 0 (hset_nz in common.lua): a missing
field reads as its default or 0.
"""

from __future__ import annotations

import hashlib
import zlib
from functools import cache
from importlib import resources

SHARDS = 16
STREAM_GROUP = "notifier"


def notifier_alive_key(consumer: str) -> str:
    """Set with a TTL by a running notifier: a consumer of the group without it is gone."""
    return f"hb:notifier:{consumer}:alive"


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


def held_key(shard: int) -> str:
    return f"{shard_prefix(shard)}held"


def resend_key(shard: int) -> str:
    return f"{shard_prefix(shard)}resend"


def state_keys(uuid: str) -> list[str]:
    """KEYS of configure.lua and pause.lua: check, runs, due, flips, events."""
    shard = shard_of(uuid)
    return [check_key(uuid), runs_key(uuid), due_key(shard), flips_key(uuid), events_key(shard)]


def all_check_keys(uuid: str) -> list[str]:
    return [check_key(uuid), pings_key(uuid), bodies_key(uuid), runs_key(uuid),
            flips_key(uuid), notes_key(uuid)]


PROJECTS = "hb:projects"
DEADLETTER = "hb:deadletter"
BADGE_CIPHER = "hb:badgecipher"
SILENCED_PROJECTS = "hb:{silences}:projects"
SILENCES_VERSION = "hb:{silences}:version"


def project_silences_key(pid: str) -> str:
    return f"hb:{{silences}}:{pid}"


def project_key(pid: str) -> str:
    return f"hb:project:{pid}"


def project_checks_key(pid: str) -> str:
    return f"hb:project:{pid}:checks"


def project_slugs_key(pid: str) -> str:
    return f"hb:project:{pid}:slugs"


def project_channels_key(pid: str) -> str:
    return f"hb:project:{pid}:channels"


def apikey_key(key_hash: str) -> str:
    return f"hb:apikey:{key_hash}"


def pingkey_key(ping_key: str) -> str:
    return f"hb:pingkey:{ping_key}"


def channel_key(channel_id: str) -> str:
    return f"hb:channel:{channel_id}"


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

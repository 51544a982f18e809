"""Operations on the Redis store. Key names and scripts come from `keys`; nothing else in the
project talks to Redis directly."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid as uuidlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from pingserver import badges, keys, schedules
from pingserver.config import Settings, sentinels
from pingserver.model import ALWAYS_STORED, DEFAULTS, Check, ping_entry, stored
from pingserver.pingbatch import PingBatch
from pingserver.resp import NotReplicated, PipelinedConnection, pack
from pingserver.silences import Silence

AnyRedis = Redis | RedisCluster

DEFAULT_PROJECT = "default"
MAX_CONNECTIONS = 1024
NOTES_KEEP = 200
DEADLETTER_KEEP = 10_000


def now_ms() -> int:
    return int(time.time() * 1000)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def credentials(settings: Settings) -> dict[str, str]:
    """HB_REDIS_USERNAME and HB_REDIS_PASSWORD as client options (none when unset)."""
    out = {}
    if settings.redis_username:
        out["username"] = settings.redis_username
    if settings.redis_password.get_secret_value():
        out["password"] = settings.redis_password.get_secret_value()
    return out


def sentinel_manager(settings: Settings) -> Sentinel:
    """Sentinel client of HB_REDIS_SENTINELS; it asks for the primary on every connect."""
    timeouts: dict[str, Any] = {"socket_timeout": settings.redis_timeout,
                                "socket_connect_timeout": settings.redis_timeout}
    own = settings.redis_sentinel_password.get_secret_value()
    master: dict[str, Any] = {**timeouts, **credentials(settings),
                              "db": int(parse_url(settings.redis_url).get("db") or 0)}
    return Sentinel(sentinels(settings),
                    sentinel_kwargs={**timeouts, **({"password": own} if own else {})},
                    **master)


def connect(settings: Settings, *, decode: bool = True) -> AnyRedis:
    """A client for a single Redis, the primary behind Sentinel or a Redis Cluster, with
    bounded timeouts so that a dead Redis turns into a quick 503 rather than a hung
    request."""
    options: dict[str, Any] = {
        "decode_responses": decode,
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        **credentials(settings),
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    if settings.redis_sentinels:
        client: Redis = sentinel_manager(settings).master_for(
            settings.redis_sentinel_master, decode_responses=decode,
            max_connections=MAX_CONNECTIONS, health_check_interval=10)
        return client
    # redis-py 8 caps a pool at 100 connections and fails beyond; pings arrive in bursts.
    # (A blocking pool would queue instead, but costs a fifth of the ping throughput.)
    return Redis.from_url(settings.redis_url, max_connections=MAX_CONNECTIONS,
                          health_check_interval=10, **options)


def _push_note(pipe: Any, uuid: str, entry: dict[str, Any]) -> None:
    pipe.lpush(keys.notes_key(uuid), json.dumps(entry))
    pipe.ltrim(keys.notes_key(uuid), 0, NOTES_KEEP - 1)


@dataclass
class ProjectKeys:
    id: str
    name: str
    api_key: str
    api_key_readonly: str
    ping_key: str
    badge_key: str


@dataclass
class Auth:
    project: str
    readonly: bool


def ping_args(uuid: str, action: str, exitstatus: int | None, rid: str, method: str,
              scheme: str, remote_addr: str, ua: str, body: bytes, at: int) -> list[Any]:
    """The ARGV of one ping in ping.lua's batch."""
    # The log entry is '|'-separated (model.ping_entry); only its last field, the user agent,
    # may hold '|'. Scheme and address come from request headers.
    via = f"{scheme.replace('|', '')}|{method.replace('|', '')}|{remote_addr.replace('|', '')}"
    return [uuid, str(at), action, "" if exitstatus is None else str(exitstatus), rid, via,
            ua[:200], body]


def settle(target: asyncio.Future[Any], source: asyncio.Future[Any]) -> None:
    """Give `target` the outcome of `source`."""
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


class Store:
    def __init__(self, redis: AnyRedis, raw: AnyRedis, settings: Settings) -> None:
        # redis-py's annotations cannot express decode_responses; typed as Any on purpose.
        self.r: Any = redis
        self.raw: Any = raw  # same server, bytes in and out: ping bodies need not be UTF-8
        self.settings = settings
        self._scripts: dict[str, AsyncScript] = {}
        # The ping path's own pipelined connection (single Redis over TCP or a Unix socket,
        # or the primary behind Sentinel; see resp.py). Redis Cluster and TLS (rediss://) go
        # through redis-py instead.
        self.pipe = (None if settings.redis_cluster or settings.redis_url.startswith("rediss:")
                     else self._pipelined(settings))
        self._batches: dict[int, PingBatch] = {}
        self._retries: set[asyncio.Task[list[Any]]] = set()  # kept from the GC

    def _pipelined(self, settings: Settings) -> PipelinedConnection:
        locate = None
        pool = self.r.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            # The primary as the same sentinels tell redis-py's pool.
            async def locate() -> tuple[str, int]:
                host, port = await pool.sentinel_manager.discover_master(pool.service_name)
                return str(host), int(port)

        return PipelinedConnection(settings.redis_url, settings.redis_timeout,
                                   credentials=credentials(settings), locate=locate)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(connect(settings), connect(settings, decode=False), settings)

    async def initialize(self) -> None:
        """Load a Redis Cluster's slot map up front: redis-py's cluster client initialises
        lazily, and many first commands at once race in that (they fail with "Connection
        closed by server"). A no-op on a single Redis."""
        for client in (self.r, self.raw):
            if isinstance(client, RedisCluster):
                await client.initialize()

    async def close(self) -> None:
        if self.pipe is not None:
            await self.pipe.close()
        for client in (self.r, self.raw):
            await client.aclose()
            pool = getattr(client, "connection_pool", None)
            if isinstance(pool, SentinelConnectionPool):
                for sentinel in pool.sentinel_manager.sentinels:
                    await sentinel.aclose()

    def script(self, name: str) -> AsyncScript:
        if name not in self._scripts:
            self._scripts[name] = self.r.register_script(keys.script_source(name))
        return self._scripts[name]

    async def healthy(self) -> bool:
        try:
            return bool(await self.r.ping())
        except Exception:
            return False

    # Projects and keys -------------------------------------------------------------------

    async def ensure_project(self, pid: str, name: str, *, ping_key: str = "",
                             api_key: str = "", api_key_readonly: str = "") -> None:
        """Create the project if missing and attach the given keys (idempotent)."""
        pk = keys.project_key(pid)
        await self.r.hsetnx(pk, "name", name)
        await self.r.hsetnx(pk, "created", str(now_ms()))
        await self.r.hsetnx(pk, "badge_key", secrets.token_urlsafe(16))
        await self.r.hsetnx(pk, "badge_secret", secrets.token_urlsafe(32))
        badge = await self.r.hget(pk, "badge_key")
        await self.r.set(keys.project_badge_key(badge), pid)  # public badge URLs resolve by it
        await self.r.sadd(keys.PROJECTS, pid)
        if ping_key:
            old = await self.r.hget(pk, "ping_key")
            if old and old != ping_key:
                await self.r.delete(keys.pingkey_key(old))
            await self.r.hset(pk, "ping_key", ping_key)
            await self.r.set(keys.pingkey_key(ping_key), pid)
        if api_key:
            await self.add_api_key(pid, api_key, readonly=False)
        if api_key_readonly:
            await self.add_api_key(pid, api_key_readonly, readonly=True)

    async def add_api_key(self, pid: str, api_key: str, *, readonly: bool) -> None:
        await self.r.set(keys.apikey_key(hash_key(api_key)), f"{pid}:{'ro' if readonly else 'rw'}")

    async def create_project(self, name: str) -> ProjectKeys:
        pid = str(uuidlib.uuid4())
        project = ProjectKeys(
            id=pid,
            name=name,
            api_key=secrets.token_urlsafe(24),
            api_key_readonly=secrets.token_urlsafe(24),
            ping_key=new_ping_key(),
            badge_key="",
        )
        await self.ensure_project(pid, name, ping_key=project.ping_key, api_key=project.api_key,
                                  api_key_readonly=project.api_key_readonly)
        project.badge_key = await self.r.hget(keys.project_key(pid), "badge_key") or ""
        return project

    async def project(self, pid: str) -> dict[str, str]:
        return await self.r.hgetall(keys.project_key(pid))

    async def projects(self) -> list[str]:
        return sorted(await self.r.smembers(keys.PROJECTS))

    async def ensure_default_project(self) -> None:
        """The default project carries the keys of HB_API_KEY, HB_API_KEY_READONLY and
        HB_PING_KEY, so automation needs no set-up step; called at start-up and again when
        one of those keys stops resolving (Redis lost its data)."""
        s = self.settings
        if s.api_key or s.api_key_readonly or s.ping_key:
            await self.ensure_project(DEFAULT_PROJECT, "Default", ping_key=s.ping_key,
                                      api_key=s.api_key, api_key_readonly=s.api_key_readonly)

    def _is_configured(self, given: str, *configured: str) -> bool:
        return any(c and hmac.compare_digest(given.encode(), c.encode()) for c in configured)

    async def authenticate(self, api_key: str) -> Auth | None:
        if not api_key:
            return None
        digest = hash_key(api_key)
        found = await self.r.get(keys.apikey_key(digest))
        if not found and self._is_configured(api_key, self.settings.api_key,
                                             self.settings.api_key_readonly):
            await self.ensure_default_project()
            found = await self.r.get(keys.apikey_key(digest))
        if not found:
            return None
        pid, _, mode = found.rpartition(":")
        # The lookup is by digest; compare again in constant time as a guard against a
        # tampered index.
        if not hmac.compare_digest(digest, hash_key(api_key)):
            return None
        return Auth(project=pid, readonly=mode != "rw")

    async def project_by_ping_key(self, ping_key: str) -> str | None:
        pid: str | None = await self.r.get(keys.pingkey_key(ping_key))
        if pid is None and self._is_configured(ping_key, self.settings.ping_key):
            await self.ensure_default_project()
            pid = await self.r.get(keys.pingkey_key(ping_key))
        return pid

    # Checks ------------------------------------------------------------------------------

    async def get_check(self, uuid: str) -> Check | None:
        raw = await self.r.hgetall(keys.check_key(uuid))
        return Check.from_hash(uuid, raw) if raw else None

    async def get_checks(self, uuids: list[str]) -> list[Check]:
        pipe = self.r.pipeline(transaction=False)
        for uuid in uuids:
            pipe.hgetall(keys.check_key(uuid))
        rows = await pipe.execute()
        return [Check.from_hash(u, raw) for u, raw in zip(uuids, rows, strict=True) if raw]

    async def list_checks(self, pid: str) -> list[Check]:
        uuids = sorted(await self.r.smembers(keys.project_checks_key(pid)))
        checks = await self.get_checks(uuids)
        return sorted(checks, key=lambda c: (c.created, c.uuid))

    async def uuids_by_slug(self, pid: str, slug: str) -> list[str]:
        joined = await self.r.hget(keys.project_slugs_key(pid), slug)
        return joined.split(",") if joined else []

    async def save_check(self, pid: str, config: dict[str, Any], *, uuid: str | None = None,
                         create: bool = True) -> tuple[Check, bool] | None:
        """Create (create=True) or update a check. `config` holds validated fields only.
        Returns the check and whether it was created, or None when updating a missing one."""
        check_id = uuid or str(uuidlib.uuid4())
        existing = await self.get_check(check_id)
        if existing is None and not create:
            return None
        if existing is not None and existing.project != pid:
            return None
        fields: dict[str, Any] = {}
        if existing is None:
            fields = {name: DEFAULTS[name] for name in ALWAYS_STORED}
            fields["project"] = pid
        fields.update(config)
        merged = {**DEFAULTS, **(existing.config if existing else {}), **fields}
        if merged.get("kind") in ("cron", "oncalendar"):
            after = existing.last_ping if existing and existing.last_ping else now_ms()
            ticks = schedules.ticks_after(str(merged["schedule"]), str(merged["tz"]), after)
            fields["ticks"] = ",".join(map(str, ticks))
            fields["ticks_final"] = len(ticks) < schedules.TICKS_AHEAD
        argv: list[str] = [check_id, str(now_ms()), "upsert"]
        for name, value in fields.items():
            argv += [name, stored(name, value)]
        result = await self.script("configure")(keys=keys.state_keys(check_id), args=argv)
        created = bool(result[0] == 1)
        await self.r.sadd(keys.project_checks_key(pid), check_id)
        await self._move_slug(pid, check_id, existing.config["slug"] if existing else "",
                              str(merged["slug"]))
        check = await self.get_check(check_id)
        assert check is not None
        return check, created

    async def _move_slug(self, pid: str, uuid: str, leave: str, join: str) -> None:
        """Update the slug index ('' = no slug); see slug.lua."""
        await self.script("slug")(keys=[keys.project_slugs_key(pid)], args=[uuid, leave, join])

    async def create_by_slug(self, pid: str, slug: str,
                             config: dict[str, Any]) -> tuple[list[str], bool]:
        """`?create=1`: make the check unless another request is making it right now."""
        lock = keys.slug_lock_key(pid, slug)
        if not await self.r.set(lock, "1", nx=True, px=5000):
            return await self._wait_for_slug(pid, slug), False
        try:
            uuids = await self.uuids_by_slug(pid, slug)
            if uuids:
                return uuids, False
            if config.get("channels") == "*":
                config = {**config, "channels": ",".join(
                    c["id"] for c in await self.list_channels(pid))}
            saved = await self.save_check(pid, config)
            assert saved is not None
            return [saved[0].uuid], True
        finally:
            await self.r.delete(lock)

    async def _wait_for_slug(self, pid: str, slug: str) -> list[str]:
        for _ in range(50):
            uuids = await self.uuids_by_slug(pid, slug)
            if uuids:
                return uuids
            await asyncio.sleep(0.02)
        return []

    async def delete_check(self, check: Check) -> None:
        # Indexes first, so that a ping by slug cannot find a half-deleted check.
        await self.r.srem(keys.project_checks_key(check.project), check.uuid)
        await self._move_slug(check.project, check.uuid, str(check.config["slug"]), "")
        shard = keys.shard_of(check.uuid)
        pipe = self.r.pipeline(transaction=False)
        pipe.zrem(keys.due_key(shard), check.uuid)
        pipe.hdel(keys.held_key(shard), check.uuid)
        for key in keys.all_check_keys(check.uuid):
            pipe.delete(key)
        await pipe.execute()

    async def set_paused(self, uuid: str, paused: bool) -> int:
        """1 done, 0 resume of a check that is not paused, -1 missing."""
        op = "pause" if paused else "resume"
        result = await self.script("pause")(keys=keys.state_keys(uuid),
                                            args=[uuid, str(now_ms()), op])
        return int(result)

    async def badge_cipher_key(self) -> bytes:
        """The key of per-check badge ids (badges.check_badge_id), made on first use. Read
        from Redis every time, so that all server processes always agree on it."""
        pipe = self.r.pipeline(transaction=False)
        pipe.set(keys.BADGE_CIPHER, secrets.token_hex(16), nx=True)
        pipe.get(keys.BADGE_CIPHER)
        _, key = await pipe.execute()
        return bytes.fromhex(key)

    async def check_by_badge_id(self, badge_id: str) -> Check | None:
        return await self.get_check(badges.check_of_badge_id(await self.badge_cipher_key(),
                                                             badge_id))

    # Pings -------------------------------------------------------------------------------

    async def ping(self, uuid: str, action: str, *, exitstatus: int | None = None,
                   rid: str = "", method: str = "GET", scheme: str = "http",
                   remote_addr: str = "", ua: str = "", body: bytes = b"",
                   at: int | None = None) -> str | None:
        """Record a ping; returns the kind it was classified as, or None for no such check.
        It goes to Redis with the other pings of this event-loop turn (pingbatch.py)."""
        args = ping_args(uuid, action, exitstatus, rid, method, scheme, remote_addr, ua, body,
                         at or now_ms())
        result = await self._ping_batch(uuid).add(keys.check_key(uuid), args, len(body))
        if result[0] == 0:
            return None
        kind = result[1]
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    def _ping_batch(self, uuid: str) -> PingBatch:
        """One batch per worker; on Redis Cluster one per shard, because a script's keys
        must share one slot (and a shard's keys share its hash tag)."""
        shard = keys.shard_of(uuid) if self.settings.redis_cluster else 0
        batch = self._batches.get(shard)
        if batch is None:
            send = self._submit_pings if self.pipe is not None else self._redispy_pings
            batch = self._batches[shard] = PingBatch(send)
        return batch

    def _submit_pings(self, ping_keys: list[str], args: list[Any]
                      ) -> asyncio.Future[list[Any]] | Coroutine[Any, Any, list[Any]]:
        """The call written at once on the pipelined connection when it is up; otherwise (or
        to WAIT for replicas) `_pipelined_pings`, which connects first."""
        assert self.pipe is not None
        protocol = self.pipe.connected()
        if protocol is None or self.settings.redis_wait_replicas:
            return self._pipelined_pings(ping_keys, args)
        sent = protocol.send(pack(self._ping_command(ping_keys, args)), now=True)
        replies: asyncio.Future[list[Any]] = protocol.loop.create_future()

        def received(done: asyncio.Future[Any]) -> None:
            try:
                replies.set_result(list(PipelinedConnection.checked(protocol, done.result())))
            except ResponseError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    replies.set_exception(exc)
                    return
                # Nothing ran: load the script and make the call again.
                retry = protocol.loop.create_task(self._pipelined_pings(ping_keys, args))
                self._retries.add(retry)
                retry.add_done_callback(self._retries.discard)
                retry.add_done_callback(lambda again: settle(replies, again))
            except RedisError as exc:  # the connection failed
                replies.set_exception(exc)
            except asyncio.CancelledError:
                replies.cancel()

        sent.add_done_callback(received)
        return replies

    def _script_args(self, args: list[Any]) -> list[Any]:
        return [str(self.settings.ping_log_limit), *args]

    def _ping_command(self, ping_keys: list[str], args: list[Any]) -> tuple[Any, ...]:
        return ("EVALSHA", keys.script_sha("ping"), len(ping_keys), *ping_keys,
                *self._script_args(args))

    async def _pipelined_pings(self, ping_keys: list[str], args: list[Any]) -> list[Any]:
        assert self.pipe is not None
        pipe, replicas = self.pipe, self.settings.redis_wait_replicas
        command = self._ping_command(ping_keys, args)

        async def evalsha() -> Any:
            if replicas:
                return await pipe.call_replicated(replicas, self.settings.redis_wait_timeout_ms,
                                                  *command)
            return await pipe.call(*command)

        try:
            return list(await evalsha())
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            await pipe.call("SCRIPT", "LOAD", keys.script_source("ping"))
            return list(await evalsha())

    async def _redispy_pings(self, ping_keys: list[str], args: list[Any]) -> list[Any]:
        replicas = self.settings.redis_wait_replicas
        script_args = self._script_args(args)
        if not replicas:
            return list(await self.script("ping")(keys=ping_keys, args=script_args))
        # WAIT covers the writes of its own connection: script and WAIT in one pipeline.
        async with self.r.pipeline(transaction=False) as pipe:
            await self.script("ping")(keys=ping_keys, args=script_args, client=pipe)
            pipe.execute_command("WAIT", replicas, self.settings.redis_wait_timeout_ms)
            result, acked = await pipe.execute()
        if int(acked) < replicas:
            raise NotReplicated(f"{acked} of {replicas} replicas confirmed in "
                                f"{self.settings.redis_wait_timeout_ms} ms")
        return list(result)

    async def pings(self, uuid: str, limit: int) -> list[dict[str, Any]]:
        rows = await self.r.lrange(keys.pings_key(uuid), 0, limit - 1)
        return [ping_entry(row) for row in rows]

    async def ping_body(self, uuid: str, n: int) -> bytes | None:
        return await self.raw.hget(keys.bodies_key(uuid), str(n))

    async def last_body(self, check: Check) -> bytes:
        n = check.raw.get("last_body_n")
        if not n:
            return b""
        return await self.ping_body(check.uuid, int(n)) or b""

    async def flips(self, uuid: str, start_ms: int | None = None,
                    end_ms: int | None = None) -> list[dict[str, Any]]:
        low = "-inf" if start_ms is None else str(start_ms)
        high = "+inf" if end_ms is None else str(end_ms)
        rows = await self.r.zrangebyscore(keys.flips_key(uuid), low, high, withscores=True)
        return [self._flip_entry(row, int(ts)) for row, ts in rows]

    @staticmethod
    def _flip_entry(row: str, ts: int) -> dict[str, Any]:
        """A flip history member: "seq|old|new|reason|rid|downtime" (common.lua), or the
        JSON object written before that format."""
        if row.startswith("{"):
            return dict(json.loads(row))
        seq, old, new, reason, rid, downtime = row.split("|")
        return {"ts": ts, "old": old, "new": new, "reason": reason, "rid": rid,
                "downtime": int(downtime), "seq": int(seq)}

    async def runs(self, uuid: str) -> dict[str, int]:
        raw = await self.r.hgetall(keys.runs_key(uuid))
        return {("" if rid == "_" else rid): int(ts) for rid, ts in raw.items()}

    # Channels ----------------------------------------------------------------------------

    async def save_channel(self, pid: str, kind: str, name: str, config: dict[str, Any],
                           channel_id: str | None = None) -> dict[str, Any]:
        cid = channel_id or str(uuidlib.uuid4())
        key = keys.channel_key(cid)
        await self.r.hset(key, mapping={"id": cid, "project": pid, "kind": kind, "name": name,
                                        "config": json.dumps(config)})
        await self.r.hsetnx(key, "created", str(now_ms()))
        await self.r.sadd(keys.project_channels_key(pid), cid)
        channel = await self.get_channel(cid)
        assert channel is not None
        return channel

    async def get_channel(self, cid: str) -> dict[str, Any] | None:
        raw = await self.r.hgetall(keys.channel_key(cid))
        if not raw:
            return None
        channel: dict[str, Any] = dict(raw)
        channel["config"] = json.loads(raw.get("config") or "{}")
        return channel

    async def list_channels(self, pid: str) -> list[dict[str, Any]]:
        ids = sorted(await self.r.smembers(keys.project_channels_key(pid)))
        channels = [await self.get_channel(cid) for cid in ids]
        return [c for c in channels if c is not None]

    async def delete_channel(self, pid: str, cid: str) -> None:
        await self.r.srem(keys.project_channels_key(pid), cid)
        await self.r.delete(keys.channel_key(cid))

    async def record_delivery(self, uuid: str, cid: str, entry: dict[str, Any]) -> None:
        """Append to the check's notification log and keep the channel's last result."""
        pipe = self.r.pipeline(transaction=False)
        _push_note(pipe, uuid, entry)
        status = {"last_notify": str(entry["ts"]), "last_error": entry.get("error") or ""}
        pipe.hset(keys.channel_key(cid), mapping=status)
        await pipe.execute()

    async def notifications(self, uuid: str, limit: int = NOTES_KEEP) -> list[dict[str, Any]]:
        rows = await self.r.lrange(keys.notes_key(uuid), 0, limit - 1)
        return [json.loads(row) for row in rows]

    async def dead_letter(self, entry: dict[str, Any]) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.lpush(keys.DEADLETTER, json.dumps(entry))
        pipe.ltrim(keys.DEADLETTER, 0, DEADLETTER_KEEP - 1)
        await pipe.execute()

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return [json.loads(r) for r in await self.r.lrange(keys.DEADLETTER, 0, limit - 1)]

    # Engine ------------------------------------------------------------------------------
    # The sweeper and the notifier (pingserver.engine) reach Redis only through these.

    async def sweep(self, shard: int, now: int, batch: int,
                    lease_ms: int) -> tuple[int, int, list[str], list[str], list[int]]:
        """Run sweep.lua on one shard: (claimed, oldest claimed score, leased ids, new state
        of each flip, deadline of each flip)."""
        out = await self.script("sweep")(
            keys=[keys.due_key(shard), keys.events_key(shard)],
            args=[str(now), str(batch), str(lease_ms), keys.shard_prefix(shard)])
        return (int(out[0]), int(out[1]), [str(u) for u in out[2]], [str(s) for s in out[3]],
                [int(t) for t in out[4]])

    async def schedule_fields(self, uuids: list[str]) -> list[list[str | None]]:
        """kind, schedule, tz, last_ping, version of each check (None fields when missing)."""
        pipe = self.r.pipeline(transaction=False)
        for uuid in uuids:
            pipe.hmget(keys.check_key(uuid), "kind", "schedule", "tz", "last_ping", "version")
        return list(await pipe.execute())

    async def reticks(self, uuid: str, now: int, version: str, ticks: list[int],
                      final: bool) -> bool:
        """Store fresh cron ticks unless the check changed since `version` was read."""
        shard = keys.shard_of(uuid)
        done = await self.script("reticks")(
            keys=[keys.check_key(uuid), keys.runs_key(uuid), keys.due_key(shard)],
            args=[uuid, str(now), version, ",".join(map(str, ticks)), "1" if final else "0"])
        return bool(done == 1)

    async def oldest_due(self, shard: int) -> int | None:
        rows = await self.r.zrange(keys.due_key(shard), 0, 0, withscores=True)
        return int(rows[0][1]) if rows else None

    async def ensure_group(self, shard: int) -> None:
        """The notifier's consumer group on a shard stream, reading from the first entry."""
        try:
            await self.r.xgroup_create(keys.events_key(shard), keys.STREAM_GROUP, id="0",
                                       mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_events(self, shard: int, consumer: str, start: str, count: int,
                          block_ms: int | None) -> list[tuple[str, dict[str, str] | None]]:
        """XREADGROUP on one shard: start ">" for new entries, "0" (or an id) for this
        consumer's own pending ones. A pending entry trimmed away comes back with None."""
        reply = await self.r.xreadgroup(keys.STREAM_GROUP, consumer,
                                        {keys.events_key(shard): start}, count=count,
                                        block=block_ms)
        return self._stream_entries(reply)

    async def claim_stale(self, shard: int, consumer: str, min_idle_ms: int, start: str,
                          count: int) -> tuple[str, list[tuple[str, dict[str, str] | None]]]:
        """XAUTOCLAIM: take over entries other consumers left pending for `min_idle_ms`.
        Returns the cursor for the next call ("0-0" when the scan is complete)."""
        reply = await self.r.xautoclaim(keys.events_key(shard), keys.STREAM_GROUP, consumer,
                                        min_idle_ms, start_id=start, count=count)
        return str(reply[0]), [(str(i), f or None) for i, f in reply[1] if i]

    async def touch_events(self, shard: int, consumer: str, ids: list[str]) -> None:
        """Reset the idle time of entries this consumer is still working on, so that other
        notifiers do not claim deliveries that are merely waiting for a retry."""
        if ids:
            await self.r.xclaim(keys.events_key(shard), keys.STREAM_GROUP, consumer, 0, ids,
                                justid=True)

    async def notifier_alive(self, consumer: str, ttl_ms: int) -> None:
        await self.r.set(keys.notifier_alive_key(consumer), str(now_ms()), px=ttl_ms)

    async def notifier_gone(self, consumer: str) -> None:
        await self.r.delete(keys.notifier_alive_key(consumer))

    async def live_notifiers(self, names: list[str]) -> set[str]:
        """Those of `names` whose heartbeat key is there."""
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.exists(keys.notifier_alive_key(name))
        return {name for name, n in zip(names, await pipe.execute(), strict=True) if n}

    async def consumers(self, shard: int) -> list[tuple[str, int, int]]:
        """(name, pending entries, idle ms) of every consumer of the group on a shard."""
        rows = await self.r.xinfo_consumers(keys.events_key(shard), keys.STREAM_GROUP)
        return [(str(r["name"]), int(r["pending"]), int(r["idle"])) for r in rows]

    async def take_over(self, shard: int, gone: str, consumer: str, min_idle_ms: int,
                        count: int) -> list[tuple[str, dict[str, str] | None]]:
        """XCLAIM up to `count` of the entries consumer `gone` has pending. `min_idle_ms`
        keeps two notifiers from both taking an entry: the second finds it just claimed."""
        key = keys.events_key(shard)
        rows = await self.r.xpending_range(key, keys.STREAM_GROUP, min="-", max="+",
                                           count=count, consumername=gone)
        ids = [row["message_id"] for row in rows]
        if not ids:
            return []
        claimed = await self.r.xclaim(key, keys.STREAM_GROUP, consumer, min_idle_ms, ids)
        return [(str(i), f or None) for i, f in claimed if i]

    async def drop_consumer(self, shard: int, name: str) -> bool:
        """Remove a consumer from the group if it has nothing pending (atomically)."""
        removed = await self.script("drop_consumer")(keys=[keys.events_key(shard)],
                                                     args=[keys.STREAM_GROUP, name])
        return bool(removed)

    async def ack_events(self, shard: int, ids: list[str]) -> None:
        if ids:
            await self.r.xack(keys.events_key(shard), keys.STREAM_GROUP, *ids)

    async def trim_events(self, shard: int, keep_ms: int) -> tuple[str, int]:
        """Drop stream entries older than `keep_ms` that the group no longer needs: never
        past the oldest pending entry nor past what the group has not read yet. Returns
        the MINID used and the group's lag (entries not yet read)."""
        key = keys.events_key(shard)
        cutoff = (now_ms() - keep_ms, 0)
        floor = cutoff
        lag = 0
        pending = await self.r.xpending(key, keys.STREAM_GROUP)
        if pending and pending.get("pending") and pending.get("min"):
            floor = min(floor, self._stream_id(pending["min"]))
        for group in await self.r.xinfo_groups(key):
            if group.get("name") == keys.STREAM_GROUP:
                floor = min(floor, self._stream_id(group.get("last-delivered-id") or "0-0"))
                lag = int(group.get("lag") or 0)
        minid = f"{floor[0]}-{floor[1]}"
        await self.r.xtrim(key, minid=minid, approximate=True)
        return minid, lag

    async def checks_by_id(self, uuids: list[str]) -> dict[str, Check]:
        pipe = self.r.pipeline(transaction=False)
        for uuid in uuids:
            pipe.hgetall(keys.check_key(uuid))
        rows = await pipe.execute()
        return {u: Check.from_hash(u, raw) for u, raw in zip(uuids, rows, strict=True) if raw}

    # Silences and held alerts (docs/oncall.md) ------------------------------------------

    async def list_silences(self, pid: str) -> list[Silence]:
        rows = await self.r.hvals(keys.project_silences_key(pid))
        return sorted((Silence.from_json(r) for r in rows), key=lambda s: (s.created_at, s.id))

    async def all_silences(self) -> tuple[int, list[Silence]]:
        """Every project's silences and the version they were read at."""
        version = int(await self.r.get(keys.SILENCES_VERSION) or 0)
        pids = sorted(await self.r.smembers(keys.SILENCED_PROJECTS))
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            pipe.hvals(keys.project_silences_key(pid))
        rows = await pipe.execute()
        return version, [Silence.from_json(r) for group in rows for r in group]

    async def silences_version(self) -> int:
        return int(await self.r.get(keys.SILENCES_VERSION) or 0)

    async def get_silence(self, pid: str, sid: str) -> Silence | None:
        raw = await self.r.hget(keys.project_silences_key(pid), sid)
        return Silence.from_json(raw) if raw else None

    async def save_silence(self, silence: Silence) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.project_silences_key(silence.project), silence.id, silence.to_json())
        pipe.sadd(keys.SILENCED_PROJECTS, silence.project)
        pipe.incr(keys.SILENCES_VERSION)
        await pipe.execute()

    async def delete_silences(self, pid: str, sids: list[str]) -> None:
        if sids:
            pipe = self.r.pipeline(transaction=True)
            pipe.hdel(keys.project_silences_key(pid), *sids)
            pipe.incr(keys.SILENCES_VERSION)
            await pipe.execute()

    async def project_names(self) -> dict[str, str]:
        pids = await self.projects()
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            pipe.hget(keys.project_key(pid), "name")
        names = await pipe.execute()
        return {pid: name or "" for pid, name in zip(pids, names, strict=True)}

    async def schedule_resend(self, uuid: str, cid: str, at_ms: int) -> None:
        await self.r.zadd(keys.resend_key(keys.shard_of(uuid)), {f"{uuid} {cid}": at_ms})

    async def drop_resend(self, uuid: str, cid: str) -> None:
        await self.r.zrem(keys.resend_key(keys.shard_of(uuid)), f"{uuid} {cid}")

    async def claim_resends(self, shard: int, now: int, next_ms: int, count: int) -> list[str]:
        """Due re-posts of the shard, each re-scored to `next_ms` in the same step, so that
        one notifier takes each (claim_resend.lua)."""
        claimed = await self.script("claim_resend")(keys=[keys.resend_key(shard)],
                                                    args=[now, next_ms, count])
        return [str(m) for m in claimed]

    async def hold(self, uuid: str, entry: dict[str, Any]) -> None:
        await self.r.hset(keys.held_key(keys.shard_of(uuid)), uuid, json.dumps(entry))

    async def held(self, shard: int) -> dict[str, str]:
        """The shard's held alerts: check uuid -> entry as stored (JSON)."""
        return dict(await self.r.hgetall(keys.held_key(shard)))

    async def held_counts(self) -> list[int]:
        pipe = self.r.pipeline(transaction=False)
        for shard in range(keys.SHARDS):
            pipe.hlen(keys.held_key(shard))
        return [int(n) for n in await pipe.execute()]

    async def drop_held(self, uuids: list[str]) -> list[bool]:
        """Forget the held alerts of these checks; True for each that had one."""
        pipe = self.r.pipeline(transaction=False)
        for uuid in uuids:
            pipe.hdel(keys.held_key(keys.shard_of(uuid)), uuid)
        return [bool(n) for n in await pipe.execute()]

    async def release(self, uuid: str, seen: str, max_age_ms: int) -> int:
        """release.lua: 1 back in the stream, 0 dropped, -1 left as it is."""
        shard = keys.shard_of(uuid)
        result = await self.script("release")(
            keys=[keys.check_key(uuid), keys.held_key(shard), keys.events_key(shard)],
            args=[uuid, seen, str(now_ms()), str(max_age_ms)])
        return int(result)

    async def note(self, uuid: str, entry: dict[str, Any]) -> None:
        """A line of the check's notification log that is no delivery (a held alert)."""
        pipe = self.r.pipeline(transaction=False)
        _push_note(pipe, uuid, entry)
        await pipe.execute()

    METRIC_FIELDS = ("project", "name", "status", "grace_start", "down_at", "last_ping",
                     "last_duration", "last_start")

    async def metric_rows(self, projects: list[str], chunk: int = 2000
                          ) -> AsyncIterator[list[dict[str, str | None]]]:
        """The fields the Prometheus per-check gauges need, for every check of the given
        projects, in chunks: SSCAN and HMGET keep a scrape of a million checks bounded in
        memory and cheap for Redis (no HGETALL of whole hashes)."""
        for pid in projects:
            cursor = 0
            while True:
                cursor, uuids = await self.r.sscan(keys.project_checks_key(pid), cursor,
                                                   count=chunk)
                if uuids:
                    pipe = self.r.pipeline(transaction=False)
                    for uuid in uuids:
                        pipe.hmget(keys.check_key(uuid), *self.METRIC_FIELDS)
                    rows = await pipe.execute()
                    yield [{"uuid": u, **dict(zip(self.METRIC_FIELDS, row, strict=True))}
                           for u, row in zip(uuids, rows, strict=True) if row[2] is not None]
                if int(cursor) == 0:
                    break

    @staticmethod
    def _stream_entries(reply: Any) -> list[tuple[str, dict[str, str] | None]]:
        """Entries of a one-stream XREADGROUP reply (a RESP2 list or a RESP3 map)."""
        streams = (list(reply.values()) if isinstance(reply, dict)
                   else [s[1] for s in reply or []])
        return [(str(entry_id), fields or None) for entries in streams
                for entry_id, fields in entries]

    @staticmethod
    def _stream_id(text: str) -> tuple[int, int]:
        ms, _, seq = str(text).partition("-")
        return int(ms), int(seq or 0)

    # API queries -------------------------------------------------------------------------

    async def project_by_badge_key(self, badge: str) -> str | None:
        return await self.r.get(keys.project_badge_key(badge))

    async def events_after(self, cursors: list[str],
                           count: int) -> list[list[tuple[str, dict[str, str]]]]:
        """Up to `count` entries of each shard's event stream after that shard's cursor (a
        stream id; "" = from the oldest retained entry), oldest first."""
        pipe = self.r.pipeline(transaction=False)
        for shard, cursor in enumerate(cursors):
            low = f"({cursor}" if cursor else "-"
            pipe.xrange(keys.events_key(shard), min=low, max="+", count=count)
        return list(await pipe.execute())


def new_ping_key() -> str:
    """22 characters of [a-z0-9], about 113 bits, like healthchecks' ping keys."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(22))

"""The engine: sweeper and notifier roles, run by `hb sweeper`, `hb notifier`, `hb worker`.

Roles share one asyncio loop and one Redis client per process. SIGTERM or SIGINT stops
them gracefully: the sweeper finishes its round, the notifier stops reading and gives the
deliveries in progress a bounded time (HB_NOTIFY_DRAIN_TIMEOUT); whatever is left stays
pending in Redis for the next notifier. The exit status is 0 after a graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from prometheus_client import start_http_server
from redis.exceptions import RedisError

from pingserver import metrics
from pingserver.config import Settings
from pingserver.engine.notifier import Notifier
from pingserver.engine.sweeper import Sweeper
from pingserver.engine.util import Outage, pause
from pingserver.store import Store

log = logging.getLogger("hb.engine")

ROLES = ("sweeper", "notifier")


def run(settings: Settings, roles: Sequence[str], metrics_port: int = 0) -> int:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        log.error("unknown roles %s (known: %s)", unknown, ", ".join(ROLES))
        return 2
    if metrics_port:
        start_http_server(metrics_port, addr=settings.metrics_addr,
                          registry=metrics.registry())
        log.info("metrics on http://%s:%d/metrics", settings.metrics_addr, metrics_port)
    return asyncio.run(serve(settings, roles))


async def serve(settings: Settings, roles: Sequence[str],
                stop: asyncio.Event | None = None) -> int:
    """Run the roles until `stop` is set (or a signal arrives); 0 on a graceful stop, 1 if
    a role crashed."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not possible outside the main thread (tests run serve() in a thread).
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    store = Store.from_settings(settings)
    if not await connect(store, stop):
        await store.close()
        return 0
    tasks: list[asyncio.Task[None]] = []
    if "sweeper" in roles:
        tasks.append(asyncio.create_task(Sweeper(store, settings).run(stop), name="sweeper"))
    if "notifier" in roles:
        notifier = Notifier(store, settings)
        tasks.append(asyncio.create_task(notifier.run(stop), name="notifier"))
    code = 0
    try:
        # A role returns only after `stop`; one that returns early has crashed.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not stop.is_set() and task.exception() is not None:
                log.error("%s crashed", task.get_name(), exc_info=task.exception())
                code = 1
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await store.close()
    return code


async def connect(store: Store, stop: asyncio.Event) -> bool:
    """Wait until Redis answers (False if stopped first). For Redis Cluster this also
    loads the slot map once, before the roles start: redis-py's cluster client initialises
    lazily, and many first commands at once race in that initialisation (they fail with
    "Connection closed by server")."""
    outage = Outage(log, "engine")
    while not stop.is_set():
        try:
            await store.initialize()
            await store.r.ping()
            outage.ok()
            return True
        except RedisError as exc:
            await pause(stop, outage.failed(exc))
    return False

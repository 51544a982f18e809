"""A late check whose timeout is raised goes back to up (healthchecks derives the state from
the last ping), through the management API of a real `hb server`, with a real `hb worker`
that made it late. The flip is quiet unless the check has alert_on_late."""

from __future__ import annotations

import asyncio

import pytest

from pingserver.store import Store, now_ms
from tests.conftest import PingServer
from tests.support.api import Api
from tests.support.engine import EngineProcess, EngineRedis, eventually
from tests.support.engine_fixtures import receiver, single_redis, sstore
from tests.support.receivers import HttpReceiver

__all__ = ["receiver", "single_redis", "sstore"]

pytestmark = pytest.mark.timeout(90)


async def test_raising_the_timeout_of_a_late_check_brings_it_up(
        single_redis: EngineRedis, sstore: Store, receiver: HttpReceiver) -> None:
    worker = EngineProcess("worker", single_redis.env(), "late-worker").wait_started()
    server = PingServer(single_redis.url)
    try:
        project = await sstore.create_project("late")
        api = Api(server.url, project.api_key)
        hook = await asyncio.to_thread(api.channel, "webhook", "hook", **{
            "late": {"method": "GET", "url": receiver.url + "/late/$NAME"},
            "up": {"method": "GET", "url": receiver.url + "/up/$NAME"}})
        quiet, loud = [await asyncio.to_thread(api.create, name=name, timeout=60, grace=3600,
                                               channels=hook["id"], alert_on_late=on_late)
                       for name, on_late in (("quiet", False), ("loud", True))]
        # Last pinged 65 s ago with a 60 s timeout: late for five seconds already.
        for check in (quiet, loud):
            await sstore.ping(check["uuid"], "success", at=now_ms() - 65_000)

        async def status(check: dict[str, str]) -> str:
            body = await asyncio.to_thread(api.check, check["uuid"])
            return str(body["status"])

        async def late(check: dict[str, str]) -> bool:
            return await status(check) == "grace"

        for check in (quiet, loud):
            await eventually(lambda c=check: late(c), timeout=20,  # type: ignore[misc]
                             message=f"{check['name']} not late")
        await asyncio.to_thread(receiver.wait_for, 1, "/late/", timeout=20)

        for check in (quiet, loud):
            resp = await asyncio.to_thread(api.post, f"/checks/{check['uuid']}",
                                           {"timeout": 3600})
            assert resp.status_code == 200, resp.text
            assert resp.json()["status"] == "up"

        # The recovery from late alerts only the check with alert_on_late.
        await asyncio.to_thread(receiver.wait_for, 1, "/up/", timeout=20)
        # The worker keeps sweeping: neither check goes late again (its deadline is an hour
        # away), and the history holds the late -> up transition.
        for check in (quiet, loud):
            flips = await sstore.flips(check["uuid"])
            assert [(f["old"], f["new"], f["reason"]) for f in flips][-1] == (
                "late", "up", "config")
            assert await status(check) == "up"
        assert [r.path for r in receiver.received("/up/")] == ["/up/loud"]
        assert [r.path for r in receiver.received("/late/")] == ["/late/loud"]
    finally:
        server.stop()
        assert worker.stop() == 0


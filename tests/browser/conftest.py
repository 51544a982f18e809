"""Browser tests: Debian's Chromium, headless, driven by Playwright, against a real ping server
(`hb server` subprocess) and a real Redis.

Playwright's own browser downloads are never used (no `playwright install`): the tests launch
/usr/bin/chromium. Each `launch()` gets a new, empty, temporary profile, and each signed-in
user gets a fresh browser context (its own cookie jar).

States are made through the Store, as the servers would make them: pings with `at=` in the
past, then one pass of the sweeper's Lua script over every shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pingserver import keys as keyschema
from pingserver.config import Settings
from pingserver.model import Check
from pingserver.store import ProjectKeys, Store, now_ms
from tests.conftest import ARTIFACTS, ROOT, PingServer

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - reported by the `browser` fixture
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = os.environ.get("HB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ARTIFACTS / "screenshots"
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard.png"
T = TypeVar("T")


def _missing() -> str:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install playwright)"
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return ""


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests, stopped after them: Playwright's sync API keeps an
    event loop of its own while it runs, which asyncio tests elsewhere must not meet."""
    problem = _missing()
    if problem:  # scripts/setup.sh installs both: a missing one is a broken set-up, not a skip
        pytest.fail(f"browser tests cannot run: {problem} (run scripts/setup.sh)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Seeder:
    """The Store on an event loop of its own thread, so that synchronous tests (Playwright's
    sync API runs its own loop) can set data up without sharing a loop."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store: Store = self.run(self._open(settings))

    async def _open(self, settings: Settings) -> Store:
        return Store.from_settings(settings)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    # Helpers --------------------------------------------------------------------------------

    def project(self, name: str = "browser-test") -> ProjectKeys:
        return self.run(self.store.create_project(name))

    def check(self, project: ProjectKeys, name: str, **config: Any) -> Check:
        fields = {"name": name, "slug": name.replace("/", "_").replace(" ", "-").lower(),
                  **config}
        if "schedule" in fields:
            fields.setdefault("kind", "cron")
        saved = self.run(self.store.save_check(project.id, fields))
        assert saved is not None
        return saved[0]

    def ping(self, check: Check, action: str = "success", *, ago: float = 0,
             body: bytes = b"", exitstatus: int | None = None, rid: str = "") -> None:
        at = now_ms() - int(ago * 1000)
        kind = self.run(self.store.ping(check.uuid, action, at=at, body=body,
                                        exitstatus=exitstatus, rid=rid, remote_addr="10.0.0.7",
                                        ua="hb/0.1 (browser test)", method="POST"))
        assert kind is not None

    def run_job(self, check: Check, *, ago: float, took: float, ok: bool = True,
                body: bytes = b"") -> None:
        """A start ping and, `took` seconds later, success or failure, ending `ago` s ago."""
        self.ping(check, "start", ago=ago + took)
        self.ping(check, "success" if ok else "fail", ago=ago, body=body)

    def sweep(self) -> None:
        """One pass of the sweeper's Lua script over every shard, as the sweeper does it."""
        for shard in range(keyschema.SHARDS):
            self.run(self.store.sweep(shard, now_ms(), 10_000, 30_000))

    def pause(self, check: Check) -> None:
        assert self.run(self.store.set_paused(check.uuid, True)) == 1

    def get(self, check: Check) -> Check:
        fresh = self.run(self.store.get_check(check.uuid))
        assert fresh is not None
        return fresh


@pytest.fixture(scope="session")
def seed(settings: Settings) -> Iterator[Seeder]:
    seeder = Seeder(settings)
    yield seeder
    seeder.close()


@pytest.fixture
def dashboard(browser: Browser, pingserver: PingServer,
              request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    board = Dashboard(browser, pingserver, request.node.name)
    yield board
    board.close(failed=getattr(request.node, "failed_call", False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.failed_call = True  # type: ignore[attr-defined]
    return report


class Dashboard:
    """Signed-in browser contexts for one test; screenshots go to artifacts/screenshots/."""

    def __init__(self, browser: Browser, server: PingServer, test_name: str) -> None:
        self.browser = browser
        self.server = server
        self.url = server.url
        self.test_name = test_name.replace("[", "-").replace("]", "")
        self.contexts: list[BrowserContext] = []
        self.pages: list[Page] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def page(self, width: int = 1280, height: int = 900) -> Page:
        context = self.browser.new_context(viewport={"width": width, "height": height},
                                           locale="en-GB", timezone_id="UTC")
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        self.pages.append(page)
        return page

    def login(self, api_key: str, *, path: str = "/dashboard/") -> Page:
        page = self.page()
        page.goto(self.url + path)
        page.get_by_label("API key").fill(api_key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    def shot(self, page: Page, name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{self.test_name}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self, *, failed: bool) -> None:
        for i, page in enumerate(self.pages):
            if failed and not page.is_closed():
                with contextlib.suppress(Exception):  # best-effort evidence
                    page.screenshot(path=str(SCREENSHOTS / f"{self.test_name}-FAILED-{i}.png"),
                                    full_page=True)
        for context in self.contexts:
            context.close()

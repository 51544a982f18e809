"""The dashboard in a real browser (Chromium, headless) against a real ping server and Redis."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Route, expect

from pingserver import schedules
from pingserver.model import Check
from pingserver.store import ProjectKeys, now_ms
from tests.browser.conftest import DOCS_SCREENSHOT, Dashboard, Seeder
from tests.conftest import PingServer
from tests.support.redis_server import free_port
from tests.support.wait import wait_for

MINUTE = 60
HOUR = 3600


@dataclass
class Mixed:
    project: ProjectKeys
    up: Check
    late: Check
    down: Check
    paused: Check
    new: Check
    running: Check
    daily: Check


def mixed_project(seed: Seeder) -> Mixed:
    """One check in every state, with some history."""
    project = seed.project("shop")
    up = seed.check(project, "web/backup", tags="prod db", timeout=15 * MINUTE,
                    grace=5 * MINUTE)
    for ago in (40 * MINUTE, 30 * MINUTE, 20 * MINUTE, 10 * MINUTE):
        seed.run_job(up, ago=ago, took=4.2)
    late = seed.check(project, "web/sitemap", tags="prod", timeout=5 * MINUTE,
                      grace=10 * MINUTE)
    seed.ping(late, ago=7 * MINUTE)
    down = seed.check(project, "billing/invoices", tags="prod billing",
                      timeout=5 * MINUTE, grace=MINUTE)
    seed.run_job(down, ago=20 * MINUTE, took=30)
    paused = seed.check(project, "billing/reports", tags="billing", timeout=HOUR, grace=HOUR)
    seed.ping(paused, ago=2 * HOUR)
    seed.pause(paused)
    new = seed.check(project, "cleanup", timeout=HOUR, grace=HOUR)
    running = seed.check(project, "web/reindex", tags="prod", timeout=HOUR, grace=HOUR)
    seed.run_job(running, ago=30 * MINUTE, took=90)
    seed.ping(running, "start", ago=30)
    daily = seed.check(project, "billing/tokyo-export", tags="billing",
                       schedule="0 12 * * *", tz="Asia/Tokyo", grace=HOUR)
    seed.sweep()
    return Mixed(project, up, late, down, paused, new, running, daily)


def row(page: Page, name: str) -> object:
    return page.locator("tr.check", has=page.get_by_role("link", name=name, exact=True))


def state_of(page: Page, name: str) -> str:
    return page.locator(f"tr.check[data-name='{name}'] .state").first.inner_text()


def visible_names(page: Page) -> list[str]:
    return page.locator("tr.check").evaluate_all("rows => rows.map(r => r.dataset.name)")


# Signing in ---------------------------------------------------------------------------------


def test_root_redirects_to_sign_in_and_wrong_key_is_refused(dashboard: Dashboard) -> None:
    page = dashboard.page()
    page.goto(dashboard.url + "/")
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next=%2Fdashboard%2F$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key is not valid.")
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    dashboard.shot(page, "login-error")


def test_cookie_is_httponly_and_strict_and_sign_out_works(dashboard: Dashboard,
                                                          seed: Seeder) -> None:
    project = seed.project()
    page = dashboard.login(project.api_key)
    cookie = next(c for c in page.context.cookies() if c["name"] == "hb_dashboard")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the key
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(dashboard.url + "/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))


# The list -----------------------------------------------------------------------------------


def test_list_shows_every_state(dashboard: Dashboard, seed: Seeder) -> None:
    mixed = mixed_project(seed)
    page = dashboard.login(mixed.project.api_key)
    expect(page.locator("tr.check")).to_have_count(7)
    assert state_of(page, "web/backup") == "Up"
    assert state_of(page, "web/sitemap") == "Late"
    assert state_of(page, "billing/invoices") == "Down"
    assert state_of(page, "billing/reports") == "Paused"
    assert state_of(page, "cleanup") == "New"
    running = page.locator("tr.check[data-name='web/reindex']")
    expect(running.locator(".state--up")).to_have_text("Up")
    expect(running.locator(".state--running")).to_have_text("Running")
    # Every state carries a shape (icon) and a text label, not only a colour.
    for state in ("up", "late", "down", "paused", "new"):
        badge = page.locator(f".checks .state--{state}").first
        expect(badge.locator("svg.icon")).to_have_count(1)
        assert badge.inner_text().strip()
    # Grouped by namespace, schedule in words, last ping relative, recent pings as a strip.
    groups = page.locator("tr.group th").all_inner_texts()
    assert [g.split()[-1] for g in groups] == ["billing", "web", "checks"]
    backup = page.locator("tr.check[data-name='web/backup']")
    expect(backup.locator(".col-schedule")).to_contain_text("every 15 minutes")
    expect(backup.locator(".col-last")).to_have_text("10 minutes ago")
    expect(backup.locator(".col-next")).to_have_text("late in 5 minutes")
    expect(backup.locator(".col-dur")).to_have_text("4.2 s")
    expect(backup.locator(".col-strip svg")).to_have_attribute(
        "aria-label", re.compile(r"^Last 8 pings: 4 start, 4 success; newest: Success"))
    expect(backup.locator(".col-strip .pm--success")).to_have_count(4)
    tokyo = page.locator("tr.check[data-name='billing/tokyo-export']")
    expect(tokyo.locator(".col-schedule")).to_contain_text("at 12:00 Asia/Tokyo")
    expect(page.locator("#count-down .count__n")).to_have_text("1")
    expect(page.locator("#count-running .count__n")).to_have_text("1")
    expect(page).to_have_title("1 down, 1 late, 2 up, 2 new, 1 paused, 1 running · Heartbeat")
    dashboard.shot(page, "list")


def test_filters_and_sorting(dashboard: Dashboard, seed: Seeder) -> None:
    mixed = mixed_project(seed)
    page = dashboard.login(mixed.project.api_key)
    expect(page.locator("tr.check")).to_have_count(7)

    page.get_by_label("State", exact=True).select_option("down")
    expect(page.locator("tr.check")).to_have_count(1)
    assert visible_names(page) == ["billing/invoices"]
    expect(page).to_have_url(re.compile(r"\?state=down$"))
    expect(page.locator("#shown")).to_have_text("Showing 1 of 7 checks.")

    page.get_by_label("State", exact=True).select_option("")
    page.get_by_label("Tag", exact=True).select_option("billing")
    expect(page.locator("tr.check")).to_have_count(3)
    assert sorted(visible_names(page)) == ["billing/invoices", "billing/reports",
                                           "billing/tokyo-export"]

    page.get_by_label("Tag", exact=True).select_option("")
    page.get_by_label("Search", exact=True).fill("sitemap")
    expect(page.locator("tr.check")).to_have_count(1)
    assert visible_names(page) == ["web/sitemap"]

    # A tag chip filters by that tag; the running count filters running checks.
    page.get_by_label("Search", exact=True).fill("")
    expect(page.locator("tr.check")).to_have_count(7)
    page.locator("tr.check[data-name='web/backup'] a.tag", has_text="db").click()
    expect(page.locator("tr.check")).to_have_count(1)
    expect(page.get_by_label("Tag", exact=True)).to_have_value("db")
    page.locator("#count-running").click()
    expect(page.locator("tr.check")).to_have_count(0)  # db-tagged and running: none
    expect(page.get_by_text("No check matches these filters.")).to_be_visible()
    page.get_by_label("Tag", exact=True).select_option("")
    expect(page.locator("tr.check")).to_have_count(1)
    assert visible_names(page) == ["web/reindex"]

    # Sorting by name, then reversed by clicking the header again.
    page.get_by_label("State", exact=True).select_option("")
    page.get_by_role("link", name="Name").click()
    expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Name")
    billing = page.locator("tbody", has=page.locator("tr.group", has_text="billing"))
    expect(billing.locator("tr.check")).to_have_count(3)
    assert billing.locator("tr.check").evaluate_all("rs => rs.map(r => r.dataset.name)") == [
        "billing/invoices", "billing/reports", "billing/tokyo-export"]
    page.get_by_role("link", name="Name").click()
    expect(page.locator("th[aria-sort='descending']")).to_contain_text("Name")
    assert billing.locator("tr.check").evaluate_all("rs => rs.map(r => r.dataset.name)") == [
        "billing/tokyo-export", "billing/reports", "billing/invoices"]
    expect(page).to_have_url(re.compile(r"sort=name&dir=desc"))

    # The filtered URL works on its own (no JavaScript state needed).
    page.goto(dashboard.url + "/dashboard/?state=late")
    assert visible_names(page) == ["web/sitemap"]
    dashboard.shot(page, "filtered")



def test_a_sort_click_keeps_a_filter_whose_refresh_is_still_on_the_way(
        dashboard: Dashboard, seed: Seeder) -> None:
    mixed = mixed_project(seed)
    page = dashboard.login(mixed.project.api_key)
    page.locator("#count-down").click()
    expect(page.locator("tr.check")).to_have_count(1)
    # The refresh for the next filter change is held back, so the sort links on the page
    # are still those rendered for state=down when Name is clicked.
    held: list[Route] = []
    refreshes = re.compile(r"/dashboard/list")

    def hold(route: Route) -> None:
        held.append(route)

    page.route(refreshes, hold)
    page.get_by_label("State", exact=True).select_option("")
    # page.evaluate lets Playwright deliver the intercepted request to the handler above.
    wait_for(lambda: page.evaluate("0") == 0 and held, 10, 0.05, "the held refresh")
    page.get_by_role("link", name="Name").click()
    wait_for(lambda: page.evaluate("0") == 0 and len(held) == 2, 10, 0.05,
             "the sort's refresh")
    page.unroute(refreshes, hold)
    for route in held:
        with contextlib.suppress(PlaywrightError):  # the first one was aborted by the second
            route.continue_()
    expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Name")
    expect(page.locator("tr.check")).to_have_count(7)
    expect(page.get_by_label("State", exact=True)).to_have_value("")


def test_keyboard_only(dashboard: Dashboard, seed: Seeder) -> None:
    mixed = mixed_project(seed)
    page = dashboard.login(mixed.project.api_key)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(10):  # to the search field, through the header controls
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-q":
            break
    expect(page.get_by_label("Search", exact=True)).to_be_focused()
    page.keyboard.type("invoices")
    expect(page.locator("tr.check")).to_have_count(1)
    for _ in range(40):  # on to the first check's link
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('check__name')"):
            break
    expect(page.get_by_role("link", name="invoices", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("billing/invoices")


def test_list_refreshes_without_reload(dashboard: Dashboard, seed: Seeder) -> None:
    project = seed.project()
    check = seed.check(project, "nightly", timeout=HOUR, grace=HOUR)
    seed.ping(check, ago=60)
    page = dashboard.login(project.api_key)
    expect(page.locator("tr.check .state")).to_have_text("Up")
    page.evaluate("window.__still_the_same_page = true")
    page.get_by_label("Search", exact=True).focus()

    response = requests.post(f"{dashboard.url}/ping/{check.uuid}/fail", data=b"disk full",
                             timeout=5)
    assert response.status_code == 200

    expect(page.locator("tr.check .state").first).to_have_text("Down", timeout=20_000)
    expect(page.locator("#announce")).to_have_text(re.compile("Checks now: 1 down"))
    assert page.evaluate("window.__still_the_same_page") is True
    expect(page.get_by_label("Search", exact=True)).to_be_focused()
    expect(page.locator("tr.check .col-strip .pm--fail")).to_have_count(1)


# A check ------------------------------------------------------------------------------------


def test_check_page_shows_flip_pings_and_notifications(dashboard: Dashboard,
                                                      seed: Seeder) -> None:
    project = seed.project()
    channel = seed.run(seed.store.save_channel(project.id, "webhook", "ops hook",
                                               {"url": "http://127.0.0.1:9/hook"}))
    check = seed.check(project, "etl/load", timeout=5 * MINUTE, grace=MINUTE,
                       channels=channel["id"], desc="Loads yesterday's orders")
    seed.run_job(check, ago=30 * MINUTE, took=12, body=b"loaded 1204 rows\n")
    seed.run_job(check, ago=20 * MINUTE, took=95, ok=False, body=b"ERROR: deadlock\n")
    seed.run_job(check, ago=15 * MINUTE, took=14, body=b"loaded 998 rows\n")
    seed.sweep()  # the deadline passed 9 minutes ago: down
    assert seed.get(check).status == "down"
    seed.run(seed.store.record_delivery(check.uuid, channel["id"], {
        "ts": seed.get(check).last_flip + 1500, "channel": channel["id"], "kind": "down",
        "attempt": 3, "error": "connection refused (127.0.0.1:9)"}))

    page = dashboard.login(project.api_key)
    page.get_by_role("link", name="load", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("etl/load")
    expect(page.locator(".check-head .state--down")).to_have_text("Down")
    expect(page.get_by_text("Loads yesterday's orders")).to_be_visible()

    history = page.locator("table.history tbody tr")
    flips = history.filter(has=page.locator(".flip")).all_inner_texts()
    assert any("Up → Down" in f and "grace period ended" in f for f in flips), flips
    assert any("Down → Up" in f for f in flips), flips
    assert any("Up → Down" in f and "failure ping" in f for f in flips), flips
    newest = history.first
    expect(newest).to_contain_text("Up → Down")  # the timeout is the newest event
    fail_row = history.filter(has=page.locator(".ping", has_text="Failure"))
    expect(fail_row).to_contain_text("1 min 35 s")
    fail_row.get_by_text("Body").click()
    expect(fail_row.locator("pre")).to_be_visible()
    expect(fail_row.locator("pre")).to_contain_text("ERROR: deadlock")
    expect(fail_row.locator(".source")).to_contain_text("POST 10.0.0.7")

    chart = page.locator("svg.chart__svg")
    expect(chart.locator(".seg--down")).not_to_have_count(0)
    expect(chart.locator(".bar--fail")).to_have_count(1)
    expect(chart.locator(".bar--success")).to_have_count(2)
    expect(chart.locator("desc")).to_have_text(re.compile("went down 2 times"))

    notes = page.locator("table.notes tbody tr")
    expect(notes).to_have_count(1)
    expect(notes.first).to_contain_text("ops hook")
    expect(notes.first).to_contain_text("Failed (attempt 3):")
    expect(notes.first).to_contain_text("connection refused (127.0.0.1:9)")

    ping_url = f"{dashboard.url}/ping/{check.uuid}"
    expect(page.get_by_label("Send a request to this URL when the job succeeds")).to_have_value(
        ping_url)
    expect(page.locator("#snip-curl")).to_contain_text(f"{ping_url}/start")
    expect(page.locator("#snip-hb")).to_have_text(f"hb run --url {ping_url} -- ./your-job.sh")
    expect(page.get_by_label("or, by slug, with the project's ping key")).to_have_value(
        f"{dashboard.url}/ping/{project.ping_key}/etl_load")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=dashboard.url)
    copy = page.locator("button[data-copy='ping-url']")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == ping_url
    copy_hb = page.locator("button[data-copy='snip-hb']")
    copy_hb.click()
    expect(copy_hb).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == (
        f"hb run --url {ping_url} -- ./your-job.sh")
    expect(page.locator("#announce")).to_have_text("Copied to the clipboard")
    dashboard.shot(page, "check")

    # The range fits the kept pings (30 minutes here) until another one is chosen.
    expect(page.locator("#chart-title")).to_have_text("Timeline of the last 1h")
    expect(page.get_by_role("link", name="1h")).to_have_attribute("aria-current", "true")
    page.get_by_role("link", name="24h").click()
    expect(page.locator("#chart-title")).to_have_text("Timeline of the last 24h")
    expect(page.get_by_role("link", name="24h")).to_have_attribute("aria-current", "true")


def test_pause_and_resume(dashboard: Dashboard, seed: Seeder) -> None:
    project = seed.project()
    check = seed.check(project, "reports", timeout=HOUR, grace=HOUR)
    seed.ping(check, ago=60)
    page = dashboard.login(project.api_key, path=f"/dashboard/checks/{check.uuid}")
    expect(page.locator(".check-head .state")).to_have_text("Up")

    page.get_by_role("button", name="Pause monitoring").click()
    expect(page.get_by_role("status").filter(has_text="Paused")).to_be_visible()
    expect(page.locator(".check-head .state")).to_have_text("Paused")
    assert seed.get(check).status == "paused"
    dashboard.shot(page, "paused")

    page.get_by_role("button", name="Resume monitoring").click()
    expect(page.get_by_role("status").filter(has_text="Resumed")).to_be_visible()
    expect(page.locator(".check-head .state")).to_have_text("New")
    assert seed.get(check).status == "new"


def test_forms_need_the_csrf_token_and_this_site(dashboard: Dashboard, seed: Seeder) -> None:
    project = seed.project()
    check = seed.check(project, "guarded", timeout=HOUR, grace=HOUR)
    page = dashboard.login(project.api_key)
    url = f"{dashboard.url}/dashboard/checks/{check.uuid}/pause"
    assert page.request.post(url, form={}).status == 403
    assert page.request.post(url, form={"csrf": "0" * 64}).status == 403
    token = page.locator("input[name=csrf]").first.input_value()
    forged = page.request.post(url, form={"csrf": token},
                               headers={"Origin": "http://evil.example"})
    assert forged.status == 403
    assert seed.get(check).status == "new"
    ok = page.request.post(url, form={"csrf": token}, max_redirects=0)
    assert ok.status == 303
    assert seed.get(check).status == "paused"


def test_read_only_key_sees_a_read_only_page(dashboard: Dashboard, seed: Seeder) -> None:
    project = seed.project()
    check = seed.check(project, "payroll", timeout=HOUR, grace=HOUR)
    seed.ping(check, ago=60, body=b"secret output")
    page = dashboard.login(project.api_key_readonly)
    expect(page.locator(".badge-ro")).to_have_text("read-only key")
    expect(page.locator("tr.check .state")).to_have_text("Up")
    assert check.uuid not in page.content()  # links use the check's public unique_key
    page.get_by_role("link", name="payroll", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("payroll")
    expect(page).to_have_url(re.compile(f"/dashboard/checks/{check.unique_key}$"))
    expect(page.get_by_role("button", name=re.compile("Pause|Resume"))).to_have_count(0)
    expect(page.get_by_text("This key is read-only")).to_be_visible()
    expect(page.get_by_text("Hidden from read-only keys")).to_be_visible()
    content = page.content()
    assert check.uuid not in content
    assert "secret output" not in content
    assert project.ping_key not in content
    expect(page.get_by_role("heading", name="Notifications")).to_have_count(0)
    dashboard.shot(page, "read-only")

    token = page.locator("input[name=csrf]").first.input_value()
    forged = page.request.post(f"{dashboard.url}/dashboard/checks/{check.unique_key}/pause",
                               form={"csrf": token})
    assert forged.status == 403
    forged = page.request.post(f"{dashboard.url}/dashboard/checks/{check.uuid}/pause",
                               form={"csrf": token})
    assert forged.status == 403
    assert seed.get(check).status == "up"


def test_other_projects_key_sees_nothing(dashboard: Dashboard, seed: Seeder) -> None:
    mine = seed.project("mine")
    check = seed.check(mine, "private-job", timeout=HOUR, grace=HOUR)
    seed.ping(check, ago=60)
    other = seed.project("other")
    page = dashboard.login(other.api_key)
    expect(page.get_by_text("No checks in this project yet.")).to_be_visible()
    assert "private-job" not in page.content()
    for ident in (check.uuid, check.unique_key, check.uuid.upper()):
        response = page.goto(f"{dashboard.url}/dashboard/checks/{ident}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        assert "private-job" not in page.content()
    fragment = page.request.get(f"{dashboard.url}/dashboard/list?q=private")
    assert fragment.status == 200 and "private-job" not in fragment.text()
    token = page.locator("input[name=csrf]").first.input_value()
    forged = page.request.post(f"{dashboard.url}/dashboard/checks/{check.uuid}/pause",
                               form={"csrf": token})
    assert forged.status == 404
    assert seed.get(check).status == "up"
    ro = dashboard.login(other.api_key_readonly)
    response = ro.goto(f"{dashboard.url}/dashboard/checks/{check.unique_key}")
    assert response is not None and response.status == 404


def test_fragment_needs_a_session(dashboard: Dashboard) -> None:
    page = dashboard.page()
    response = page.request.get(f"{dashboard.url}/dashboard/list")
    assert response.status == 401
    page.context.add_cookies([{"name": "hb_dashboard", "value": "revoked-or-wrong",
                               "url": dashboard.url + "/dashboard/"}])
    page.goto(dashboard.url + "/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))


# The README picture ------------------------------------------------------------------------


def after_last_tick(expr: str, tz: str, took: float) -> float:
    """How many seconds ago a run that started at the schedule's latest tick ended, so that a
    cron check pinged then is up whatever the time of day the test runs."""
    now = now_ms()
    ticks = [t for t in schedules.ticks_after(expr, tz, now - 8 * 86400 * 1000, count=2000)
             if t <= now]
    ago = (now - ticks[-1]) / 1000 - took
    return ago if ago > 5 else 1


def readme_project(seed: Seeder) -> ProjectKeys:
    """A plausible project: CronJobs of three namespaces and two plain cron scripts, with one
    check in each state."""
    project = seed.project("production")
    backup = seed.check(project, "db/postgres-backup", tags="prod db", schedule="30 2 * * *",
                        tz="Europe/Berlin", grace=HOUR)
    for day in (3, 2, 1):
        seed.run_job(backup, ago=day * 86400 + 9 * HOUR, took=13 * MINUTE + day * 40)
    seed.run_job(backup, ago=after_last_tick("30 2 * * *", "Europe/Berlin", 14 * MINUTE + 12),
                 took=14 * MINUTE + 12)
    vacuum = seed.check(project, "db/vacuum-analyze", tags="prod db", timeout=HOUR,
                        grace=15 * MINUTE)
    for i in range(14, 0, -1):
        seed.run_job(vacuum, ago=i * HOUR - 40 * MINUTE, took=40 + 3 * (i % 5))
    invoices = seed.check(project, "billing/send-invoices", tags="prod billing",
                          timeout=15 * MINUTE, grace=5 * MINUTE)
    for i in range(12, 2, -1):
        seed.run_job(invoices, ago=i * 15 * MINUTE + 3 * MINUTE, took=20 + i,
                     ok=i not in (5, 4))
    seed.run_job(invoices, ago=24 * MINUTE, took=61, ok=False, body=b"SMTP 451 try later")
    exports = seed.check(project, "billing/tokyo-export", tags="billing",
                         schedule="0 12 * * *", tz="Asia/Tokyo", grace=HOUR)
    seed.pause(exports)
    feeds = seed.check(project, "shop/price-feed", tags="prod", timeout=5 * MINUTE,
                       grace=5 * MINUTE)
    for i in range(20, 1, -1):
        seed.run_job(feeds, ago=i * 5 * MINUTE + 60, took=2.5 + (i % 3))
    seed.ping(feeds, "success", ago=7 * MINUTE)
    sitemap = seed.check(project, "shop/sitemap", tags="seo", schedule="*/10 * * * *",
                         grace=5 * MINUTE)
    for i in range(12, 1, -1):
        seed.run_job(sitemap, ago=i * 10 * MINUTE + 11, took=8)
    seed.run_job(sitemap, ago=after_last_tick("*/10 * * * *", "UTC", 8), took=8)
    reindex = seed.check(project, "shop/search-reindex", tags="prod", timeout=HOUR,
                         grace=30 * MINUTE)
    for i in range(6, 0, -1):
        seed.run_job(reindex, ago=i * HOUR - 50 * MINUTE, took=4 * MINUTE + 20)
    seed.ping(reindex, "start", ago=95)
    certs = seed.check(project, "cert-renewal", tags="ops", schedule="0 4 * * 1",
                       grace=6 * HOUR)
    seed.run_job(certs, ago=after_last_tick("0 4 * * 1", "UTC", 3.1), took=3.1)
    seed.check(project, "log-rotate", tags="ops", timeout=86400, grace=HOUR)
    seed.sweep()
    return project


def test_readme_screenshot(dashboard: Dashboard, seed: Seeder) -> None:
    """Makes docs/dashboard.png when HB_UPDATE_DOCS_SCREENSHOT=1, else only the artefact (the
    picture changes with the clock, so the tracked copy is refreshed on purpose only)."""
    project = readme_project(seed)
    page = dashboard.login(project.api_key)
    expect(page.locator("tr.check")).to_have_count(9)
    for state in ("up", "late", "down", "paused", "new"):
        expect(page.locator(f"tr.check--{state}").first).to_be_visible()
    page.locator("#f-q").blur()
    path = dashboard.shot(page, "readme", full_page=True)
    if os.environ.get("HB_UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(path, DOCS_SCREENSHOT)
    page.get_by_role("link", name="send-invoices", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("billing/send-invoices")
    dashboard.shot(page, "readme-check", full_page=True)


@pytest.mark.parametrize("width", [420])
def test_narrow_screen(dashboard: Dashboard, seed: Seeder, width: int) -> None:
    mixed = mixed_project(seed)
    page = dashboard.page(width=width, height=800)
    page.goto(dashboard.url + "/dashboard/login")
    page.get_by_label("API key").fill(mixed.project.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("tr.check")).to_have_count(7)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways; only the table may"
    dashboard.shot(page, "narrow")


def test_storage_down_is_an_html_page(dashboard: Dashboard) -> None:
    server = PingServer(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        page = dashboard.page()
        page.context.add_cookies([{"name": "hb_dashboard", "value": "some-key",
                                   "url": server.url + "/dashboard/"}])
        response = page.goto(server.url + "/dashboard/")
        assert response is not None and response.status == 503
        expect(page.get_by_role("heading", level=1)).to_have_text("Storage is not reachable")
    finally:
        server.stop()


def test_link_from_another_site_keeps_the_session(dashboard: Dashboard, seed: Seeder) -> None:
    """SameSite=Strict cookies are not sent when another site links to the dashboard; the
    page reloads itself from the dashboard's own site, which does send them."""
    project = seed.project()
    check = seed.check(project, "linked-from-chat", timeout=HOUR, grace=HOUR)
    page = dashboard.login(project.api_key)
    target = f"{dashboard.url}/dashboard/checks/{check.uuid}"
    page.route("http://chat.example/", lambda route: route.fulfill(
        content_type="text/html", body=f'<a href="{target}">the check</a>'))
    page.goto("http://chat.example/")
    page.get_by_role("link", name="the check").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("linked-from-chat")
    expect(page).to_have_url(target)

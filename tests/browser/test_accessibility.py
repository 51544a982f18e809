"""Every page passes axe-core's checks (WCAG A/AA and best practices), in the light and the
dark colour scheme. axe-core comes bundled with the axe-playwright-python package."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from pingserver.store import now_ms
from tests.browser.conftest import Dashboard, Seeder
from tests.browser.test_dashboard import mixed_project
from tests.browser.test_silences import oncall_project, save_silence

try:
    from axe_playwright_python.sync_playwright import Axe
except ImportError:  # pragma: no cover
    Axe = None


def audit(page: Page, name: str) -> list[str]:
    result = Axe().run(page)
    if not result.violations_count:
        return []
    return [f"{name}: {result.generate_report()}"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe(dashboard: Dashboard, seed: Seeder, scheme: str) -> None:
    if Axe is None:  # a test extra: scripts/setup.sh installs it
        pytest.fail("axe-playwright-python is not installed (run scripts/setup.sh)")
    mixed = mixed_project(seed)
    seed.ping(mixed.down, "log", ago=60, body=b"disk 93% full\n")
    problems: list[str] = []

    page = dashboard.page()
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(dashboard.url + "/dashboard/login")
    page.get_by_label("API key").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    problems += audit(page, "login with an error")

    page.get_by_label("API key").fill(mixed.project.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("tr.check")).to_have_count(7)
    problems += audit(page, "list")
    dashboard.shot(page, "list")
    page.get_by_label("State", exact=True).select_option("paused")
    expect(page.locator("tr.check")).to_have_count(1)
    page.get_by_label("Tag", exact=True).select_option("db")
    expect(page.get_by_text("No check matches these filters.")).to_be_visible()
    problems += audit(page, "list, nothing matches")

    for check in (mixed.down, mixed.running, mixed.new):
        page.goto(f"{dashboard.url}/dashboard/checks/{check.uuid}")
        if check is mixed.down:
            page.get_by_text("Body", exact=True).click()
            expect(page.locator("details.body pre")).to_be_visible()
        problems += audit(page, f"check {check.config['name']}")
        dashboard.shot(page, f"check-{check.config['name'].replace('/', '-')}")
    page.goto(f"{dashboard.url}/dashboard/checks/{mixed.up.uuid}")
    page.get_by_role("button", name="Pause monitoring").click()
    expect(page.get_by_role("status").filter(has_text="Paused")).to_be_visible()
    problems += audit(page, "check just paused")
    page.goto(f"{dashboard.url}/dashboard/checks/{'0' * 40}")
    problems += audit(page, "not found")

    ro = dashboard.login(mixed.project.api_key_readonly,
                         path=f"/dashboard/checks/{mixed.late.unique_key}")
    ro.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    expect(ro.get_by_text("This key is read-only")).to_be_visible()
    problems += audit(ro, "read-only check")

    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_silence_pages_pass_axe(dashboard: Dashboard, seed: Seeder, scheme: str) -> None:
    """The silences page (active, pending and expired ones), and muted checks in the list and
    on their pages, for both keys."""
    if Axe is None:
        pytest.fail("axe-playwright-python is not installed (run scripts/setup.sh)")
    oc = oncall_project(seed)
    save_silence(seed, oc.project, "00000000-0000-4000-8000-0000000000a1", ["tag=db"],
                 ends_at=0, schedule="0 2 * * 0", duration=7200, tz="Europe/Berlin",
                 comment="weekly maintenance", created_by="ops")
    gone = save_silence(seed, oc.project, "00000000-0000-4000-8000-0000000000a2",
                        ['name=~"web/.*"'], comment="old freeze")
    seed.run(seed.store.save_silence(gone.expire(now_ms())))
    problems: list[str] = []

    page = dashboard.login(oc.project.api_key, path=f"/dashboard/checks/{oc.migrate.uuid}")
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    problems += audit(page, "check with the silence form")
    page.get_by_label("Comment").fill("pg upgrade")
    page.get_by_role("button", name="Silence for 4 h").click()
    expect(page.get_by_role("status").filter(has_text="Silenced")).to_be_visible()
    problems += audit(page, "check just silenced")
    page.goto(f"{dashboard.url}/dashboard/checks/{oc.load.uuid}")
    problems += audit(page, "held check")
    page.goto(f"{dashboard.url}/dashboard/")
    expect(page.locator("tr.check .mute")).to_have_count(2)
    problems += audit(page, "list with silenced and held checks")
    page.goto(f"{dashboard.url}/dashboard/silences")
    for state in ("active", "pending", "expired"):
        expect(page.locator(f"#{state} article")).to_have_count(1)
    problems += audit(page, "silences")
    dashboard.shot(page, f"silences-{scheme}")
    page.locator("#active").get_by_role("button", name="Expire").click()
    expect(page.get_by_role("status").filter(has_text="Expired")).to_be_visible()
    problems += audit(page, "silences, one just expired")

    ro = dashboard.login(oc.project.api_key_readonly, path="/dashboard/silences")
    ro.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    problems += audit(ro, "read-only silences")

    assert not problems, "\n\n".join(problems)

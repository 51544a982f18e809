"""Silences in the dashboard, in a real browser against a real ping server and Redis: silence a
check from its page, see it marked in the list and on its page, expire the silence from the
silences page and see the mark go; dependencies named and linked; read-only keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from pingserver.model import Check
from pingserver.silences import Silence, parse_matcher
from pingserver.store import ProjectKeys, now_ms
from tests.browser.conftest import Dashboard, Seeder

MINUTE = 60
HOUR = 3600


@dataclass
class OnCall:
    project: ProjectKeys
    migrate: Check  # up; silenced from its page by the tests
    primary: Check  # down
    load: Check  # down, depends on primary: held
    other: Check  # up, never muted


def oncall_project(seed: Seeder) -> OnCall:
    project = seed.project("on-call")
    migrate = seed.check(project, "db/migrate", tags="db", timeout=HOUR, grace=HOUR)
    seed.ping(migrate, ago=60)
    primary = seed.check(project, "db/primary", tags="db", timeout=5 * MINUTE, grace=MINUTE)
    seed.ping(primary, ago=20 * MINUTE)
    load = seed.check(project, "etl/load", timeout=5 * MINUTE, grace=MINUTE,
                      depends_on=primary.uuid)
    seed.ping(load, ago=20 * MINUTE)
    other = seed.check(project, "web/sitemap", timeout=HOUR, grace=HOUR)
    seed.ping(other, ago=60)
    seed.sweep()
    return OnCall(project, migrate, primary, load, other)


def save_silence(seed: Seeder, project: ProjectKeys, sid: str, matchers: list[str],
                 **fields: object) -> Silence:
    now = now_ms()
    silence = Silence(id=sid, project=project.id,
                      matchers=tuple(parse_matcher(m) for m in matchers),
                      **{"starts_at": now, "ends_at": now + HOUR * 1000, "created_at": now,
                         "updated_at": now, **fields})  # type: ignore[arg-type]
    seed.run(seed.store.save_silence(silence))
    return silence


def list_row(page: Page, name: str) -> object:
    return page.locator(f"tr.check[data-name='{name}']")


def silence_for_an_hour(page: Page, comment: str) -> None:
    page.get_by_label("Comment").fill(comment)
    page.get_by_role("button", name="Silence for 1 h").click()
    expect(page.get_by_role("status").filter(has_text="Silenced")).to_be_visible()


def test_silence_a_check_from_its_page_then_expire_it(dashboard: Dashboard,
                                                      seed: Seeder) -> None:
    oc = oncall_project(seed)
    page = dashboard.login(oc.project.api_key, path=f"/dashboard/checks/{oc.migrate.uuid}")
    expect(page.locator(".check-head .mute")).to_have_count(0)
    page.get_by_label("Your name (optional)").fill("alice")
    silence_for_an_hour(page, "pg upgrade")

    [silence] = seed.run(seed.store.list_silences(oc.project.id))
    assert [m.text() for m in silence.matchers] == [f'uuid="{oc.migrate.uuid}"']
    assert (silence.comment, silence.created_by) == ("pg upgrade", "alice")
    assert abs(silence.ends_at - silence.starts_at - HOUR * 1000) < 1000
    # Marked on its page: text and icon, the silence named and linked.
    mark = page.locator(".check-head .mute--silenced")
    expect(mark.locator(".state")).to_have_text("Silenced")
    expect(mark.locator("svg.icon")).to_have_count(1)
    link = mark.get_by_role("link", name="pg upgrade")
    expect(link).to_have_attribute("href", f"/dashboard/silences#silence-{silence.id}")
    expect(page.locator(".check-head .state--up")).to_have_text("Up")  # its state is unchanged
    dashboard.shot(page, "check-silenced")

    # Marked in the list; the other checks are not.
    page.get_by_role("link", name="Checks", exact=True).click()
    migrate = list_row(page, "db/migrate")
    expect(migrate.locator(".mute--silenced .state")).to_have_text("Silenced")
    expect(migrate.locator(".mute--silenced svg.icon")).to_have_count(1)
    expect(migrate.locator(".mute--silenced")).to_have_attribute(
        "title", f'silenced by "pg upgrade" ({silence.id})')
    expect(list_row(page, "web/sitemap").locator(".mute")).to_have_count(0)
    dashboard.shot(page, "list-silenced")

    # The silences page lists it as active, with what it matches.
    migrate.get_by_role("link", name="pg upgrade").click()
    expect(page).to_have_url(re.compile(f"/dashboard/silences#silence-{silence.id}$"))
    card = page.locator(f"#silence-{silence.id}")
    expect(page.locator("#active").locator(f"#silence-{silence.id}")).to_have_count(1)
    expect(card.locator(".state")).to_have_text("Active")
    expect(card.locator(".matchers")).to_have_text(f'uuid="{oc.migrate.uuid}"')
    expect(card).to_contain_text("alice")
    expect(card.locator(".matched")).to_have_text("db/migrate")
    dashboard.shot(page, "silences-active")

    card.get_by_role("button", name="Expire").click()
    expect(page.get_by_role("status").filter(has_text="Expired")).to_be_visible()
    expired = page.locator("#expired").locator(f"#silence-{silence.id}")
    expect(expired.locator(".state")).to_have_text("Expired")
    expect(expired.get_by_role("button", name="Expire")).to_have_count(0)
    expect(page.locator("#active article")).to_have_count(0)
    fresh = seed.run(seed.store.get_silence(oc.project.id, silence.id))
    assert fresh is not None and fresh.state(now_ms()) == "expired"

    # The marks are gone, in the list and on the check's page.
    page.get_by_role("link", name="Checks", exact=True).click()
    expect(list_row(page, "db/migrate")).to_have_count(1)
    expect(list_row(page, "db/migrate").locator(".mute")).to_have_count(0)
    page.goto(f"{dashboard.url}/dashboard/checks/{oc.migrate.uuid}")
    expect(page.locator(".check-head .mute")).to_have_count(0)


def test_list_mark_appears_with_the_live_refresh(dashboard: Dashboard, seed: Seeder) -> None:
    oc = oncall_project(seed)
    page = dashboard.login(oc.project.api_key)
    expect(list_row(page, "web/sitemap")).to_have_count(1)
    expect(list_row(page, "web/sitemap").locator(".mute")).to_have_count(0)
    save_silence(seed, oc.project, "00000000-0000-4000-8000-00000000000a", ["name=web/sitemap"],
                 comment="seo freeze")
    expect(list_row(page, "web/sitemap").locator(".mute--silenced")).to_contain_text(
        "seo freeze", timeout=20_000)


def test_a_held_check_names_and_links_its_down_dependency(dashboard: Dashboard,
                                                          seed: Seeder) -> None:
    oc = oncall_project(seed)
    page = dashboard.login(oc.project.api_key)
    held = list_row(page, "etl/load").locator(".mute--held")
    expect(held.locator(".state")).to_have_text("Held")
    expect(held.locator("svg.icon")).to_have_count(1)
    expect(held.locator(".mute__why")).to_have_text("dependency db_primary is down")
    expect(list_row(page, "db/primary").locator(".mute")).to_have_count(0)
    held.get_by_role("link", name="db_primary").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("db/primary")

    page.goto(f"{dashboard.url}/dashboard/checks/{oc.load.uuid}")
    expect(page.locator(".check-head .mute--held")).to_contain_text(
        "dependency db_primary is down")
    deps = page.locator(".facts .deps li")
    expect(deps).to_have_count(1)
    expect(deps.get_by_role("link", name="db_primary")).to_have_attribute(
        "href", f"/dashboard/checks/{oc.primary.uuid}")
    expect(deps.locator(".state")).to_have_text("Down")


def test_silence_until_a_time_and_bad_input(dashboard: Dashboard, seed: Seeder) -> None:
    oc = oncall_project(seed)
    page = dashboard.login(oc.project.api_key, path=f"/dashboard/checks/{oc.other.uuid}")
    until = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    page.get_by_label("Comment").fill("sitemap rebuild")
    page.get_by_label("Until (UTC)").fill(until.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Silence until the time set").click()
    expect(page.get_by_role("status").filter(has_text="Silenced")).to_be_visible()
    [silence] = seed.run(seed.store.list_silences(oc.project.id))
    assert silence.ends_at == int(until.timestamp() * 1000)
    expect(page.locator(".check-head .mute--silenced")).to_contain_text("sitemap rebuild")

    url = f"{dashboard.url}/dashboard/checks/{oc.other.uuid}/silence"
    token = page.locator("input[name=csrf]").first.input_value()
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    for form, message in (
            ({"for": "1h", "comment": ""}, "comment is missing"),
            ({"for": "until", "comment": "x", "until": ""}, "until is missing"),
            ({"for": "until", "comment": "x", "until": past}, "until must be in the future"),
            ({"for": "until", "comment": "x", "until": "2099-01-01T00:00"},
             "ends_at is too far from starts_at")):
        response = page.request.post(url, form={"csrf": token, **form})
        assert response.status == 400, form
        assert message in response.text(), (form, response.text())
    assert len(seed.run(seed.store.list_silences(oc.project.id))) == 1  # nothing written
    response = page.request.post(url, form={"for": "1h", "comment": "x"})
    assert response.status == 403  # no CSRF token


def test_windows_and_read_only_keys(dashboard: Dashboard, seed: Seeder) -> None:
    oc = oncall_project(seed)
    window = save_silence(seed, oc.project, "00000000-0000-4000-8000-00000000000b",
                          ["tag=db"], ends_at=0, schedule="0 2 * * 0", duration=7200,
                          tz="Europe/Berlin", comment="weekly maintenance", created_by="ops")
    one = save_silence(seed, oc.project, "00000000-0000-4000-8000-00000000000c",
                       [f"uuid={oc.migrate.uuid}"], comment="")
    page = dashboard.login(oc.project.api_key, path="/dashboard/silences")
    card = page.locator(f"#pending #silence-{window.id}")
    expect(card.locator(".state")).to_have_text("Pending")
    expect(card).to_contain_text("at 02:00 on Sundays Europe/Berlin, for 2 hours")
    windows = card.locator(".windows li")
    expect(windows).to_have_count(5)
    for text in windows.all_inner_texts():
        assert re.fullmatch(r"Sun \d{4}-\d\d-\d\d 02:00 to 04:00 Europe/Berlin", text), text
    expect(card.locator(".matched li")).to_have_count(2)  # db/migrate, db/primary

    ro = dashboard.login(oc.project.api_key_readonly, path="/dashboard/silences")
    expect(ro.locator(f"#silence-{window.id}")).to_have_count(1)
    expect(ro.get_by_role("button", name="Expire")).to_have_count(0)
    hidden = ro.locator(f"#silence-{one.id}")
    expect(hidden.locator(".matchers")).to_have_text('uuid="(hidden)"')
    assert oc.migrate.uuid not in ro.content()
    ro.goto(f"{dashboard.url}/dashboard/")
    mark = list_row(ro, "db/migrate").locator(".mute--silenced")
    expect(mark).to_have_attribute("title", f'silenced by "uuid="(hidden)"" ({one.id})')
    assert oc.migrate.uuid not in ro.content()
    ro.goto(f"{dashboard.url}/dashboard/checks/{oc.migrate.unique_key}")
    expect(ro.get_by_role("heading", name="Silence this check")).to_have_count(0)
    token = ro.locator("input[name=csrf]").first.input_value()
    for url in (f"{dashboard.url}/dashboard/checks/{oc.migrate.unique_key}/silence",
                f"{dashboard.url}/dashboard/silences/{window.id}/expire"):
        response = ro.request.post(url, form={"csrf": token, "for": "1h", "comment": "x"})
        assert response.status == 403, url
    assert len(seed.run(seed.store.list_silences(oc.project.id))) == 2
    fresh = seed.run(seed.store.get_silence(oc.project.id, window.id))
    assert fresh is not None and fresh.state(now_ms()) == "pending"


def test_other_projects_silences_are_not_found(dashboard: Dashboard, seed: Seeder) -> None:
    oc = oncall_project(seed)
    mine = save_silence(seed, oc.project, "00000000-0000-4000-8000-00000000000d", ["tag=db"],
                        comment="private freeze")
    other = seed.project("other")
    page = dashboard.login(other.api_key, path="/dashboard/silences")
    expect(page.locator("article.silence")).to_have_count(0)
    assert "private freeze" not in page.content()
    token = page.locator("input[name=csrf]").first.input_value()
    response = page.request.post(f"{dashboard.url}/dashboard/silences/{mine.id}/expire",
                                 form={"csrf": token})
    assert response.status == 404
    fresh = seed.run(seed.store.get_silence(oc.project.id, mine.id))
    assert fresh is not None and fresh.state(now_ms()) == "active"

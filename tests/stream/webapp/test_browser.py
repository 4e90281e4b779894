"""The swipe app in a real headless Chromium, against a real worker, broker and `movierec app`.

A new user loves four Animation films; after each swipe the list on the page must be the
one that swipe caused (pushed live over server-sent events, no reload), different from the
list before, with exactly its new movies highlighted; it ends with Animation films in it.
Screenshots (desktop and phone) are saved in the test's tmp_path.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from stream_app.webapp.catalog import Catalog, load_catalog

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

GENRE = "Animation"
LIVE_TIMEOUT_MS = 20_000


def visible_ids(page) -> list[int]:
    return [int(x) for x in page.locator("#list li").evaluate_all("els => els.map(e => e.dataset.movieId)")]


def put_on_card(page, catalog: Catalog, loved: list[int]) -> int:
    """An Animation film on the card: the best one in the visible list, else found by title."""
    for li in page.locator("#list li").all():
        movie = int(li.get_attribute("data-movie-id"))
        if GENRE in li.get_attribute("data-genres").split("|") and movie not in loved:
            li.get_by_role("button").click()
            return movie
    movie = next(m for m in catalog.popular if GENRE in catalog.cards[m]["genres"] and m not in loved)
    card = catalog.cards[movie]
    page.get_by_role("searchbox", name="Rate a movie you know").fill(card["title"])
    page.locator("#search-results").get_by_role("button", name=f"{card['title']} ({card['year']})", exact=True).click()
    return movie


def test_a_new_user_loves_four_animation_films_and_the_list_follows_live(
        worker_factory, app_server_factory: Callable[..., str], chromium, small_artifacts: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url = app_server_factory(worker_factory())
    catalog = load_catalog(small_artifacts)
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)

    page.get_by_role("button", name="New user").click()
    items, list_box, card = page.locator("#list li"), page.locator("#list"), page.locator("#card")
    expect(items).to_have_count(10)
    love = page.get_by_role("button", name="Love", exact=True)
    expect(love).to_be_enabled()
    user = int(page.get_by_label("User id").input_value())
    assert user not in catalog.known_users
    # the first card is the system's call: the top of the new user's (cold start) list
    expect(card).to_have_attribute("data-movie-id", items.first.get_attribute("data-movie-id"))
    expect(page.locator("#card-why")).to_have_text("#1 on your list")
    expect(page.locator("#list-meta")).to_contain_text(
        f"model {catalog.model_version} · {list_box.get_attribute('data-strategy')}")

    loved: list[int] = []
    for i in range(4):
        before = visible_ids(page)
        movie = put_on_card(page, catalog, loved)
        expect(card).to_have_attribute("data-movie-id", str(movie))
        expect(page.locator("#card-genres")).to_contain_text(GENRE)
        with page.expect_response(re.compile(r"/api/swipes$")) as swiped:
            if i % 2:
                page.keyboard.press("ArrowRight")  # the keyboard's "love"
            else:
                love.click()
        assert swiped.value.status == 202, swiped.value.text()
        # the list this swipe caused, pushed to the page without a reload
        expect(list_box).to_have_attribute("data-cause", swiped.value.json()["event_id"], timeout=LIVE_TIMEOUT_MS)
        after = visible_ids(page)
        assert after != before, f"swipe {i + 1}: the visible list did not change"
        assert movie not in after  # a loved film is seen: it leaves the list
        highlighted = {int(x) for x in page.locator("#list li.new").evaluate_all("els => els.map(e => e.dataset.movieId)")}
        assert highlighted == set(after) - set(before)
        strategy = list_box.get_attribute("data-strategy")
        expect(page.locator("#list-meta")).to_contain_text(f"model {catalog.model_version} · {strategy}")
        loved.append(movie)

    genres = [li.get_attribute("data-genres").split("|") for li in items.all()]
    in_genre = [g for g in genres if GENRE in g]
    assert in_genre, f"no {GENRE} film in the final list: {genres}"
    expect(list_box).to_contain_text(GENRE)  # shown, not only in the markup
    assert errors == []
    page.screenshot(path=str(tmp_path / "app.png"), full_page=True, animations="disabled")

    phone = chromium.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(f"{url}?user={user}")
    expect(phone.locator("#list li")).to_have_count(10)
    expect(phone.get_by_role("button", name="Love", exact=True)).to_be_enabled()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
    for name in ("Hate", "Dislike", "Like", "Love"):  # all four on the first screen, big enough to tap
        box = phone.get_by_role("button", name=name, exact=True).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844 and box["height"] >= 44 and box["width"] >= 44
    phone.get_by_label("User id").focus()
    order = []
    for _ in range(9):
        phone.keyboard.press("Tab")
        order.append(phone.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert order == ["Open", "new-user", "card-link", "← Hate", "↓ Dislike", "↑ Like", "→ Love", "skip", "search"]
    phone.screenshot(path=str(tmp_path / "app-phone.png"), full_page=True, animations="disabled")
    print(f"screenshots: {tmp_path / 'app.png'}, {tmp_path / 'app-phone.png'}; {len(in_genre)} {GENRE} films in the final list")

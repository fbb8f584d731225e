"""The search page in a real headless Chromium (selenium + Debian's chromium-driver) against a real uvicorn.

Skipped on a machine without the browser; in CI (CI=true) a missing browser is a failure, since
`make browser` (called by .ci/run) installs it. Screenshots land in build/screenshots/ for people to look at.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "screenshots"
QUERY = "précarité alimentaire"
FIRST = "Epicerie solidaire ephémère"
NONSENSE = "zorglub xyzzy"
EMPTY_MESSAGE = f"Aucune fiche ne parle de « {NONSENSE} »."
PAGED = {"q": "habitants", "mode": "lexical"}  # more than a page of results in the sample
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_S = 20


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        driver = None
    if chromium and driver:
        return chromium, driver
    why = "headless browser test needs chromium, chromedriver and selenium (make browser; pip install -e '.[test]')"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why}: missing in CI")
    pytest.skip(why)


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver. Session-scoped and first in `page`'s arguments, so a skip comes
    before the session-scoped sample index and server are built for nothing (pytest sets up wider scopes
    first)."""
    return _browser_or_skip()


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str]) -> Iterator:
    binary, driver_path = chromium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="semsearch-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,900")
    options.binary_location = binary
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(WAIT_S)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium: tuple[str, str], browser, http_server: str):
    browser.set_window_size(1280, 900)
    return Page(browser, http_server)


class Page:
    """The few things the tests do with the page, in the page's own words."""

    def __init__(self, driver, base: str) -> None:
        self.driver, self.base = driver, base

    def open(self, path: str) -> Page:
        self.driver.get(self.base + path)
        return self.settle()

    def settle(self) -> Page:
        """Wait until the script has drawn the answer (it marks the body aria-busy while it waits)."""
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, WAIT_S).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && !document.body.hasAttribute('aria-busy')"
            " && document.getElementById('status').textContent !== 'Recherche en cours…'"
            " && document.getElementById('action-title').textContent !== 'Chargement de la fiche…'"))
        return self

    def css(self, selector: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector: str):
        found = self.css(selector)
        assert found, f"nothing matches {selector!r} on {self.driver.current_url}"
        return found[0]

    def text(self, selector: str) -> str:
        return self.one(selector).text

    def titles(self) -> list[str]:
        return [a.text for a in self.css("#results .card-title a")]

    def url_params(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.driver.current_url).query)

    def shoot(self, name: str, full: bool = False) -> None:
        """A screenshot in build/screenshots/; `full` grows the window to the page's height first."""
        if full:
            width = self.driver.execute_script("return window.outerWidth")
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, min(height + 140, 6000))
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))


def api(base: str, path: str, **params) -> dict:
    response = httpx.get(base + path, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_typed_query_shows_results_and_stays_in_the_url(page: Page) -> None:
    page.open("/")
    assert page.driver.execute_script("return document.documentElement.lang") == "fr"
    page.one("#q").send_keys(QUERY)
    page.one("#search-form button[type=submit]").click()
    page.settle()

    assert page.url_params()["q"] == [QUERY]
    expected = api(page.base, "/search", q=QUERY, limit=10)
    assert page.titles() == [r["title"] for r in expected["results"]]
    assert page.titles()[0] == FIRST
    assert expected["total"] > 1 and f"{expected['total']} actions trouvées pour « {QUERY} »" in page.text("#status")
    first = page.one("#results .card")
    assert first.find_element("css selector", ".meta").text.startswith("CENTRE SOCIAL EVRE ET MAUGES")
    assert [c.text for c in first.find_elements("css selector", ".chips .chip")] == expected["results"][0]["keywords"]
    assert first.find_element("css selector", ".section-label").text.lower() == \
        expected["results"][0]["passage"]["label"].lower()
    marks = [m.text.lower() for m in first.find_elements("css selector", ".passage mark")]
    assert "précarité" in marks
    assert "Pourquoi ce résultat" in first.find_element("css selector", ".why").text
    assert first.find_element("css selector", ".card-links a").text == "Projets similaires"
    # Every control has a label (checkboxes, radios, the search box).
    assert page.driver.execute_script(
        "return [...document.querySelectorAll('input')].every(i => i.labels && i.labels.length > 0)")
    # Nothing was loaded from anywhere else than the service.
    loaded = page.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(page.base + "/") for url in loaded), loaded
    page.shoot("01-resultats")

    # A shared link gives the same page; page 2 follows.
    page.open(urlsplit(page.driver.current_url).path + "?" + urlsplit(page.driver.current_url).query)
    assert page.titles()[0] == FIRST
    page.open("/?" + str(httpx.QueryParams(PAGED)))
    page.one("#pager a[rel=next]").click()
    page.settle()
    assert page.url_params()["page"] == ["2"]
    assert page.titles() == [r["title"] for r in api(page.base, "/search", **PAGED, limit=10, offset=10)["results"]]


def test_ticking_a_facet_narrows_the_list_to_its_count_and_back_undoes_it(page: Page) -> None:
    page.open("/?" + str(httpx.QueryParams(q=QUERY)))
    before = api(page.base, "/search", q=QUERY, limit=10)["total"]
    # The first value of Public that narrows the list (ticking it must give fewer actions).
    values = [(box, box.get_attribute("value"), int(box.find_element("xpath", "following-sibling::label")
                                                    .find_element("css selector", ".count").text))
              for box in page.css("fieldset[data-facet=public] input[type=checkbox]")]
    box, value, count = next(v for v in values if 0 < v[2] < before)
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.SPACE)  # from the keyboard
    page.settle()
    # The list is redrawn with the new counts; the keyboard stays on the same checkbox.
    assert page.driver.execute_script("return document.activeElement.value") == value

    assert page.url_params()["public"] == [value] and page.url_params()["q"] == [QUERY]
    expected = api(page.base, "/search", q=QUERY, public=value, limit=10)
    assert expected["total"] == count
    assert len(page.titles()) == min(count, 10)
    assert page.titles() == [r["title"] for r in expected["results"]]
    assert page.text("#status").startswith(f"{count} action")
    assert page.one(f"fieldset[data-facet=public] input[value='{value}']").is_selected()
    # Counts shown after ticking are the API's counts for the filtered search.
    shown = {b.get_attribute("value"): int(b.find_element("xpath", "following-sibling::label")
                                          .find_element("css selector", ".count").text)
             for b in page.css("fieldset[data-facet=dimension] input[type=checkbox]")}
    counts = {v["value"]: v["count"] for v in expected["facets"]["dimension"]}
    assert shown and all(counts[value] == n for value, n in shown.items())
    assert f"Public : {value}" in page.text("#active-filters")
    page.shoot("02-filtre-public")

    page.driver.back()
    page.settle()
    assert "public" not in page.url_params()
    assert page.text("#status").startswith(f"{before} actions")


def test_an_action_page_shows_the_fiche_in_sections_and_similar_projects(page: Page, ids: dict[str, str]) -> None:
    page.open("/?" + str(httpx.QueryParams(q=QUERY)))
    page.one("#results .card-title a").click()
    page.settle()

    assert urlsplit(page.driver.current_url).path == f"/fiche/{ids[FIRST]}"
    assert page.text("#action-title") == FIRST
    headings = [h.text for h in page.css("#action-body h2")]
    for section in ("Résumé", "Description de l'expérience", "Auto-évaluation"):
        assert section in headings
    assert "Résultat pour les habitants" in [h.text for h in page.css("#action-body h3")]
    similar = api(page.base, f"/similar/{ids[FIRST]}", limit=5)["results"]
    cards = page.css("#similar-list .card")
    assert [c.find_element("css selector", ".card-title").text for c in cards] == [r["title"] for r in similar]
    assert all("Pourquoi ce projet" in c.find_element("css selector", ".why").text for c in cards)
    assert page.css("#similar-list .passage")  # the passage that makes it close
    page.shoot("03-fiche", full=True)

    # "Retour à la recherche" goes back to the same results.
    page.driver.set_window_size(1280, 900)
    page.one("#back").click()
    page.settle()
    assert page.url_params()["q"] == [QUERY] and page.titles()[0] == FIRST

    # An unknown id: a French sentence, no status code or trace.
    page.open("/fiche/nexiste-pas-000000")
    error = page.text("#error")
    assert error.startswith("Cette fiche n'existe pas") and "404" not in error


def test_the_empty_state_is_honest_and_offers_to_remove_filters(page: Page) -> None:
    public = api(page.base, "/facets")["facets"]["public"][0]["value"]
    page.open("/?" + str(httpx.QueryParams(q=NONSENSE, mode="lexical", public=public)))
    assert page.text("#empty").startswith(EMPTY_MESSAGE)
    assert "Essayez de retirer un filtre" in page.text("#empty")
    assert page.css("#results .card") == []
    assert page.one("#options").get_attribute("open") is not None  # the non-default mode is visible
    page.shoot("04-aucun-resultat")

    page.one("#empty .chip-remove").click()
    page.settle()
    assert page.url_params() == {"q": [NONSENSE], "mode": ["lexical"]}
    assert page.text("#empty").startswith(EMPTY_MESSAGE)
    assert "Essayez d'autres mots" in page.text("#empty")


def test_filters_that_hide_every_match_are_named_and_a_page_past_the_end_says_so(page: Page) -> None:
    found = api(page.base, "/search", q=QUERY, limit=100)
    held = {r["public"] for r in found["results"]}
    other = next(v["value"] for v in api(page.base, "/facets")["facets"]["public"] if v["value"] not in held)
    page.open("/?" + str(httpx.QueryParams(q=QUERY, public=other)))
    assert page.text("#empty").startswith(f"Aucune fiche ne parle de « {QUERY} » avec ces filtres.")
    assert f"({found['total']} fiche" in page.text("#empty")
    assert not page.one("#neighbours").is_displayed()
    page.open("/?" + str(httpx.QueryParams(q=QUERY, page=50)))
    assert page.text("#empty").startswith("Cette page est vide")
    page.one("#empty a").click()
    page.settle()
    assert page.titles()[0] == FIRST


def test_weaker_neighbours_come_after_the_results_under_their_own_heading(page: Page) -> None:
    page.open("/?" + str(httpx.QueryParams(q=QUERY)))
    expected = api(page.base, "/search", q=QUERY, limit=10)
    assert expected["neighbours"] and expected["total"] <= 10
    box = page.one("#neighbours")
    assert box.is_displayed() and box.find_element("css selector", "h2").text == "Projets voisins"
    assert [c.find_element("css selector", ".card-title").text for c in page.css("#neighbour-list .card")] == \
        [r["title"] for r in expected["neighbours"]]
    assert page.titles() == [r["title"] for r in expected["results"]]  # the results list holds the matches only
    page.open("/?" + str(httpx.QueryParams(q=NONSENSE)))
    assert not page.one("#neighbours").is_displayed()


def test_the_page_fits_a_phone(page: Page) -> None:
    page.driver.set_window_size(375, 800)
    page.open("/?" + str(httpx.QueryParams(q=QUERY)))
    assert page.titles()[0] == FIRST
    assert page.driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    page.shoot("05-telephone", full=True)

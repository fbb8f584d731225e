"""The search page in a real headless Chromium (selenium + Debian's chromium-driver) against a real uvicorn.

Skipped on a machine without the browser; in CI (CI=true) a missing browser is a failure, since
`make browser` (called by .ci/run) installs it. Screenshots land in build/screenshots/ for people to look at.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from itertools import pairwise
from urllib.parse import urlsplit

import httpx
import pytest
from browser import CHROMIUM_FLAGS, DESKTOP, FETCH_SPY, PHONE, WAIT_S, Page, api, browser_or_skip

QUERY = "précarité alimentaire"
FIRST = "Epicerie solidaire ephémère"
NONSENSE = "zorglub xyzzy"
UNANSWERED = "réparation de vélos"  # no fiche answers it; some hold one of its words
MISSPELT = "covd"  # one letter short of the sample's "covid", too short to be taken for it
PAGED = {"q": "habitants", "mode": "lexical"}  # more than a page of results in the sample
NB = "\u00a0"


def q(text: str) -> str:
    """French guillemets as the page writes them, held to their text by non-breaking spaces."""
    return f"«{NB}{text}{NB}»"


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver. Session-scoped and first in `page`'s arguments, so a skip comes
    before the session-scoped sample index and server are built for nothing (pytest sets up wider scopes
    first)."""
    return browser_or_skip()


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
    options.binary_location = binary
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium: tuple[str, str], browser, http_server: str) -> Page:
    return Page(browser, http_server)


def query(**params) -> str:
    return "/?" + str(httpx.QueryParams(params))


# -- home ------------------------------------------------------------------------------------------------
def test_the_home_page_says_what_this_is_offers_example_searches_and_lists_the_fiches(page: Page) -> None:
    page.open("/")
    facets = api(page.base, "/facets")
    assert f"{facets['total']}{NB}fiches actions" in page.text("#intro")
    assert page.heading() == f"Les {facets['total']}{NB}fiches"
    # The examples are the corpus's most frequent keywords, each a search that finds fiches.
    examples = [a.text for a in page.css("#examples a")]
    frequent = [v["value"].lower() for v in facets["facets"]["keyword"]]
    assert 4 <= len(examples) <= 6 and [e.lower() for e in examples] == frequent[:len(examples)]
    # Every fiche, by pages: the first page is the API's, and the pager leads to the next.
    listing = api(page.base, "/actions", limit=10)
    assert page.titles() == [a["title"] for a in listing["actions"]]
    assert page.text("#pager .page-of") == f"Page 1 sur {-(-facets['total'] // 10)}"
    loaded = page.js("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(page.base + "/") for url in loaded), loaded  # nothing from elsewhere
    page.shoot("01-accueil")

    page.one("#pager a[rel=next]").click()
    page.settle()
    assert page.titles() == [a["title"] for a in api(page.base, "/actions", limit=10, offset=10)["actions"]]
    page.open("/")
    first = examples[1]
    next(a for a in page.css("#examples a") if a.text == first).click()
    page.settle()
    assert page.url_params()["q"] == [first]
    assert page.titles() and page.heading().endswith(f"pour {q(first)}")


# -- searching -------------------------------------------------------------------------------------------
def test_results_come_while_typing_and_make_one_history_entry(page: Page) -> None:
    page.open("/")
    page.js(FETCH_SPY)
    box = page.one("#q")
    box.send_keys(QUERY)  # no Enter
    page.settle()
    assert page.url_params()["q"] == [QUERY]
    assert page.titles() == [r["title"] for r in api(page.base, "/search", q=QUERY, limit=10)["results"]]
    assert page.focused() == "q"  # the keyboard stays in the box
    searches = page.js("return window.__calls.filter(c => c.url.startsWith('/search')).length")
    assert 1 <= searches <= 2, searches  # after a pause in typing, not one per letter

    box.send_keys(" en rural")
    page.settle()
    assert page.url_params()["q"] == [f"{QUERY} en rural"]

    # A slow answer for an earlier text never replaces the results of a later one: it is cancelled.
    page.js("window.__calls = []; window.__delay = 1500;")
    box.clear()
    box.send_keys("parents")
    page.js("return new Promise(r => setTimeout(r, 600))")
    box.send_keys(" solo")
    page.js("window.__delay = 0;")
    page.settle()
    calls = page.js("return window.__calls.filter(c => c.url.startsWith('/search'))"
                    ".map(c => [new URL(c.url, location.href).searchParams.get('q'), c.signal.aborted])")
    assert calls[0] == ["parents", True] and calls[-1] == ["parents solo", False], calls
    assert page.titles() == [r["title"] for r in api(page.base, "/search", q="parents solo", limit=10)["results"]]

    page.driver.back()  # one entry for all that typing: back to where it started
    page.settle()
    assert urlsplit(page.driver.current_url).path == "/" and not page.url_params()
    assert page.heading().startswith("Les ")


def test_enter_searches_at_once_and_results_explain_themselves_in_plain_french(page: Page) -> None:
    from selenium.webdriver.common.keys import Keys

    page.open("/")
    page.one("#q").send_keys(QUERY + Keys.ENTER)
    page.settle()
    page.driver.back()
    page.settle()
    assert page.heading().startswith("Les ") and page.one("#q").get_attribute("value") == ""
    page.driver.forward()
    page.settle()
    expected = api(page.base, "/search", q=QUERY, limit=10)
    assert page.titles() == [r["title"] for r in expected["results"]] and page.titles()[0] == FIRST
    assert page.heading() == f"{expected['total']}{NB}fiches pour {q(QUERY)}"
    assert page.js("return document.title").startswith(q(QUERY))
    first = page.one("#results .card")
    assert first.find_element("css selector", ".closeness").text.endswith("Très proche")
    assert first.find_element("css selector", ".meta").text.startswith("CENTRE SOCIAL EVRE ET MAUGES")
    passage = expected["results"][0]["passage"]
    why = page.text("#results .card .why")
    words = ", ".join(expected["results"][0]["explanation"]["matched_terms"])
    assert why == f"Parle de{NB}: {words} — dans {q(passage['label'])}"
    assert "précarité" in [m.text.lower() for m in first.find_elements("css selector", ".passage mark")]
    # No score, rank or similarity in what the cards say of themselves.
    for said in page.css(".card .why, .card .closeness"):
        assert not re.search(r"\d|\b(similarité|rang|score)\b", said.text, re.IGNORECASE), said.text
    badges = [b.text.split(" ", 1)[1] for b in page.css("#results .closeness")]
    assert set(badges) <= {"Très proche", "Proche"} and badges == sorted(badges, key=["Très proche", "Proche"].index)
    # Every control has a label (checkboxes, radios, the search box).
    assert page.js("return [...document.querySelectorAll('input')].every(i => i.labels && i.labels.length > 0)")
    page.shoot("02-resultats")

    # A shared link gives the same page; page 2 follows.
    page.open(urlsplit(page.driver.current_url).path + "?" + urlsplit(page.driver.current_url).query)
    assert page.titles()[0] == FIRST
    page.open(query(**PAGED))
    page.one("#pager a[rel=next]").click()
    page.settle()
    assert page.url_params()["page"] == ["2"]
    assert page.titles() == [r["title"] for r in api(page.base, "/search", **PAGED, limit=10, offset=10)["results"]]


def test_ticking_a_filter_narrows_the_list_to_its_count_and_back_undoes_it(page: Page) -> None:
    page.open(query(q=QUERY))
    before = api(page.base, "/search", q=QUERY, limit=10)["total"]
    values = [(box, box.get_attribute("value"), int(box.find_element("xpath", "following-sibling::label")
                                                    .find_element("css selector", ".count").text))
              for box in page.css("fieldset[data-facet=public] input[type=checkbox]")]
    box, value, count = next(v for v in values if 0 < v[2] < before)
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.SPACE)  # from the keyboard
    page.settle()
    # The list is redrawn with the new counts; the keyboard stays on the same checkbox.
    assert page.js("return document.activeElement.value") == value
    assert page.url_params()["public"] == [value] and page.url_params()["q"] == [QUERY]
    expected = api(page.base, "/search", q=QUERY, public=value, limit=10)
    assert expected["total"] == count and page.titles() == [r["title"] for r in expected["results"]]
    assert page.heading().startswith(f"{count}{NB}fiche")
    assert page.one(f"fieldset[data-facet=public] input[value='{value}']").is_selected()
    assert f"Public{NB}: {value}" in page.text("#active-filters")

    page.driver.back()
    page.settle()
    assert "public" not in page.url_params() and page.heading().startswith(f"{before}{NB}fiches")


# -- nothing, or little, found ---------------------------------------------------------------------------
def test_nothing_found_says_so_and_offers_spellings_filters_and_themes(page: Page) -> None:
    public = api(page.base, "/facets")["facets"]["public"][0]["value"]
    page.open(query(q=NONSENSE, mode="lexical", public=public))
    assert page.heading() == f"Aucune fiche ne parle de {q(NONSENSE)}"
    assert page.css("#results .card") == [] and page.one("#empty").is_displayed()
    assert "Retirez un filtre" in page.text("#empty")
    themes = [a.text for a in page.css("#empty .suggestions a")]
    assert len(themes) >= 4  # the corpus's frequent themes, to start again
    assert page.one("#options").get_attribute("open") is not None  # the non-default mode is visible
    page.shoot("04-aucun-resultat")

    page.one("#empty .chip-remove").click()
    page.settle()
    assert page.url_params() == {"q": [NONSENSE], "mode": ["lexical"]}
    assert "Essayez d'autres mots" in page.text("#empty")
    next(a for a in page.css("#empty .suggestions a") if a.text == themes[0]).click()
    page.settle()
    assert page.titles() and page.url_params()["q"] == [themes[0]]


def test_a_misspelt_word_shows_the_results_of_the_corpus_spelling(page: Page) -> None:
    found = api(page.base, "/search", q=MISSPELT)
    assert found["total"] == 0 and found["suggestions"]["spellings"], found["suggestions"]
    spelling = found["suggestions"]["spellings"][0]
    page.open(query(q=MISSPELT))
    assert page.heading() == f"Résultats pour {q(spelling)}"
    assert page.text("#corrected").startswith(f"Aucune fiche ne parle de {q(MISSPELT)}")
    assert page.titles() == [r["title"] for r in api(page.base, "/search", q=spelling, limit=10)["results"]]
    assert page.one("#q").get_attribute("value") == MISSPELT  # what was typed stays in the box
    page.shoot("07-orthographe")


def test_a_mistyped_word_the_search_took_for_a_fiche_word_is_said(page: Page) -> None:
    typed = "epiceri solidaire"
    found = api(page.base, "/search", q=typed)
    assert found["total"] and found["corrected"] == "épicerie solidaire"
    page.open(query(q=typed))
    assert page.heading() == f"Résultats pour {q('épicerie solidaire')}"
    assert page.text("#corrected") == f"Vous avez tapé {q(typed)} : les fiches l'écrivent {q('épicerie solidaire')}."
    assert page.titles() == [r["title"] for r in found["results"]]


def test_filters_that_hide_every_match_are_named_and_a_page_past_the_end_says_so(page: Page) -> None:
    found = api(page.base, "/search", q=QUERY, limit=100)
    held = {r["public"] for r in found["results"]}
    other = next(v["value"] for v in api(page.base, "/facets")["facets"]["public"] if v["value"] not in held)
    page.open(query(q=QUERY, public=other))
    assert page.heading() == f"Aucune fiche ne parle de {q(QUERY)} avec ces filtres"
    assert f"({found['total']}{NB}fiche" in page.text("#empty")
    page.open(query(q=QUERY, page=50))
    assert page.text("#empty").startswith("Cette page est vide") and not page.one("#pager").is_displayed()
    page.one("#empty a").click()
    page.settle()
    assert page.titles()[0] == FIRST


def test_weaker_fiches_are_folded_under_their_own_heading_after_the_results(page: Page) -> None:
    page.open(query(q=QUERY))
    expected = api(page.base, "/search", q=QUERY, limit=10)
    assert expected["neighbours"] and expected["total"] <= 10
    summary = page.one("#weaker-summary")
    assert summary.text == f"Fiches moins proches ({len(expected['neighbours'])})"
    assert not page.one("#weaker-list").is_displayed()  # folded
    summary.click()
    assert page.titles("#weaker-list") == [r["title"] for r in expected["neighbours"]]
    assert {b.text.split(" ", 1)[1] for b in page.css("#weaker-list .closeness")} == {"Plus éloigné"}
    assert page.titles() == [r["title"] for r in expected["results"]]  # the results hold the matches only
    page.open(query(q=NONSENSE))
    assert not page.one("#weaker").is_displayed()


def test_a_query_nothing_answers_shows_its_pistes_open_and_counts_none(page: Page) -> None:
    expected = api(page.base, "/search", q=UNANSWERED, limit=10)
    assert expected["total"] == 0 and expected["neighbours"]
    page.open(query(q=UNANSWERED))
    assert page.heading() == f"Aucune fiche ne parle de {q(UNANSWERED)}"
    assert page.one("#weaker-summary").text == f"Pistes ({len(expected['neighbours'])})"
    assert page.one("#weaker-list").is_displayed()  # nothing else on the page: open
    assert page.titles("#weaker-list") == [r["title"] for r in expected["neighbours"]]
    assert page.titles() == []
    page.shoot("09-pistes")


# -- one fiche -------------------------------------------------------------------------------------------
def test_a_fiche_opens_on_its_summary_with_similar_fiches_and_why(page: Page, ids: dict[str, str]) -> None:
    page.open(query(q=QUERY))
    page.one("#results .card-title a").click()
    page.settle()
    assert urlsplit(page.driver.current_url).path == f"/fiche/{ids[FIRST]}"
    assert page.text("#fiche-title") == FIRST and page.focused() == "fiche-title"
    headings = [h.text for h in page.css("#fiche-body h2")]
    assert headings[0] == "Résumé"
    for section in ("Description de l'expérience", "Auto-évaluation"):
        assert section in headings
    assert "Résultat pour les habitants" in [h.text for h in page.css("#fiche-body h3")]
    fiche = api(page.base, f"/actions/{ids[FIRST]}")
    similar = api(page.base, f"/similar/{ids[FIRST]}", limit=5)["results"]
    assert page.titles("#similar-list") == [r["title"] for r in similar]
    for card, result in zip(page.css("#similar-list .card"), similar, strict=True):
        why = card.find_element("css selector", ".why").text
        assert ("Même public" in why) == (result["public"].lower() == fiche["public"].lower())
        assert ("Mots-clés communs" in why) == bool(result["explanation"]["shared_keywords"])
        assert "Passage proche : dans" in why
    page.shoot("03-fiche", full=True)

    page.open(urlsplit(page.driver.current_url).path, size=PHONE)  # on a phone, the summary is on screen
    assert page.top("#fiche-body .fiche-summary p") < page.viewport_height() - 40
    page.shoot("06-fiche-telephone")

    page.open(query(q=QUERY))
    page.one("#results .card-title a").click()
    page.settle()
    page.one("#back").click()  # back to the same results
    page.settle()
    assert page.url_params()["q"] == [QUERY] and page.titles()[0] == FIRST

    # An unknown id: HTTP 404, and a French sentence on the page, no status code or trace.
    assert httpx.get(page.base + "/fiche/nexiste-pas-000000").status_code == 404
    page.open("/fiche/nexiste-pas-000000")
    error = page.text("#error")
    assert error.startswith("Cette fiche n'existe pas") and "404" not in error


# -- "Ma sélection" and the fiches proposed from it -----------------------------------------------------
def recommend(base: str, **body) -> dict:
    response = httpx.post(base + "/recommend", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def tray_titles(page: Page) -> list[str]:
    return [a.text for a in page.css("#selection-list .tray-title")]


def selection_in_url(page: Page) -> tuple[list[str], list[str]]:
    params = page.url_params()
    return (params.get("sel", [""])[0].split(",") if "sel" in params else [],
            params.get("non", [""])[0].split(",") if "non" in params else [])


def has_focus(page: Page, element) -> bool:
    return page.js("return document.activeElement === arguments[0]", element)


def assert_proposals(page: Page, like: list[str], unlike: list[str], kept_titles: list[str]) -> list[str]:
    """The proposals are the API's, none of them a chosen fiche, each saying which kept fiche it is close to."""
    expected = recommend(page.base, like=like, unlike=unlike, limit=5)["results"]
    shown = page.titles("#inspire-list")
    assert shown and shown == [r["title"] for r in expected]
    assert not {r["id"] for r in expected} & set(like + unlike)
    kept = [q(t) for t in kept_titles]
    for card, result in zip(page.css("#inspire-list .card"), expected, strict=True):
        why = page.js("return arguments[0].querySelector('.why').textContent", card)
        assert why.startswith(f"Proche de {q(result['explanation']['closest_liked']['title'])}"), why
        assert any(why.startswith(f"Proche de {k}") for k in kept), why
        assert not re.search(r"\d|\b(similarité|rang|score)\b", why, re.IGNORECASE), why
    return shown


def test_fiches_added_from_the_results_fill_the_tray_and_bring_fiches_that_could_inspire(page: Page) -> None:
    page.open(query(q=QUERY))
    assert page.text("#selection-heading") == "Ma sélection (0)"
    assert page.one("#selection-empty").is_displayed() and not page.one("#inspire").is_displayed()
    chosen = page.titles()[:2]
    buttons = page.css("#results .select-button")[:2]
    assert [b.get_attribute("aria-pressed") for b in buttons] == ["false", "false"]
    for button in buttons:
        assert button.text == "Ajouter à ma sélection"
        button.click()
        page.settle()
    assert [b.get_attribute("aria-pressed") for b in buttons] == ["true", "true"]
    assert buttons[0].text == "Retirer de ma sélection" and has_focus(page, buttons[1])
    assert page.text("#selection-heading") == "Ma sélection (2)" and tray_titles(page) == chosen
    assert page.text("#selection-link") == "Ma sélection (2)"
    like = [b.get_attribute("data-select") for b in buttons]
    assert selection_in_url(page) == (like, []) and page.url_params()["q"] == [QUERY]
    assert page.titles() == chosen + page.titles()[2:]  # the results stay as they were
    before = assert_proposals(page, like, [], chosen)
    assert page.accessibility_violations() == []
    headings = page.js("return [...document.querySelectorAll('h1, h2, h3')].filter(h => h.getClientRects().length)"
                       ".map(h => Number(h.tagName[1]))")
    assert headings[0] == 1 and all(b - a <= 1 for a, b in pairwise(headings)), headings
    page.one("#selection-link").click()
    assert page.focused() == "selection-heading"
    page.shoot("08-selection", full=True)

    # "Pas ce genre" on the second: it moves to `non`, and the proposals turn away from it.
    page.one(f"#selection-list [data-unlike='{like[1]}']").click()
    page.settle()
    assert selection_in_url(page) == (like[:1], like[1:])
    assert page.one(f"#selection-list [data-unlike='{like[1]}']").get_attribute("aria-pressed") == "true"
    assert has_focus(page, page.one(f"#selection-list [data-unlike='{like[1]}']"))
    assert page.text("#selection-heading") == "Ma sélection (2)"
    after = assert_proposals(page, like[:1], like[1:], chosen[:1])
    assert after != before

    # A reload, or the link shared, gives the same tray and proposals.
    page.open(urlsplit(page.driver.current_url).path + "?" + urlsplit(page.driver.current_url).query)
    assert tray_titles(page) == chosen and page.titles("#inspire-list") == after
    assert page.one(f"#selection-list [data-unlike='{like[1]}']").get_attribute("aria-pressed") == "true"

    # Back undoes the last change; a new search keeps the selection.
    page.driver.back()
    page.settle()
    assert selection_in_url(page) == (like, []) and page.titles("#inspire-list") == before
    from selenium.webdriver.common.keys import Keys

    box = page.one("#q")
    box.clear()
    box.send_keys("parents" + Keys.ENTER)
    page.settle()
    assert page.url_params()["q"] == ["parents"] and selection_in_url(page) == (like, [])
    assert tray_titles(page) == chosen

    # Removing one from the tray.
    page.one(f"#selection-list [data-remove='{like[0]}']").click()
    page.settle()
    assert selection_in_url(page) == (like[1:], []) and tray_titles(page) == chosen[1:]
    assert page.text("#selection-heading") == "Ma sélection (1)"

    # A proposal can join the selection too; the keyboard follows it into the tray.
    proposed = page.one("#inspire-list .select-button")
    added = proposed.get_attribute("data-select")
    proposed.click()
    page.settle()
    assert selection_in_url(page) == ([*like[1:], added], []) and page.text("#selection-heading") == "Ma sélection (2)"
    assert added not in [b.get_attribute("data-select") for b in page.css("#inspire-list .select-button")]
    assert page.js("return document.activeElement.dataset.remove") == added


def test_a_fiche_page_adds_itself_to_the_selection_and_unknown_ids_are_dropped_politely(
        page: Page, ids: dict[str, str]) -> None:
    first = ids[FIRST]
    page.open(query(q=QUERY, sel=first))
    assert tray_titles(page) == [FIRST]
    other = page.titles()[1]
    # The selection follows the links: to a fiche, and back to the results.
    next(a for a in page.css("#results .card-title a") if a.text == other).click()
    page.settle()
    assert urlsplit(page.driver.current_url).path == f"/fiche/{ids[other]}"
    assert selection_in_url(page) == ([first], [])
    button = page.one("#fiche-select")
    assert button.get_attribute("aria-pressed") == "false" and button.text == "Ajouter à ma sélection"
    button.click()
    page.settle()
    assert button.get_attribute("aria-pressed") == "true" and button.text == "Retirer de ma sélection"
    assert selection_in_url(page) == ([first, ids[other]], []) and tray_titles(page) == [FIRST, other]
    assert page.titles("#inspire-list")
    page.one("#back").click()
    page.settle()
    assert page.url_params()["q"] == [QUERY] and selection_in_url(page) == ([first, ids[other]], [])
    assert [b.get_attribute("aria-pressed") for b in page.css("#results .select-button")][:2] == ["true", "true"]

    # Ids that do not exist (any more): dropped from the URL, a sentence says so, the rest works.
    page.open(f"/?sel={first},nexiste-pas-000000&non=nexiste-plus-111111", size=PHONE)
    assert selection_in_url(page) == ([first], [])
    assert page.text("#selection-notice").startswith("2\u00a0fiches de votre sélection n'existent plus")
    assert page.one("#error").get_attribute("hidden") is not None
    assert tray_titles(page) == [FIRST] and page.titles("#inspire-list")
    assert page.js("return document.documentElement.scrollWidth <= window.innerWidth")
    assert page.accessibility_violations() == []
    page.one("#selection-link").click()
    page.shoot("09-selection-telephone")

    # Only "Pas ce genre" left: a hint, no error.
    page.open(f"/?non={first}")
    assert "Gardez au moins une fiche" in page.text("#inspire-empty") and not page.titles("#inspire-list")
    assert page.one("#inspire-error").get_attribute("hidden") is not None


# -- phone and keyboard ----------------------------------------------------------------------------------
def test_on_a_phone_results_come_first_and_filters_open_in_a_panel(page: Page) -> None:
    page.open(query(q="parents"), size=PHONE)
    assert page.js("return document.documentElement.scrollWidth <= window.innerWidth")
    assert page.top("#results .card") < page.viewport_height()  # the first result on the first screen
    assert not page.one("#filters").is_displayed()
    page.one("#filters-toggle").click()
    panel = page.one("#filters")
    assert panel.is_displayed() and page.focused() == "filters-heading"
    assert page.js("return document.querySelector('.results-column').inert")  # the keyboard stays in the panel

    box = next(b for b in page.css("fieldset[data-facet=public] input[type=checkbox]")
               if int(b.find_element("xpath", "following-sibling::label").find_element("css selector", ".count")
                      .text) > 1)
    value = box.get_attribute("value")
    page.one(f"label[for='{box.get_attribute('id')}']").click()
    page.settle()
    total = api(page.base, "/search", q="parents", public=value)["total"]
    assert panel.is_displayed()  # still open: the button says what ticking did
    assert page.text("#show-results") == f"Voir les {total}{NB}fiches"
    page.shoot("05-telephone-filtres")

    page.one("#show-results").click()
    assert not panel.is_displayed() and page.focused() == "results-heading"
    assert -2 <= page.top("#results-heading") < page.viewport_height() / 2  # scrolled to the results
    assert page.heading().startswith(f"{total}{NB}fiches") and len(page.titles()) == total
    assert page.text("#filters-toggle") == "Filtres (1)"
    page.shoot("05-telephone")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["ecran", "telephone"])
def test_the_keyboard_reaches_the_first_result_in_five_tabs_and_the_skip_link_goes_to_results(
        page: Page, size: tuple[int, int]) -> None:
    page.open(query(q=QUERY), size=size)
    first = page.titles()[0]
    page.one("#q").click()
    for presses in range(1, 6):
        page.tab()
        if page.focused() == first:
            break
    assert page.focused() == first, f"not reached in {presses} Tab presses"

    page.open(query(q=QUERY), size=size)
    page.tab()
    assert page.focused() == "skip" and page.text("#skip") == "Aller aux résultats"
    from selenium.webdriver.common.keys import Keys

    page.one("#skip").send_keys(Keys.ENTER)
    assert page.focused() == "results-heading"
    page.tab()
    if size == PHONE:  # the button that opens the filters comes first, beside the heading
        assert page.focused() == "filters-toggle"
        page.tab()
    assert page.focused() == first


# -- accessibility and words -----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "path", "size"), [
    ("accueil", "/", DESKTOP), ("resultats", query(q=QUERY), DESKTOP), ("aucune-fiche", query(q=NONSENSE), PHONE),
    ("fiche", "/fiche/{first}", DESKTOP), ("filtres-telephone", query(q=QUERY) + "#filtres", PHONE)])
def test_axe_finds_no_accessibility_violation(page: Page, ids: dict[str, str], name: str, path: str,
                                              size: tuple[int, int]) -> None:
    page.open(path.replace("{first}", ids[FIRST]), size=size)
    if path.endswith("#filtres"):
        page.one("#filters-toggle").click()
    assert page.accessibility_violations() == []
    # One word for the thing, and guillemets that hold their text.
    # The page's own words: headings, buttons, labels, links and messages, not the fiches' text. A "fiche
    # action" is the document's name; "action" alone, or "projet", would be a second word for a fiche.
    chrome = page.js("return [...document.querySelectorAll('#results-heading, #filters-heading, #similar-title,"
                     " #corrected, #empty p, button, #search-form label, summary, .card-links a, #back,"
                     " .skip-link, .closeness')].filter(e => e.getClientRects().length).map(e => e.textContent)")
    other_words = re.compile(r"(?<!fiche )(?<!fiches )\bactions?\b|\bprojets?\b", re.IGNORECASE)
    assert not [t for t in chrome if other_words.search(t)]
    assert not [t for t in chrome if re.search(r"« | »", t)]

"""Driving the search page in headless Chromium for tests/test_ui.py: finding the browser, a `Page` that
speaks in the page's own terms, and axe-core (vendored in tests/assets/axe-core/, injected into the page:
nothing is fetched at test time)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "screenshots"
AXE = Path(__file__).resolve().parent / "assets" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_S = 20
DESKTOP, PHONE = (1280, 900), (390, 844)

# Records the page's calls to the API; `window.__delay` ms holds each one back, to overlap them on purpose.
FETCH_SPY = """
window.__calls = [];
window.__delay = 0;
const real = window.fetch.bind(window);
window.fetch = (url, options = {}) => {
  const call = { url: String(url), signal: options.signal || null };
  window.__calls.push(call);
  return new Promise((resolve) => setTimeout(resolve, window.__delay)).then(() => real(url, options));
};
"""


def browser_or_skip() -> tuple[str, str]:
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


def api(base: str, path: str, **params) -> dict:
    response = httpx.get(base + path, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


class Page:
    """The few things the tests do with the page, in the page's own words."""

    def __init__(self, driver, base: str) -> None:
        self.driver, self.base = driver, base

    def open(self, path: str, size: tuple[int, int] = DESKTOP) -> Page:
        self.driver.set_window_size(*size)
        self.driver.get(self.base + path)
        return self.settle()

    def settle(self) -> Page:
        """Wait until the script has drawn the answer: it marks the body (and the selection's area, for its
        proposals) aria-busy while it waits for the API, and data-typing while a typed search waits for the
        pause in typing."""
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, WAIT_S).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && !document.querySelector('[aria-busy]')"
            " && !document.body.hasAttribute('data-typing')"
            " && document.getElementById('fiche-title').textContent !== 'Chargement de la fiche…'"))
        return self

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def css(self, selector: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector: str):
        found = self.css(selector)
        assert found, f"nothing matches {selector!r} on {self.driver.current_url}"
        return found[0]

    def text(self, selector: str) -> str:
        """The text as written, non-breaking spaces included (WebDriver's .text turns them into spaces)."""
        return re.sub(r"[ \t\r\n]+", " ", self.js("return arguments[0].textContent", self.one(selector))).strip()

    def heading(self) -> str:
        return self.text("#results-heading")

    def titles(self, where: str = "#results") -> list[str]:
        return [a.text for a in self.css(f"{where} .card-title a")]

    def url_params(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.driver.current_url).query)

    def focused(self) -> str:
        """What has the keyboard: an element's id, else its text."""
        return self.js("const e = document.activeElement; return e.id || e.textContent.trim()")

    def tab(self, times: int = 1) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        for _ in range(times):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()

    def top(self, selector: str) -> float:
        return self.js("return arguments[0].getBoundingClientRect().top", self.one(selector))

    def viewport_height(self) -> int:
        return self.js("return window.innerHeight")

    def accessibility_violations(self) -> list[str]:
        """axe-core's violations of any impact, one line each (rule, impact, the first elements)."""
        self.driver.set_script_timeout(60)
        if not self.js("return typeof window.axe === 'object'"):
            self.js(AXE.read_text(encoding="utf-8"))
        found = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then("
            "  (r) => done(r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — `"
            "    + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '))),"
            "  (e) => done([`axe failed: ${e}`]));")
        return list(found)

    def shoot(self, name: str, full: bool = False) -> None:
        """A screenshot in build/screenshots/; `full` grows the window to the page's height first."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        if full:
            width = self.js("return window.outerWidth")
            height = self.js("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, min(height + 140, 6000))
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))

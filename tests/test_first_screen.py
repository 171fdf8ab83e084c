"""The first screen of a pack, read in a real browser: at 1280×800 the verdict is there without scrolling.

A contract manager opening a contract pack sees the month's ratings, the service credits and the CI commitments
off track before anything else; a procurement director opening the portfolio pack sees which contracts need
attention. Headless Chromium (the system's, as tests/test_accessibility.py and the Chromium PDF backend use it)
is driven through Playwright; every figure looked for is taken from the pack's own ``pack.json``.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
from pathlib import Path

import pytest

from cinb.formatting import money

HERE = Path(__file__).resolve().parent
VIEWPORT = {"width": 1280, "height": 800}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unavailable() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "needs the Python package playwright (pip install 'cinb[chromium]')"
    if _load("cinb_axe_check_fs", HERE / "a11y" / "axe_check.py").find_chromium() is None:
        return "needs Chromium (apt-get install chromium, or set CINB_CHROMIUM)"
    return None


UNAVAILABLE = _unavailable()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"first-screen check: {UNAVAILABLE}"),
]


class _BrowserThread:
    """Headless Chromium driven from one thread of its own.

    Playwright's sync API refuses to run in a thread with a running asyncio loop, which a test executing a
    notebook in-process can leave behind in the main thread; a dedicated thread never has one. Every call on the
    browser is made from that thread (Playwright's objects belong to the thread that made them).
    """

    def __init__(self, chromium: str):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="first-screen")
        self._playwright = None
        self._browser = self._pool.submit(self._start, chromium).result()

    def _start(self, chromium: str):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        return self._playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])

    def run(self, fn, *args):
        """``fn(browser, *args)`` on the browser's thread; its result."""
        return self._pool.submit(fn, self._browser, *args).result()

    def close(self):
        def stop(_):
            self._browser.close()
            self._playwright.stop()

        try:
            self.run(stop)
        finally:
            self._pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def browser():
    chromium = _load("cinb_axe_check_fs", HERE / "a11y" / "axe_check.py").find_chromium()
    b = _BrowserThread(chromium)
    yield b
    b.close()


def first_screen(browser: _BrowserThread, html_path: Path, texts: list[str]) -> dict[str, bool]:
    """For each text, whether some visible element showing it lies wholly inside the first 1280×800 screen.

    The page is opened from its file at the top (no scrolling); an element counts when its bounding box is
    inside the viewport, so a figure cut by the bottom edge does not.
    """
    return browser.run(_first_screen, html_path, texts)


def _first_screen(browser, html_path: Path, texts: list[str]) -> dict[str, bool]:
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(html_path.resolve().as_uri())
        found = {}
        for text in texts:
            ok = False
            for element in page.get_by_text(text).all():
                box = element.bounding_box()
                if box and element.is_visible() and box["x"] >= 0 and box["y"] >= 0 \
                        and box["x"] + box["width"] <= VIEWPORT["width"] \
                        and box["y"] + box["height"] <= VIEWPORT["height"]:
                    ok = True
                    break
            found[text] = ok
        return found
    finally:
        page.close()


def contract_texts(pack: dict) -> list[str]:
    """What a reader must find first in a contract pack, in the words the verdict writes them."""
    v = pack["verdict"]
    texts = [f"{r['count']} {r['result']}" if r["kind"] == "rating" else f"{r['count']} {r['result'].lower()}"
             for r in v["results"]]
    texts += ["Service credits", f"{money(v['credits']['month_gbp'])} due for",
              f"{money(v['credits']['year_to_date_gbp'])} contract year to date", "CI commitments off track"]
    off = v["commitments"]["off_track"]
    texts.append(f"{len(off)} of {v['commitments']['tracked']}")
    texts += [o["name"] for o in off]
    return texts


def test_contract_pack_first_screen_shows_ratings_credits_and_commitments(browser, rendered):
    html = rendered["root"] / "NB-SD-001" / "review.html"
    pack = json.loads((html.parent / "pack.json").read_text(encoding="utf-8"))
    v = pack["verdict"]
    # The sample contract has ratings, credits and commitments off track this month: all must be on screen.
    assert v["results"] and v["credits"]["month_gbp"] > 0 and v["commitments"]["off_track"]
    found = first_screen(browser, html, contract_texts(pack))
    assert all(found.values()), {t: ok for t, ok in found.items() if not ok}


def test_portfolio_pack_first_screen_shows_contracts_needing_attention(browser, rendered):
    html = rendered["root"] / "portfolio" / "review.html"
    pack = json.loads((html.parent / "pack.json").read_text(encoding="utf-8"))
    v = pack["verdict"]
    assert v["attention"], "the sample portfolio has contracts needing attention in Oct 2026"
    first = v["attention"][0]
    texts = [f"{r['count']} {r['result']}" for r in v["results"] if r["kind"] == "rating"]
    texts += ["Service credits", f"{money(v['credits']['month_gbp'])} due for", "need attention",
              first["contract_id"], first["reasons"][0]]
    found = first_screen(browser, html, texts)
    assert all(found.values()), {t: ok for t, ok in found.items() if not ok}


def test_supplier_scorecard_first_screen_shows_its_verdict(browser, rendered):
    html = rendered["root"] / "suppliers" / "Meridian-Service-Desk-Ltd" / "scorecard.html"
    pack = json.loads((html.parent / "pack.json").read_text(encoding="utf-8"))
    v = pack["verdict"]
    texts = [f"{r['count']} {r['result']}" for r in v["results"] if r["kind"] == "rating"] + ["Service credits"]
    found = first_screen(browser, html, texts)
    assert all(found.values()), {t: ok for t, ok in found.items() if not ok}


def test_the_check_can_fail(browser, rendered, tmp_path):
    # A control: the same pack with a screen-high block before the verdict (as the contents used to be) must fail.
    html = rendered["root"] / "NB-SD-001" / "review.html"
    pack = json.loads((html.parent / "pack.json").read_text(encoding="utf-8"))
    page = html.read_text(encoding="utf-8").replace(
        '<main id="content" tabindex="-1">',
        '<main id="content" tabindex="-1"><div style="height:900px">Contents would be here</div>', 1)
    pushed = tmp_path / "pushed.html"
    pushed.write_text(page, encoding="utf-8")
    found = first_screen(browser, pushed, contract_texts(pack))
    assert not any(found.values()), found

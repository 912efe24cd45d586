"""The rating app in a real headless browser: Debian's chromium driven by Playwright (its own
browser download is never used), against the app served by uvicorn on a free local port.

A rater grades 10 answers with the keyboard alone, reloads half-way and resumes; the grades are
in ratings.sqlite and in the report; a hostile answer's markup stays inert. Skipped, with the
reason, where chromium or Playwright is missing (apt-get install chromium; pip install playwright).
"""

from __future__ import annotations

import csv
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ratingrun import DIMENSIONS, rating_run

from wattbench.rating.dimensions import load_dimensions
from wattbench.rating.items import load_items
from wattbench.rating.store import RATINGS_FILE, RatingStore
from wattbench.report.build import write_report

BROWSERS = ("chromium", "chromium-browser")
SHOT = Path("/tmp/rate_shot.png")


def _chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("no chromium here (apt-get install chromium)")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, RatingStore, Path]]:
    """(base URL, store, run folder) of the app serving a 10-answer run on 127.0.0.1."""
    uvicorn = pytest.importorskip("uvicorn", reason="the rate extra (uvicorn) is not installed")
    from wattbench.rating.server import RatingConfig, make_app

    run = rating_run(tmp_path / "run", answers=10)
    store = RatingStore.of_run(run)
    store.ensure_raters(1)
    app = make_app(store, RatingConfig(load_items(run), load_dimensions(None)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store, run
    server.should_exit = True
    thread.join(10)


def test_a_rater_rates_ten_answers_with_the_keyboard(served: tuple[str, RatingStore, Path]) -> None:
    chromium = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    base, store, run = served
    url = f"{base}/r/{store.raters()[0].token}/"
    grades = ["4", "3", "5", "2"]  # correctness, helpfulness, clarity, safety
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        hostile_seen = False
        page.goto(url)
        for n in range(10):
            assert page.inner_text("#progress") == f"{n} / 10 rated"
            hostile_seen |= "window.pwned = 1" in page.inner_text(".answer-text")
            if n == 5:
                page.reload()  # resumes on the 6th page: nothing graded on it yet, progress kept
                assert page.inner_text("#progress") == "5 / 10 rated"
            if n == 1:
                page.keyboard.press("1")  # a wrong grade, taken back with Backspace
                page.keyboard.press("Backspace")
            for key in grades:
                page.keyboard.press(key)
            if n == 2:
                page.keyboard.press("c")
                page.keyboard.type("terse but right")
                page.keyboard.press("Escape")
            if n == 0:
                page.screenshot(path=str(SHOT), full_page=True)
            with page.expect_navigation():
                page.keyboard.press("Enter")
        assert page.inner_text("#progress") == "10 / 10 rated" and page.is_visible("#done")
        # The hostile answer was shown as text, and neither its script nor its onerror ran.
        assert hostile_seen
        assert page.evaluate("typeof window.pwned") == "undefined"
        browser.close()
    db = sqlite3.connect(run / RATINGS_FILE)
    rows: list[Any] = db.execute("SELECT dimension, score, comment FROM ratings").fetchall()
    assert len(rows) == 10 * len(DIMENSIONS)
    assert {d: {s for dim, s, _ in rows if dim == d} for d in DIMENSIONS} == {
        d: {int(g)} for d, g in zip(DIMENSIONS, grades)
    }
    assert sum(c == "terse but right" for _, _, c in rows) == len(DIMENSIONS)
    out = run.parent / "out"
    write_report([run], out, texts=False)
    with (out / "human.csv").open(encoding="utf-8") as f:
        human = list(csv.DictReader(f))
    assert len(human) == 10 and {r["human_clarity_mean"] for r in human} == {"5.0"}
    # The report page shows the rater's figures, drawn by the browser (one rater: no alpha).
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.route("http*://**", lambda route: route.abort())
        page.goto((out / "report.html").resolve().as_uri())
        section = page.locator("h2", has_text="Human judgement")
        assert section.is_visible()
        table = page.locator("h2:has-text('Human judgement') + p + div table")
        assert table.locator("tr").count() == 1 + 2  # header, m L0, m L1
        assert "5.00 (all 5 grades equal, no interval)" in table.inner_text()
        assert "needs two raters" in page.inner_text("body")
        section.scroll_into_view_if_needed()
        page.screenshot(path=str(REPORT_SHOT), full_page=False)
        browser.close()


REPORT_SHOT = Path("/tmp/rate_report_shot.png")

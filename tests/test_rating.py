"""The rating app at the HTTP level (Starlette's TestClient): blindness, escaping, token and CSRF
refusals, resume, pairwise pages, the SQLite store and the dimensions files."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from ratingrun import DIMENSIONS, rating_run

from wattbench.errors import ConfigError
from wattbench.rating.dimensions import load_dimensions, presets
from wattbench.rating.items import load_items, pages, rater_plan
from wattbench.rating.store import RATINGS_FILE, RatingStore

pytest.importorskip("starlette", reason="the rate extra (starlette, jinja2) is not installed")
from starlette.testclient import TestClient

from wattbench.rating.server import (
    RatingConfig,
    make_app,
)


def _app(run: Path, raters: int = 2, pairwise: bool = False) -> tuple[TestClient, RatingStore]:
    store = RatingStore.of_run(run)
    store.ensure_raters(raters)
    config = RatingConfig(load_items(run), load_dimensions(None), pairwise)
    return TestClient(make_app(store, config)), store


def _form(html: str) -> dict[str, str]:
    """The hidden fields of the rating form, as the page wrote them."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


def _grades(form: dict[str, str], score: int = 4) -> dict[str, str]:
    slots = [k[4:] for k in form if k.startswith("item")]
    return {**form, **{f"s{slot}.{d}": str(score) for slot in slots for d in DIMENSIONS}}


def test_a_page_is_blind_and_model_output_is_text(tmp_path: Path) -> None:
    client, store = _app(rating_run(tmp_path / "run"))
    html = ""
    for _ in range(10):  # rate until the hostile answer shows up (its page is somewhere in the order)
        response = client.get(f"/r/{store.raters()[0].token}/")
        html = response.text
        if "fine answer" in html:
            break
        client.post(f"/r/{store.raters()[0].token}/rate", data=_grades(_form(html)))
    assert "fine answer" in html
    assert "<script>window.pwned" not in html and "<img src=\"x\"" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;&lt;img src=&#34;x&#34; onerror=" in html
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # Nothing on the page names the model, level, load or case.
    for leak in ("m-qa-", "L0", "L1", "sha-m", "llamacpp"):
        assert leak not in html


def test_no_page_and_no_rating_without_a_valid_rater(tmp_path: Path) -> None:
    client, store = _app(rating_run(tmp_path / "run"))
    good = client.get(f"/r/{store.raters()[0].token}/")
    form = _grades(_form(good.text))
    assert client.get("/r/not-a-token/").status_code == 404
    assert client.get("/").status_code == 404
    refused = client.post("/r/not-a-token/rate", data=form)
    assert refused.status_code == 404 and "no rating without a valid rater" in refused.text
    assert list(store.ratings()) == []


def test_csrf_refusals(tmp_path: Path) -> None:
    client, store = _app(rating_run(tmp_path / "run"))
    first, second = store.raters()
    url = f"/r/{first.token}/rate"
    form = _grades(_form(client.get(f"/r/{first.token}/").text))
    # No token in the form.
    assert client.post(url, data={k: v for k, v in form.items() if k != "csrf"}).status_code == 403
    # A wrong token.
    assert client.post(url, data={**form, "csrf": "0" * 64}).status_code == 403
    # Another rater's token (their page set their cookie for their own path only).
    other = _form(client.get(f"/r/{second.token}/").text)["csrf"]
    assert client.post(url, data={**form, "csrf": other}).status_code == 403
    # The right form but no cookie: a forged cross-site form cannot send the SameSite=Strict cookie.
    fresh = TestClient(client.app)
    assert fresh.post(url, data=form).status_code == 403
    # A foreign Origin.
    assert client.post(url, data=form, headers={"origin": "http://evil.example"}).status_code == 403
    assert list(store.ratings()) == []
    # The same form, from the page itself, is accepted.
    accepted = client.post(url, data=form, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/r/{first.token}/"
    assert len(list(store.ratings())) == len(DIMENSIONS)


def test_bad_grades_are_refused_with_the_field(tmp_path: Path) -> None:
    client, store = _app(rating_run(tmp_path / "run"))
    token = store.raters()[0].token
    form = _grades(_form(client.get(f"/r/{token}/").text))
    response = client.post(f"/r/{token}/rate", data={**form, "s0.clarity": "6"})
    assert response.status_code == 400 and "s0.clarity" in response.text and "'6'" in response.text
    other_item = {**form, "item0": "0123456789abcdef"}
    assert client.post(f"/r/{token}/rate", data=other_item).status_code == 400
    assert list(store.ratings()) == []


def test_reload_resumes_and_the_store_is_wal_sqlite(tmp_path: Path) -> None:
    run = rating_run(tmp_path / "run")
    client, store = _app(run)
    token = store.raters()[0].token
    seen = []
    for _ in range(3):
        form = _form(client.get(f"/r/{token}/").text)
        seen.append(form["item0"])
        client.post(f"/r/{token}/rate", data=_grades(form, 5))
    # A new server on the same folder (a restart) shows the 4th page, and 3 of 10 done.
    client2, _ = _app(run)
    html = client2.get(f"/r/{token}/").text
    assert "3 / 10 rated" in html and _form(html)["item0"] not in seen
    db = sqlite3.connect(run / RATINGS_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = db.execute("SELECT rater_id, item_id, dimension, score FROM ratings ORDER BY item_id").fetchall()
    assert len(rows) == 3 * len(DIMENSIONS) and {r[0] for r in rows} == {"r1"} and {r[3] for r in rows} == {5}
    assert sorted({r[1] for r in rows}) == sorted(seen)


def test_each_rater_has_an_order_of_their_own_fixed_across_restarts(tmp_path: Path) -> None:
    run = rating_run(tmp_path / "run", answers=10)
    store = RatingStore.of_run(run)
    a, b = store.ensure_raters(2)
    all_pages = pages(load_items(run), pairwise=False)
    assert rater_plan(all_pages, a.seed) == rater_plan(all_pages, a.seed)
    assert rater_plan(all_pages, a.seed) != rater_plan(all_pages, b.seed)
    assert sorted(rater_plan(all_pages, a.seed)) == sorted(all_pages)
    assert RatingStore.of_run(run).ensure_raters(2) == [a, b]  # a restart keeps the links


def test_pairwise_pages_show_two_answers_to_one_question(tmp_path: Path) -> None:
    client, store = _app(rating_run(tmp_path / "run"), pairwise=True)
    token = store.raters()[0].token
    html = client.get(f"/r/{token}/").text
    assert "0 / 5 rated" in html and "Answer A" in html and "Answer B" in html
    form = _form(html)
    client.post(f"/r/{token}/rate", data={**_grades(form, 2), "comment": "B is wordier"})
    rows = list(store.ratings())
    assert len(rows) == 2 * len(DIMENSIONS)
    assert {r.item_id for r in rows} == {form["item0"], form["item1"]}
    assert {r.page_items for r in rows} == {f"{form['item0']},{form['item1']}"}
    assert {r.comment for r in rows} == {"B is wordier"}
    # Both answers are to the same question.
    items = {i.id: i for i in load_items(tmp_path / "run")}
    assert items[form["item0"]].question == items[form["item1"]].question


def test_the_csv_export_needs_the_admin_link(tmp_path: Path) -> None:
    client, store = _app(rating_run(tmp_path / "run"))
    token = store.raters()[0].token
    client.post(f"/r/{token}/rate", data=_grades(_form(client.get(f"/r/{token}/").text), 3))
    assert client.get("/admin/wrong/ratings.csv").status_code == 404
    text = client.get(f"/admin/{store.meta('admin_token')}/ratings.csv").text
    lines = text.strip().splitlines()
    assert lines[0] == "rater_id,item_id,dimension,score,comment,page_items,rated_at"
    assert len(lines) == 1 + len(DIMENSIONS) and all(",3," in line for line in lines[1:])


def test_a_foreign_host_header_is_refused(tmp_path: Path) -> None:
    client, store = _app(rating_run(tmp_path / "run"))
    response = client.get(f"/r/{store.raters()[0].token}/", headers={"host": "rebound.example"})
    assert response.status_code == 400


def test_records_without_a_question_are_refused_with_the_field(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text(json.dumps({"case_id": "m-qa-short-L0", "output_text": "x"}) + "\n")
    with pytest.raises(ConfigError, match=r"results\.jsonl: 1 of 1 records carry no 'question_text'"):
        load_items(run)


def test_presets_and_a_bad_dimensions_file(tmp_path: Path) -> None:
    assert presets() == ["counselling", "general"]
    assert [d.name for d in load_dimensions("counselling")] == ["professionalism", "empathy", "practicality",
                                                                 "safety"]
    assert [d.key for d in load_dimensions(None)] == [f"human_{d}" for d in DIMENSIONS]
    bad = tmp_path / "dims.json"
    bad.write_text(json.dumps({"dimensions": [{"name": "ok"}, {"name": "Bad Name"}]}))
    with pytest.raises(ConfigError, match=r"dims\.json: dimension 1, field 'name': 'Bad Name' is not"):
        load_dimensions(str(bad))
    with pytest.raises(ConfigError, match="no such preset or file; give one of counselling, general"):
        load_dimensions("nope")

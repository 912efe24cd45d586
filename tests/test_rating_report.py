"""Human ratings in the report: human_<dimension> per case, Krippendorff's alpha, judge-human
Spearman with its CI, and a human score as the primary quality."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from ratingrun import rating_records, rating_run

from wattbench.errors import ReportInputError
from wattbench.rating.items import item_id
from wattbench.rating.store import Rating, RatingStore
from wattbench.report.cli import main
from wattbench.report.human import human_study, parse_primary, spearman

pytest.importorskip("krippendorff", reason="the rate extra (krippendorff) is not installed")
pytest.importorskip("scipy", reason="the rate extra (scipy) is not installed")


def _rate(run: Path, grades: dict[str, list[int]], dimension: str = "correctness") -> list[str]:
    """Store rater -> grades (one per answer, in record order); returns the answers' item ids."""
    ids = [item_id(r) for r in rating_records(len(next(iter(grades.values()))))]
    store = RatingStore.of_run(run)
    for rater, (name, scores) in zip(store.ensure_raters(len(grades)), grades.items()):
        assert rater.id == name
        for item, score in zip(ids, scores):
            store.save_page(rater.id, [item], {item: {dimension: score}}, "")
    store.close()
    return ids


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_report_writes_human_scores_and_agreement(tmp_path: Path) -> None:
    run = rating_run(tmp_path / "run", answers=6, judge_score=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    _rate(run, {"r1": [1, 2, 3, 4, 5, 5], "r2": [1, 2, 3, 4, 5, 5]})
    assert main(["report", str(run), "--out", str(tmp_path / "out"), "--no-texts"]) == 0
    cases = {r["case_id"]: r for r in _rows(tmp_path / "out" / "human.csv")}
    assert len(cases) == 6
    first = cases["m-qa-q0-L0"]
    assert float(first["human_correctness_mean"]) == 1.0 and first["human_correctness_ratings_count"] == "2"
    agreement = _rows(tmp_path / "out" / "agreement.csv")
    alpha = next(a for a in agreement if a["measure"] == "krippendorff_alpha_ordinal")
    assert float(alpha["value"]) == 1.0 and alpha["raters_count"] == "2"  # two raters who always agree
    rho = next(a for a in agreement if a["judge_key"] == "judge_score")
    # Judge and humans rank the six answers alike except the tie at 5: rho of (1..6) v (1,2,3,4,5,5).
    assert math.isclose(float(rho["value"]), 0.9856107, rel_tol=1e-6) and rho["items_count"] == "6"
    results = _rows(tmp_path / "out" / "results.csv")
    assert {r["human_correctness"] for r in results} == {"1.0", "2.0", "3.0", "4.0", "5.0"}


def test_alpha_of_disagreeing_raters_is_below_zero_and_one_rater_has_none(tmp_path: Path) -> None:
    records = rating_records(4)
    ids = [item_id(r) for r in records]
    from wattbench.rating.store import Rating

    def rows(rater: str, scores: list[int]) -> list[Rating]:
        return [Rating(rater, i, "clarity", s, "", i, "t") for i, s in zip(ids, scores)]

    opposed = human_study(records, rows("r1", [1, 2, 4, 5]) + rows("r2", [5, 4, 2, 1]))
    assert opposed.agreement[0].value is not None and opposed.agreement[0].value < 0
    alone = human_study(records, rows("r1", [1, 2, 4, 5]))
    assert alone.agreement[0].value is None and "two raters" in alone.agreement[0].note


def test_spearman_and_its_fisher_interval_match_the_hand_computation() -> None:
    # d = (-1, 1, -1, 1, 0): rho = 1 - 6 * 4 / (5 * 24) = 0.8; z = atanh(0.8) = 1.098612,
    # se = sqrt(1.06 / 2) = 0.728011; tanh(z -+ 1.959964 * se) = -0.31698, 0.98725.
    a = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], "correctness", "judge_score", 2)
    assert a.value is not None and math.isclose(a.value, 0.8)
    assert a.ci_low is not None and a.ci_high is not None
    assert math.isclose(a.ci_low, -0.31698, abs_tol=1e-4) and math.isclose(a.ci_high, 0.98725, abs_tol=1e-4)
    few = spearman([1, 2, 3], [1, 2, 3], "correctness", "judge_score", 2)
    assert few.value is None and "4 or more" in few.note
    flat = spearman([3, 3, 3, 3], [1, 2, 3, 4], "correctness", "judge_score", 2)
    assert flat.value is None and "every judge grade is the same" in flat.note


def test_a_human_score_can_be_the_primary_quality(tmp_path: Path) -> None:
    run = rating_run(tmp_path / "run", answers=4)
    _rate(run, {"r1": [5, 1, 3, 5]})
    assert main(["report", str(run), "--out", str(tmp_path / "out"), "--no-texts",
                 "--primary", "qa=human_correctness"]) == 0
    quality = {r["case_id"]: r["quality"] for r in _rows(tmp_path / "out" / "results.csv")}
    # (grade - 1) / 4: 5 -> 1.0, 1 -> 0.0, 3 -> 0.5.
    assert quality == {"m-qa-q0-L0": "1.0", "m-qa-q0-L1": "0.0", "m-qa-q1-L0": "0.5", "m-qa-q1-L1": "1.0"}


def test_a_bad_primary_names_the_part(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="'qa=rouge_l' names no human score"):
        parse_primary("qa=rouge_l")
    assert parse_primary("human_empathy, qa=human_correctness") == {
        "*": "human_empathy", "qa": "human_correctness"}
    run = rating_run(tmp_path / "run", answers=2)
    assert main(["report", str(run), "--out", str(tmp_path / "out"), "--primary", "rouge_l"]) == 2
    assert "names no human score" in capsys.readouterr().err


def _ratings(records: list[dict[str, object]], rater: str, scores: list[int], dimension: str = "clarity",
             pages: list[str] | None = None) -> list[Rating]:
    ids = [item_id(r) for r in records]
    return [Rating(rater, i, dimension, s, "", (pages or ids)[n] if pages else i, "t")
            for n, (i, s) in enumerate(zip(ids, scores))]


def test_high_raw_agreement_beside_a_low_alpha_gets_a_note() -> None:
    """The kappa paradox: 24 of 25 answers graded 5 by both raters, one 5 v 4: 96% agreement, and
    alpha about 0 (the issue's figures). The page shows both, and a note says how to read them."""
    records = rating_records(25)
    r2 = [5] * 24 + [4]
    study = human_study(records, _ratings(records, "r1", [5] * 25) + _ratings(records, "r2", r2))
    (a,) = study.agreement
    assert a.percent_agreement == pytest.approx(96.0) and a.value is not None and a.value < 0.1
    assert "kappa paradox" in a.note
    # Agreement that alpha confirms gets no such note.
    same = [1, 5] * 12 + [1]
    alike = human_study(records, _ratings(records, "r1", same) + _ratings(records, "r2", same))
    assert alike.agreement[0].value == 1.0 and alike.agreement[0].note == ""


def test_pairwise_pages_give_win_rates_with_wilson_intervals() -> None:
    records = rating_records(10)  # questions q0..q4, each answered at L0 and L1
    ids = [item_id(r) for r in records]
    pages = [f"{ids[2 * q]},{ids[2 * q + 1]}" for q in range(5) for _ in range(2)]  # each answer's page
    # Two raters; L1 graded above L0 on 7 of the 10 comparisons, below on 2, one tie.
    r1 = [3, 4, 2, 5, 3, 4, 2, 4, 4, 4]  # L1 wins q0..q3, tie q4
    r2 = [3, 5, 2, 4, 4, 3, 4, 3, 2, 5]  # L1 wins q0, q1, q4; loses q2, q3
    ratings = _ratings(records, "r1", r1, pages=pages) + _ratings(records, "r2", r2, pages=pages)
    (pref,) = human_study(records, ratings).preferences
    assert (pref.first, pref.second) == ("m L0", "m L1")
    assert (pref.wins, pref.losses, pref.ties) == (2, 7, 1) and pref.win_rate == pytest.approx(2 / 9)
    # Wilson's score interval, by its formula.
    n, p, z = 9, 2 / 9, 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = pref.interval() or (0.0, 0.0)
    assert low == pytest.approx(centre - half) and high == pytest.approx(centre + half)


def test_the_page_shows_ratings_per_configuration_agreement_and_preferences(tmp_path: Path) -> None:
    run = rating_run(tmp_path / "run", answers=6, judge_score=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    _rate(run, {"r1": [1, 2, 3, 4, 5, 5], "r2": [1, 2, 3, 4, 5, 4]})
    assert main(["report", str(run), "--out", str(tmp_path / "out"), "--no-texts"]) == 0
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Human judgement</h2>" in page and "<td>m L0</td>" in page and "<td>m L1</td>" in page
    assert "percent agreement" in page and "83%" in page  # 5 of 6 pairs equal
    assert "Spearman&#x27;s rho" in page and "judge_score" in page
    agreement = _rows(tmp_path / "out" / "agreement.csv")
    alpha = next(a for a in agreement if a["measure"].startswith("krippendorff"))
    assert float(alpha["percent_agreement"]) == pytest.approx(100 * 5 / 6)

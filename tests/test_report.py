"""Reports: the statistics, the Pareto front and stars (properties), and `wattbench report` on a
real run directory."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_plugin import records, run_suite

from wattbench.report.pareto import pareto_front
from wattbench.report.quality import quality
from wattbench.report.rating import stars
from wattbench.report.stats import summarise

numbers = st.floats(min_value=0, max_value=1000, allow_nan=False)


@given(st.lists(numbers, min_size=1, max_size=30))
def test_the_confidence_interval_holds_the_mean(values: list[float]) -> None:
    s = summarise(values)
    assert s.ci_low - 1e-9 <= s.mean <= s.ci_high + 1e-9 and s.variance >= 0
    assert min(values) - 1e-9 <= s.ci_low and s.ci_high <= max(values) + 1e-9


def test_one_run_has_a_zero_width_interval() -> None:
    s = summarise([4.0])
    assert (s.n, s.mean, s.variance, s.ci_low, s.ci_high) == (1, 4.0, 0.0, 4.0, 4.0)


@given(st.lists(st.tuples(numbers, numbers), min_size=1, max_size=40))
def test_the_pareto_front_is_exactly_the_undominated_points(pairs: list[tuple[float, float]]) -> None:
    points = [(q, c, i) for i, (q, c) in enumerate(pairs)]
    front = set(pareto_front(points))

    def dominated(i: int) -> bool:
        q, c = pairs[i]
        return any((q2 >= q and c2 <= c) and (q2 > q or c2 < c) for q2, c2 in pairs)

    assert all(not dominated(i) for i in front)
    for i in set(range(len(pairs))) - front:
        # Off the front: beaten, or a duplicate of a front point.
        assert dominated(i) or any(pairs[j] == pairs[i] for j in front)


def test_the_pareto_front_of_a_known_set() -> None:
    points = [(0.9, 10.0, "big"), (0.5, 2.0, "small"), (0.4, 5.0, "worse"), (0.95, 30.0, "huge")]
    assert pareto_front(points) == ["small", "big", "huge"]


@given(st.dictionaries(st.text(max_size=5), numbers, min_size=1, max_size=20))
def test_stars_span_one_to_five(values: dict[str, float]) -> None:
    rated = stars(values)
    assert set(rated) == set(values) and all(1 <= r <= 5 for r in rated.values())
    if len(set(values.values())) > 1:
        assert rated[max(values, key=values.__getitem__)] == 5
        assert rated[min(values, key=values.__getitem__)] == 1


def test_quality_comes_from_the_scorer_that_fits_the_task() -> None:
    assert quality({"task": "code", "code_tests_passed": 1.0, "rouge_l": 0.2}) == 1.0
    assert quality({"task": "summary", "rouge_l": 0.3}) == 0.3
    assert quality({"task": "creative"}) is None


def test_wattbench_report_on_a_real_run(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    run_dir = suite.path / "run"
    result, _data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa,summary", "--wb-loads", "short",
        "--wb-levels", "L0,L1", "--wb-runs", "2", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2 + 4)
    done = subprocess.run(
        [sys.executable, "-m", "wattbench.report.cli", "report", str(run_dir)],
        capture_output=True, text=True, check=True,
    )
    assert "8 records, 4 groups" in done.stdout
    rows = list(csv.DictReader((run_dir / "results.csv").open()))
    assert len(rows) == len(records(run_dir)) == 8
    assert all(0.0 <= float(r["quality"]) <= 1.0 for r in rows)
    stats = list(csv.DictReader((run_dir / "stats.csv").open()))
    assert len(stats) == 4 and all(s["runs"] == "2" for s in stats)
    for s in stats:
        assert float(s["latency_s_ci_low"]) <= float(s["latency_s_mean"]) <= float(s["latency_s_ci_high"])
        assert 1 <= int(s["stars"]) <= 5 and float(s["quality_per_j"]) >= 0
    assert any(s["pareto_energy"] == "True" for s in stats)
    texts = sorted(p.name for p in (run_dir / "texts" / "tiny" / "qa").iterdir())
    assert texts == ["short-L0-default-r0.txt", "short-L0-default-r1.txt", "short-L1-default-r0.txt",
                     "short-L1-default-r1.txt"]


def test_report_on_a_folder_without_results_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wattbench.report.cli", "report", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert done.returncode == 2 and "holds no results.jsonl" in done.stderr

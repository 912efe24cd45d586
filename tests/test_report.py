"""Reports: the statistics, the Pareto front and stars (properties), and `wattbench report` on a
real run directory."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from studyrecords import record, write_run
from test_plugin import records, run_suite

from wattbench.report import stats
from wattbench.report.build import write_report
from wattbench.report.findings import best_per_task
from wattbench.report.pareto import pareto_front
from wattbench.report.quality import quality
from wattbench.report.rating import stars
from wattbench.report.stats import summarise

numbers = st.floats(min_value=0, max_value=1000, allow_nan=False)


@given(st.lists(numbers, min_size=1, max_size=30))
def test_the_confidence_interval_holds_the_mean(values: list[float]) -> None:
    s = summarise(values)
    if len(values) == 1:
        assert s.ci_low is None and s.ci_high is None
        return
    assert s.ci_low is not None and s.ci_high is not None and s.variance is not None
    tol = 1e-9 * (1 + max(abs(v) for v in values))
    assert s.ci_low - tol <= s.mean <= s.ci_high + tol and s.variance >= 0
    if len(values) >= stats.BOOTSTRAP_MIN_N:  # a percentile bootstrap stays within the values
        assert s.method == stats.BOOTSTRAP
        assert min(values) - tol <= s.ci_low and s.ci_high <= max(values) + tol
    else:  # Student-t: symmetric about the mean
        assert s.method == stats.STUDENT_T
        assert abs((s.mean - s.ci_low) - (s.ci_high - s.mean)) <= 1e-6 * (1 + abs(s.mean))


def test_one_run_has_no_interval_never_a_zero_width_one() -> None:
    s = summarise([4.0])
    assert (s.n, s.mean, s.variance, s.ci_low, s.ci_high) == (1, 4.0, None, None, None)
    assert s.method == "none: n = 1"


def test_two_runs_get_a_student_t_interval_not_their_own_range() -> None:
    # 10 and 12: mean 11, s = sqrt(2), t(0.975, 1) = 12.706 (tables): 11 +- 12.706 x sqrt(2) / sqrt(2).
    s = summarise([10.0, 12.0])
    assert s.method == "student-t" and s.variance == pytest.approx(2.0)
    assert s.ci_low == pytest.approx(11 - 12.706, abs=1e-3)
    assert s.ci_high == pytest.approx(11 + 12.706, abs=1e-3)


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
    if len(values) == 1:  # one configuration: nothing to compare, no stars
        assert rated == {}
        return
    assert set(rated) == set(values) and all(1 <= r <= 5 for r in rated.values())
    if len(set(values.values())) > 1:
        assert rated[max(values, key=values.__getitem__)] == 5
        assert rated[min(values, key=values.__getitem__)] == 1


def test_quality_comes_from_the_scorer_that_fits_the_task() -> None:
    assert quality({"task": "code", "code_tests_passed": 1.0, "rouge_l": 0.2}) == 1.0
    assert quality({"task": "summary", "rouge_l": 0.3}) == 0.3
    assert quality({"task": "creative"}) is None


def test_wb_report_writes_the_whole_report_at_the_end_of_a_real_run(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa,summary", "--wb-loads", "short",
        "--wb-levels", "L0,L1", "--wb-runs", "2", "--wb-run-dir", str(run_dir), "--wb-report",
    )
    result.assert_outcomes(passed=2 + 4)
    result.stdout.fnmatch_lines([f"report (*): {run_dir / 'report.html'}, results.csv, texts/, stats.csv*"])
    for name in ("results.csv", "stats.csv", "ratings.csv", "findings.md", "report.html", "report.xlsx"):
        assert (run_dir / name).stat().st_size > 0, name
    rows = list(csv.DictReader((run_dir / "results.csv").open()))
    assert len(rows) == len(records(run_dir)) == 8
    assert all(0.0 <= float(r["quality"]) <= 1.0 and r["fingerprint"] == rows[0]["fingerprint"] for r in rows)
    stats = list(csv.DictReader((run_dir / "stats.csv").open()))
    # A group is summarised from its clean records where it has them: on a busy machine some of
    # the two runs may be contended and left out (the page says how many).
    by_case: dict[str, list[dict[str, Any]]] = {}
    for r in records(run_dir):
        by_case.setdefault(f"{r['task']}-{r['level']}", []).append(r)
    expected = {k: len([r for r in rs if not r.get("contended")]) or len(rs) for k, rs in by_case.items()}
    assert len(stats) == 4 and {f"{s['task']}-{s['level']}": int(s["runs"]) for s in stats} == expected
    for s in stats:
        if s["runs"] == "2":  # one run has no interval
            assert float(s["latency_s_ci_low"]) <= float(s["latency_s_mean"]) <= float(s["latency_s_ci_high"])
        assert float(s["tokens_per_j_mean"]) > 0
    texts = sorted(p.name for p in (run_dir / "texts" / "tiny" / "qa").iterdir())
    assert texts == ["short-L0-default-r0.txt", "short-L0-default-r1.txt", "short-L1-default-r0.txt",
                     "short-L1-default-r1.txt"]
    book = openpyxl.load_workbook(run_dir / "report.xlsx", read_only=True)
    assert book.sheetnames == ["Models", "Per task", "Quality detail", "Energy J", "Latency s",
                               "Output tokens",
                               "Quality", "Stats", "Machines"]
    detail = list(book["Quality detail"].iter_rows(values_only=True))
    assert len(detail) == 1 + 8 and "quality" in detail[0] and "output_text" in detail[0]
    energy = list(book["Energy J"].iter_rows(values_only=True))
    assert energy[0] == ("system", "task", "load", "L0", "L1") and len(energy) == 1 + 2
    # The same report from the benchmark JSON: pytest-benchmark keeps the runs in per_run.
    again = subprocess.run(
        [sys.executable, "-m", "wattbench.report.cli", "report", str(suite.path / "out.json"),
         "--out", str(suite.path / "from-json")], capture_output=True, text=True, check=True,
    )
    assert "8 records, 4 groups" in again.stdout
    assert len(data["benchmarks"]) == 4  # the growth checks measure nothing


def test_a_one_run_study_shows_no_zero_width_interval_anywhere(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    result, _ = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa,summary", "--wb-loads", "short",
        "--wb-levels", "L0,L1", "--wb-runs", "1", "--wb-run-dir", str(run_dir), "--wb-report",
    )
    result.assert_outcomes(passed=2 + 4)
    stats = list(csv.DictReader((run_dir / "stats.csv").open(encoding="utf-8")))
    assert stats and all(s["runs"] == "1" for s in stats)
    for s in stats:
        assert s["latency_s_mean"] and s["latency_s_ci_low"] == s["latency_s_ci_high"] == ""
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "(n = 1, no interval)" in page
    zero_width = re.findall(r"\[([-+0-9.e]+), \1\]", page)
    assert zero_width == [], zero_width
    book = openpyxl.load_workbook(run_dir / "report.xlsx", read_only=True)
    methods: list[object] = []
    for name in book.sheetnames:  # an interval's bounds, where a sheet has them, are empty
        header, *rows = list(book[name].iter_rows(values_only=True))
        bounds = [i for i, k in enumerate(header)
                  if isinstance(k, str) and k.endswith(("_ci_low", "_ci_high"))]
        assert [row[i] for row in rows for i in bounds if row[i] is not None] == [], name
        said = [i for i, k in enumerate(header) if isinstance(k, str) and k.endswith("_ci_method")]
        methods += [row[i] for row in rows for i in said]
    # The Models, Per task and Stats sheets say why: one run.
    assert len(methods) > 3 * 3 and set(methods) - {None} == {"none: n = 1"}  # None: no such figure
    assert {s["latency_s_ci_method"] for s in stats} == {"none: n = 1"}
    assert {s["latency_s_var"] for s in stats} == {""}  # no variance from one run, never 0.0


def test_pytest_benchmark_compare_still_reads_our_json(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    _result, data = run_suite(suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
                              "--wb-levels", "L0,L1")
    assert "wattbench" in data
    done = subprocess.run(
        [sys.executable, "-c", "from pytest_benchmark.cli import main; main()", "compare",
         str(suite.path / "out.json"), "--columns", "min,mean"], capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "test_case[tiny-qa-short-L0]" in done.stdout and "test_case[tiny-qa-short-L1]" in done.stdout


def _designed_study(tmp_path: Path) -> Path:
    """Two models, two tasks, L0 and L1, 2 runs: b at L0 has the best ratio, a at L1 the best quality."""
    design = {("a", "L0"): (0.4, 100.0), ("a", "L1"): (0.6, 300.0), ("b", "L0"): (0.5, 50.0),
              ("b", "L1"): (0.2, 40.0)}
    return write_run(tmp_path / "run", [
        record(model, task, "short", level, run, rouge_l=q, energy_j=energy + run, latency_s=energy / 50)
        for (model, level), (q, energy) in design.items() for task in ("qa", "summary") for run in (0, 1)
    ])


def test_a_study_of_one_configuration_gives_no_stars_and_says_why(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [record("a", "qa", "short", "L0", r, rouge_l=0.161) for r in (0, 1, 2)])
    written = write_report([run], tmp_path / "out")
    ratings = list(csv.DictReader((tmp_path / "out" / "ratings.csv").open()))
    assert ratings and all(r["stars"] == "" for r in ratings)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "One configuration: nothing to compare, so no stars." in page and "q 0.161" in page
    assert written.study.records == 3
    lines = best_per_task(written.study)
    assert lines == [lines[0]] and "only rated configuration: a at L0 no stars (nothing to compare with)" \
        in lines[0]


def test_ratings_fronts_and_answers_follow_the_figures(tmp_path: Path) -> None:
    written = write_report([_designed_study(tmp_path)], tmp_path / "out")
    per_task = {(r["task"], r["system"], r["config"]): r for r in csv.DictReader((tmp_path / "out" /
                                                                                   "ratings.csv").open())}
    qa = {(s, c): r for (t, s, c), r in per_task.items() if t == "qa"}
    # ratio = (quality / best quality 0.6) / energy: b L0 0.0167, b L1 0.0083, a L0 0.0067, a L1 0.0033.
    assert {k: int(r["stars"]) for k, r in qa.items()} == {("b", "L0"): 5, ("b", "L1"): 2, ("a", "L0"): 2,
                                                           ("a", "L1"): 1}
    front = {k for k, r in qa.items() if r["pareto_energy"] == "True"}
    assert front == {("b", "L1"), ("b", "L0"), ("a", "L1")}
    overall = {(s, c): r for (t, s, c), r in per_task.items() if t == "all"}
    assert int(overall["b", "L0"]["stars"]) == 5 and int(overall["a", "L1"]["stars"]) == 1
    answers = (tmp_path / "out" / "findings.md").read_text()
    assert "- a: L0 (" in answers and "- b: L0 (5/5 stars relative to this study" in answers
    assert "qa: best ratio b at L0 (quality 0.500" in answers
    assert "best quality a at L1 (quality 0.600" in answers
    assert "a: L1 against L0: normalised quality +0.333" in answers
    assert written.study.records == 16 and len(written.study.groups) == 8


def test_one_model_from_two_machines_stays_apart_and_the_page_warns(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [
        record("a", level=level, machine_cpu=cpu, energy_j=e)
        for cpu, e in (("CPU one", 100.0), ("CPU two", 50.0)) for level in ("L0", "L1")
    ])
    written = write_report([run], tmp_path / "out")
    assert sorted(written.study.machines) == sorted({g["fingerprint"] for g in written.study.groups})
    assert len(written.study.machines) == 2
    assert {g["system"] for g in written.study.groups} == {f"a@{fp[:6]}" for fp in written.study.machines}
    page = (tmp_path / "out" / "report.html").read_text()
    assert "merges runs from different machines" in page and "CPU one" in page and "CPU two" in page


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    write_report([_designed_study(tmp_path)], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("<svg") >= 7  # 2 Pareto, 3 level charts, 2 radars... and the heat map
    for fetch in ("src=", "href=", "url(", "@import", "<script", "<link"):
        assert fetch not in page, fetch
    # The only URL is SVG's namespace name, which browsers never fetch.
    assert {m for m in re.findall(r"https?://[^\s\"']+", page)} == {"http://www.w3.org/2000/svg"}
    assert "★★★★★" in page and "Pareto front" in page


def test_a_report_of_nothing_measured_says_so_rather_than_rating(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [record(level=lv, rouge_l=0.0) for lv in ("L0", "L1")])
    write_report([run], tmp_path / "out")
    answers = (tmp_path / "out" / "findings.md").read_text()
    assert "qa: no configuration scored above 0 (2 scored 0), so none is rated." in answers


def test_untested_code_is_said_untested_never_0(tmp_path: Path) -> None:
    untested = [record(task="code", level=lv, rouge_l=None, code_tests_passed=None) for lv in ("L0", "L1")]
    failed = [record(task="code", level="L2", rouge_l=None, code_tests_passed=0.0)]
    write_report([write_run(tmp_path / "a", untested)], tmp_path / "only")
    answers = (tmp_path / "only" / "findings.md").read_text()
    assert "code: no configuration has a quality score: untested, not 0" in answers
    write_report([write_run(tmp_path / "b", untested + failed)], tmp_path / "mixed")
    answers = (tmp_path / "mixed" / "findings.md").read_text()
    assert "code: no configuration scored above 0 (1 scored 0; 2 untested, with no score: not 0)" in answers


def test_report_on_a_folder_without_results_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wattbench.report.cli", "report", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert done.returncode == 2 and "holds no results.jsonl" in done.stderr


def test_report_into_a_folder_that_cannot_be_made_says_so_in_one_line(tmp_path: Path) -> None:
    run = _designed_study(tmp_path)
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    out = tmp_path / "a-file" / "out"
    done = subprocess.run(
        [sys.executable, "-m", "wattbench.report.cli", "report", str(run), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("wattbench report: [Errno") and "a-file" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

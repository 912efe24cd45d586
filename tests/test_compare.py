"""Comparing saved runs: the significance tests, the verdicts, gates, fingerprints, the command
and the gate inside a pytest run."""

from __future__ import annotations

import csv
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from studyrecords import record, write_run
from test_plugin import records, run_suite

from wattbench.errors import ReportInputError
from wattbench.report import stats
from wattbench.report.compare import Comparison, Row, compare
from wattbench.report.gates import parse_gates
from wattbench.report.runs import read_run


def test_mann_whitney_exact_p_values_match_the_tables() -> None:
    # Fully separated samples: p = 2 / C(n1 + n2, n1).
    assert stats.mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert stats.mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert stats.mann_whitney_p([1, 1, 1], [1, 1, 1]) == 1.0
    assert stats.mann_whitney_p([1, 3, 5], [2, 4, 6]) > 0.5


def test_the_normal_approximation_agrees_with_the_exact_p(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    a = [rng.gauss(0, 1) for _ in range(8)]
    b = [rng.gauss(1, 1) for _ in range(8)]
    exact = stats.mann_whitney_p(a, b)  # C(16, 8) = 12,870 splits: exact
    monkeypatch.setattr(stats, "EXACT_ARRANGEMENTS", 0)
    assert stats.mann_whitney_p(a, b) == pytest.approx(exact, abs=0.02)


def _runs(
    tmp_path: Path, name: str, speed: float, runs: int, cases: int = 6, seed: int = 0, **extra: object
) -> Path:
    """A run folder of ``cases`` cases x ``runs`` runs decoding at ``speed`` +-2%, TTFT 0.2 s +-10%."""
    rng = random.Random(seed)
    return write_run(
        tmp_path / name,
        [
            record(
                "m",
                "qa",
                f"load{c}",
                "L0",
                r,
                decode_tokens_per_s=speed * rng.uniform(0.98, 1.02),
                ttft_s=0.2 * rng.uniform(0.9, 1.1),
                **extra,
            )
            for c in range(cases)
            for r in range(runs)
        ],
    )


def _rows(comparison: Comparison, metric: str) -> list[Row]:
    return [r for r in comparison.rows if r.metric == metric]


def test_a_real_slowdown_is_significant_and_noise_is_not(tmp_path: Path) -> None:
    base = _runs(tmp_path, "base", 100.0, runs=5, seed=1)
    slower = _runs(tmp_path, "new", 80.0, runs=5, seed=2)
    result = compare(
        read_run(base),
        read_run(slower),
        ["decode_tokens_per_s", "ttft_s"],
        parse_gates("decode_tokens_per_s:-5%,ttft_s:+15%"),
    )
    decode = _rows(result, "decode_tokens_per_s")
    cases, (aggregate,) = decode[:-1], decode[-1:]
    assert len(cases) == 6 and all(
        r.verdict == "worse" and r.p_value is not None and r.p_value < 0.05 for r in cases
    )
    assert (
        aggregate.ci is not None and aggregate.ci[1] < 0 and aggregate.change_pct == pytest.approx(-20, abs=2)
    )
    assert len(result.failures) == 7 and all(
        str(r.failed[0]) == "decode_tokens_per_s:-5%" for r in result.failures
    )
    # TTFT only jitters (+-10%, same distribution): nothing significant, no gate crossed.
    assert all(r.verdict == "no significant change" and not r.failed for r in _rows(result, "ttft_s"))
    assert _rows(result, "ttft_s")[-1].p_value > 0.05  # the sign-flip test over 6 cases


def test_a_change_inside_the_threshold_does_not_fail(tmp_path: Path) -> None:
    result = compare(
        read_run(_runs(tmp_path, "base", 100.0, runs=5, seed=1)),
        read_run(_runs(tmp_path, "new", 97.0, runs=5, seed=2)),
        ["decode_tokens_per_s"],
        parse_gates("decode_tokens_per_s:-5%"),
    )
    assert not result.failures
    assert _rows(result, "decode_tokens_per_s")[-1].verdict == "worse"  # real, but within the gate


def test_one_run_per_case_is_tested_over_cases_only(tmp_path: Path) -> None:
    result = compare(
        read_run(_runs(tmp_path, "base", 100.0, runs=1, cases=12, seed=1)),
        read_run(_runs(tmp_path, "new", 80.0, runs=1, cases=12, seed=2)),
        ["decode_tokens_per_s"],
        parse_gates("decode_tokens_per_s:-5%"),
    )
    rows = _rows(result, "decode_tokens_per_s")
    assert all(r.verdict == "UNTESTED" and "1 v 1 runs" in r.note and not r.failed for r in rows[:-1])
    assert rows[-1].label == "m: all 12 cases" and rows[-1].verdict == "worse" and rows[-1].failed


def test_an_absolute_gate_on_a_score(tmp_path: Path) -> None:
    base = write_run(
        tmp_path / "b",
        [record(level=f"L{i}", run=r, rouge_l=0.5 + 0.01 * r) for i in range(4) for r in range(5)],
    )
    new = write_run(
        tmp_path / "n",
        [record(level=f"L{i}", run=r, rouge_l=0.4 + 0.01 * r) for i in range(4) for r in range(5)],
    )
    result = compare(read_run(base), read_run(new), ["rouge_l"], parse_gates("rouge_l:-0.05"))
    assert result.failures and all(r.change_abs == pytest.approx(-0.1) for r in result.failures)
    assert not compare(read_run(base), read_run(new), ["rouge_l"], parse_gates("rouge_l:-0.2")).failures


def test_different_fingerprints_warn_and_name_what_differs(tmp_path: Path) -> None:
    base = _runs(tmp_path, "base", 100.0, runs=2)
    new = _runs(tmp_path, "new", 100.0, runs=2, engine_version="llama-cpp-python 0.3.99")
    (warning,) = compare(read_run(base), read_run(new)).warnings
    assert "different fingerprints" in warning
    assert "engine_version: llama-cpp-python 0.3.36 != llama-cpp-python 0.3.99" in warning


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("decode_tokens_per_s:5%", "write METRIC:+N% or METRIC:-N"),
        ("decode_tokens_per_sec:-5%", "'decode_tokens_per_sec' is not a recorded metric"),
        ("latency_s", "write METRIC:+N% or METRIC:-N"),
        (" , ", "names no gate"),
    ],
)
def test_bad_gates_say_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(ReportInputError, match=says.replace("+", r"\+")):
        parse_gates(spec)


def test_the_command_exits_1_on_a_crossed_gate_and_names_it(tmp_path: Path) -> None:
    base = _runs(tmp_path, "base", 100.0, runs=5, seed=1)
    new = _runs(tmp_path, "new", 80.0, runs=5, seed=2)

    def wattbench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wattbench.report.cli", *args], capture_output=True, text=True
        )

    crossed = wattbench(
        "compare",
        str(base),
        str(new),
        "--fail",
        "decode_tokens_per_s:-5%",
        "--csv",
        str(tmp_path / "rows.csv"),
    )
    assert crossed.returncode == 1
    assert re.search(
        r"REGRESSION decode_tokens_per_s of m: all 6 cases: -(19|20)\.\d% \(100 -> 80\.\d+, "
        r"sign-flip p=0\.031\d* over 6 cases, 95% CI",
        crossed.stdout,
    )
    assert re.search(
        r"REGRESSION decode_tokens_per_s of m-qa-load0-L0: -(19|20|21)\.\d%.*mann-whitney p=0\.0079\d*, "
        r"5 v 5 runs",
        crossed.stdout,
    )
    assert (tmp_path / "rows.csv").read_text().count("\n") == 1 + 7 * 6  # every metric's rows
    assert wattbench("compare", str(base), str(new), "--fail", "decode_tokens_per_s:-50%").returncode == 0
    missing = wattbench("compare", str(base), str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and f"no such folder: {tmp_path / 'nowhere'}" in missing.stderr
    bad = wattbench("compare", str(base), str(new), "--fail", "speed:-5%")
    assert bad.returncode == 2 and "'speed' is not a recorded metric" in bad.stderr


def test_a_gate_inside_a_pytest_run_fails_it_and_says_which_metric(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    common = (
        "--wb-model",
        str(tiny_gguf),
        "--wb-tasks",
        "qa,summary",
        "--wb-loads",
        "short,medium",
        "--wb-levels",
        "L0,L1,L2",
    )
    first, _ = run_suite(suite, *common, "--wb-run-dir", str(suite.path / "first"))
    first.assert_outcomes(passed=12 + 4)  # 12 cases: 6 or more are needed for the test over cases
    # A baseline twenty times faster than the fastest case of the first run, for every case: the
    # new run is a 95% or greater slowdown on every case, however much a busy machine's tiny-model
    # timings vary (a case's own speed times a hundred was not enough: a contended machine stalls
    # llama.cpp for seconds, and a case that stalled in the first run set a low bar).
    first_records = records(suite.path / "first")
    top = max(r["decode_tokens_per_s"] for r in first_records)
    faster = [{**r, "decode_tokens_per_s": top * 20} for r in first_records]
    write_run(suite.path / "baseline", faster)
    gated, _ = run_suite(
        suite,
        *common,
        "--wb-run-dir",
        str(suite.path / "second"),
        "--wb-compare",
        str(suite.path / "baseline"),
        "--wb-compare-fail",
        "decode_tokens_per_s:-5%",
    )
    assert gated.ret == pytest.ExitCode.TESTS_FAILED
    gated.stdout.fnmatch_lines(
        [
            "REGRESSION decode_tokens_per_s of tiny: all 12 cases: -9*% (*, sign-flip p=0.000488 over "
            "12 cases, 95% CI *) crossed decode_tokens_per_s:-5%",
            "*1 gate(s) crossed; the run fails*",
        ]
    )
    loose, _ = run_suite(
        suite,
        *common,
        "--wb-run-dir",
        str(suite.path / "third"),
        "--wb-compare",
        str(suite.path / "baseline"),
        "--wb-compare-fail",
        "decode_tokens_per_s:-99.999%",  # beyond any slowdown a busy machine causes
    )
    assert loose.ret == pytest.ExitCode.OK
    loose.stdout.fnmatch_lines(
        ["tiny: all 12 cases *decode_tokens_per_s *-9*%  sign-flip p=0.00049 student-t CI * worse*"]
    )


def test_gate_options_are_checked_at_start(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result = suite.runpytest("bench", "--wb-model", str(tiny_gguf), "--wb-compare-fail", "ttft_s:+10%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--wb-compare-fail needs --wb-compare BASE*"])
    result = suite.runpytest("bench", "--wb-compare", "nowhere.json")
    result.stderr.fnmatch_lines(["*--wb-compare nowhere.json: no such run folder or benchmark JSON file*"])
    result = suite.runpytest("bench", "--wb-compare", ".", "--wb-compare-fail", "ttft:+10%")
    result.stderr.fnmatch_lines(["*'ttft' is not a recorded metric*"])


def test_log_ratios_make_the_aggregate_a_geometric_mean(tmp_path: Path) -> None:
    base = write_run(tmp_path / "b", [record(load=f"l{i}", decode_tokens_per_s=100.0) for i in range(2)])
    new = write_run(
        tmp_path / "n",
        [record(load="l0", decode_tokens_per_s=200.0), record(load="l1", decode_tokens_per_s=50.0)],
    )
    aggregate = _rows(compare(read_run(base), read_run(new), ["decode_tokens_per_s"]), "decode_tokens_per_s")[
        -1
    ]
    assert aggregate.change_pct == pytest.approx(0.0, abs=1e-9)  # x2 and x0.5 cancel
    assert math.isclose(aggregate.base_mean, 100.0) and aggregate.verdict == "UNTESTED"


def test_compare_prefers_clean_runs_and_marks_a_contended_only_case(tmp_path: Path) -> None:
    # Case load0: clean runs at 100 tokens/s and contended ones at 10 in the new run; load1: only
    # contended runs in the new run. The clean runs decide load0; load1 is marked.
    base = write_run(tmp_path / "base", [record("m", "qa", f"load{c}", "L0", r, decode_tokens_per_s=100.0 + r)
                                         for c in range(2) for r in range(3)])
    new = write_run(tmp_path / "new", [
        *(record("m", "qa", "load0", "L0", r, decode_tokens_per_s=100.0 + r) for r in range(3)),
        *(record("m", "qa", "load0", "L0", 3 + r, decode_tokens_per_s=10.0, contended=True)
          for r in range(3)),
        *(record("m", "qa", "load1", "L0", r, decode_tokens_per_s=50.0 + r, contended=True)
          for r in range(3)),
    ])
    result = compare(read_run(base), read_run(new), ["decode_tokens_per_s"])
    rows = {r.label: r for r in result.rows}
    load0 = next(r for label, r in rows.items() if "load0" in label)
    load1 = next(r for label, r in rows.items() if "load1" in label)
    assert (load0.new_n, load0.new_mean, load0.contended) == (3, 101.0, "")
    assert (load1.new_n, load1.contended) == (3, "new")
    assert result.warnings and result.warnings[0].startswith("CONTENDED:")
    assert "3 of the new run left out" in result.warnings[0] and "1 matched case(s)" in result.warnings[0]
    aggregate = rows["m: all 2 cases"]
    assert aggregate.contended == "some cases" and aggregate.ci_method == "student-t"


def test_an_aggregate_of_one_case_has_no_interval_and_says_why(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", [record("m", "qa", "short", "L0", 0, decode_tokens_per_s=100.0)])
    new = write_run(tmp_path / "new", [record("m", "qa", "short", "L0", 0, decode_tokens_per_s=90.0)])
    result = compare(read_run(base), read_run(new), ["decode_tokens_per_s"])
    aggregate = next(r for r in result.rows if r.label == "m: all 1 cases")
    assert aggregate.ci is None and aggregate.ci_method == "none: n = 1"
    out = tmp_path / "c.csv"
    subprocess.run([sys.executable, "-m", "wattbench.report.cli", "compare", str(base), str(new),
                    "--metrics", "decode_tokens_per_s", "--csv", str(out)], capture_output=True, check=False)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    one = next(r for r in rows if r["case"] == "m: all 1 cases")
    assert (one["ci_low"], one["ci_high"], one["ci_method"]) == ("", "", "none: n = 1")

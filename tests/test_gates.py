"""Gates that never pass silently: Welch's t-test on log values for few runs, the UNTESTED verdict,
``wattbench compare``'s exit codes (0 pass, 1 fail, 2 bad input, 3 untested) and ``--untested warn``,
and the same rule after a pytest run (after_run)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from studyrecords import record, write_run

from wattbench.report import stats
from wattbench.report.after_run import AfterRunOptions, after_run
from wattbench.report.compare import compare, exit_code
from wattbench.report.gates import EXIT_FAILED, EXIT_OK, EXIT_UNTESTED, UNTESTED, parse_gates
from wattbench.report.runs import read_run

# Welch's t-test, example 1 of the Wikipedia article "Welch's t-test" (two samples of 15):
# t = -2.46, df = 25.0, p = 0.021.
WIKI_A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
WIKI_A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_p_matches_the_published_example() -> None:
    assert stats.welch_p(WIKI_A1, WIKI_A2, log=False) == pytest.approx(0.021, abs=0.001)


def test_welch_p_on_logs_compares_ratios_and_handles_no_spread() -> None:
    # Scaling both samples by the same factor leaves a test on logs unchanged.
    assert stats.welch_p([1, 2, 3], [2, 3, 5], log=True) == pytest.approx(
        stats.welch_p([10, 20, 30], [20, 30, 50], log=True)
    )
    assert stats.welch_p([5.0, 5.0], [5.0, 5.0, 5.0], log=True) == 1.0
    assert stats.welch_p([5.0, 5.0], [4.0, 4.0], log=True) == 0.0  # a deterministic engine's change
    with pytest.raises(ValueError, match="2 or more values a side"):
        stats.welch_p([1.0], [1.0, 2.0], log=False)
    with pytest.raises(ValueError, match="values > 0"):
        stats.welch_p([0.0, 1.0], [1.0, 2.0], log=True)


def test_our_mann_whitney_agrees_with_scipy_exact() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = random.Random(7)
    for _ in range(30):
        a = [rng.uniform(0, 10) for _ in range(rng.randint(2, 6))]
        b = [rng.uniform(0, 12) for _ in range(rng.randint(2, 6))]
        expected = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue
        assert stats.mann_whitney_p(a, b) == pytest.approx(expected)


def _case(
    speed: float, runs: int, seed: int, spread: float = 0.02, load: str = "short", **extra: Any
) -> list[dict[str, Any]]:
    """One case's runs decoding at ``speed`` times a log-normal jitter of about ``spread``."""
    rng = random.Random(seed)
    return [
        record("m", "qa", load, "L0", r, decode_tokens_per_s=speed * rng.lognormvariate(0, spread), **extra)
        for r in range(runs)
    ]


GATE = parse_gates("decode_tokens_per_s:-10%")


def test_three_v_three_runs_at_half_speed_fail_a_ten_percent_gate(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", _case(100.0, 3, seed=1))
    new = write_run(tmp_path / "new", _case(50.0, 3, seed=2))
    result = compare(read_run(base), read_run(new), ["decode_tokens_per_s"], GATE)
    case, aggregate = result.rows
    assert case.test == "welch-log" and case.verdict == "worse" and case.failed == GATE
    assert case.p_value is not None and case.p_value < 0.001
    assert aggregate.verdict == UNTESTED and aggregate.test == "" and "needs 6 or more" in aggregate.note
    (gate,) = result.gates
    assert gate.status == "FAIL" and gate.cases == 1 and not gate.untested
    assert exit_code(result) == EXIT_FAILED


def test_three_v_three_runs_of_pure_noise_pass(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", _case(100.0, 3, seed=1, spread=0.05))
    new = write_run(tmp_path / "new", _case(100.0, 3, seed=2, spread=0.05))
    result = compare(read_run(base), read_run(new), ["decode_tokens_per_s"], GATE)
    assert result.rows[0].test == "welch-log" and result.rows[0].verdict == "no significant change"
    assert [g.status for g in result.gates] == ["PASS"] and exit_code(result) == EXIT_OK


def test_welch_keeps_its_error_rate_and_has_power_at_three_runs() -> None:
    """Over 400 seeds: pure noise crosses the gate about 5% of the time or less, -50% nearly always."""
    false_alarms = hits = 0
    for seed in range(400):
        noise = compare(_case(100.0, 3, 2 * seed, 0.05), _case(100.0, 3, 2 * seed + 1, 0.05),
                        ["decode_tokens_per_s"], GATE)
        halved = compare(_case(100.0, 3, 2 * seed, 0.10), _case(50.0, 3, 2 * seed + 1, 0.10),
                         ["decode_tokens_per_s"], GATE)
        false_alarms += bool(noise.failures)
        hits += bool(halved.failures)
    # Significant at 5% AND beyond -10%: with 5% jitter that is rarer than the test's 5%.
    assert false_alarms / 400 <= 0.05
    assert hits / 400 >= 0.99


def test_mann_whitney_decides_when_it_can_reach_significance(tmp_path: Path) -> None:
    result = compare(_case(100.0, 5, 1), _case(50.0, 5, 2), ["decode_tokens_per_s"], GATE)
    assert result.rows[0].test == "mann-whitney" and result.rows[0].p_value == pytest.approx(2 / 252)
    # A score that can be 0 has no log: Welch runs on the values.
    zero = compare([record(run=r, rouge_l=v) for r, v in enumerate((0.0, 0.1, 0.05))],
                   [record(run=r, rouge_l=v) for r, v in enumerate((0.5, 0.6, 0.55))], ["rouge_l"])
    assert zero.rows[0].test == "welch" and zero.rows[0].verdict == "better"


def _wattbench(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "wattbench.report.cli", *args]
    return subprocess.run(command, capture_output=True, text=True)


def test_the_command_exits_1_on_the_three_v_three_slowdown_and_0_on_noise(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", _case(100.0, 3, seed=1))
    slower = write_run(tmp_path / "slower", _case(50.0, 3, seed=2))
    same = write_run(tmp_path / "same", _case(100.0, 3, seed=3))
    failed = _wattbench("compare", str(base), str(slower), "--fail", "decode_tokens_per_s:-10%")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"REGRESSION decode_tokens_per_s of m-qa-short-L0: -(49|50)\.\d% \(.*, welch-log "
                     r"p=[0-9.e-]+, 3 v 3 runs\) crossed decode_tokens_per_s:-10%", failed.stdout)
    assert "GATE decode_tokens_per_s:-10%: FAIL" in failed.stdout
    passed = _wattbench("compare", str(base), str(same), "--fail", "decode_tokens_per_s:-10%")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "GATE decode_tokens_per_s:-10%: PASS; tested on 1 of 1 cases" in passed.stdout


def test_an_untestable_gate_exits_3_unless_warned(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", _case(100.0, 1, seed=1))
    new = write_run(tmp_path / "new", _case(50.0, 1, seed=2))  # halved, but one run a side
    strict = _wattbench("compare", str(base), str(new), "--fail", "decode_tokens_per_s:-10%")
    assert strict.returncode == EXIT_UNTESTED == 3
    assert "GATE decode_tokens_per_s:-10%: UNTESTED; tested on 0 of 1 cases" in strict.stdout
    assert "1 v 1 runs" in strict.stdout and "--untested warn lets it pass" in strict.stderr
    warned = _wattbench(
        "compare", str(base), str(new), "--fail", "decode_tokens_per_s:-10%", "--untested", "warn"
    )
    assert warned.returncode == 0 and "UNTESTED" in warned.stdout and "passing anyway" in warned.stderr
    # Without gates nothing is at stake: untested rows are shown, the exit code is 0.
    assert _wattbench("compare", str(base), str(new)).returncode == 0


def test_a_gate_on_a_figure_the_runs_lack_is_untested(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", _case(100.0, 3, seed=1, energy_per_token_j=None))
    new = write_run(tmp_path / "new", _case(100.0, 3, seed=2, energy_per_token_j=None))
    result = compare(read_run(base), read_run(new), gates=parse_gates("energy_per_token_j:+10%"))
    (gate,) = result.gates
    assert gate.status == UNTESTED and gate.untested == ["m-qa-short-L0: no energy_per_token_j on one side"]
    assert exit_code(result) == EXIT_UNTESTED and exit_code(result, "warn") == EXIT_OK
    with pytest.raises(ValueError, match="use one of fail, warn"):
        exit_code(result, "ignore")


def test_twelve_cases_of_one_run_are_tested_over_cases(tmp_path: Path) -> None:
    base = [r for c in range(12) for r in _case(100.0, 1, c, load=f"l{c}")]
    new = [r for c in range(12) for r in _case(95.0, 1, 100 + c, load=f"l{c}")]
    result = compare(base, new, ["decode_tokens_per_s"], GATE)
    assert all(r.verdict == UNTESTED for r in result.rows[:-1])
    assert result.rows[-1].test == "sign-flip" and result.rows[-1].verdict == "worse"
    # -5% is real but inside the -10% gate: tested on every case through the aggregate, and passed.
    assert [g.status for g in result.gates] == ["PASS"] and exit_code(result) == EXIT_OK


def test_after_a_pytest_run_an_untested_gate_fails_the_run_unless_warned(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", _case(100.0, 1, seed=1))
    run = write_run(tmp_path / "run", _case(100.0, 1, seed=2))
    settings = AfterRunOptions(run, compare_base=base, compare_gates=tuple(GATE))
    strict = after_run(settings)
    assert strict.must_fail and not strict.failures and len(strict.untested) == 1
    assert any("UNTESTED: 1 gate(s) could not be tested; the run fails" in line for line in strict.lines)
    warned = after_run(settings, untested="warn")
    assert not warned.must_fail and warned.untested
    slower = write_run(tmp_path / "slower", _case(50.0, 3, seed=2))
    base3 = write_run(tmp_path / "base3", _case(100.0, 3, seed=1))
    crossed = after_run(AfterRunOptions(slower, compare_base=base3, compare_gates=tuple(GATE)), "warn")
    assert crossed.must_fail and len(crossed.failures) == 1  # warn relaxes UNTESTED only
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = after_run(AfterRunOptions(empty, compare_base=base, compare_gates=tuple(GATE)))
    assert nothing.must_fail and nothing.untested == ["GATE decode_tokens_per_s:-10%: UNTESTED; the run "
                                                      "recorded nothing"]

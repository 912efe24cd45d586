"""Quality figures end to end through `pytest bench/`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cannedbackend import canned_backend
from test_plugin import records, run_suite
from test_scorers import RLE

CANNED_BACKEND = canned_backend("canned", f"def reply(prompt):\n    return {RLE!r}")


def test_code_cases_report_pass_at_k_from_executed_tests(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    suite.makeconftest(CANNED_BACKEND)
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-backend", "canned", "--wb-model", str(tiny_gguf), "--wb-tasks", "code",
        "--wb-levels", "L0", "--wb-runs", "2", "--wb-run-dir", str(run_dir), "--wb-unsafe-code",
    )
    result.assert_outcomes(passed=3 + 3)
    by_load = {e["extra_info"]["load"]: e["extra_info"] for e in data["benchmarks"]}
    # The canned answer is a correct rle_encode: the short task's tests pass, the others' fail.
    assert by_load["short"]["code_tests_passed"] == 1.0 and by_load["short"]["code_pass_at_k"] == 1.0
    for load in ("medium", "long"):
        assert by_load[load]["code_tests_passed"] == 0.0 and by_load[load]["code_pass_at_k"] == 0.0
        assert "Error" in by_load[load]["per_run"][0]["code_test_error"]
    assert len(records(run_dir)) == 6


def test_summary_and_creative_cases_carry_their_scores(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    _result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "summary,creative", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-run-dir", str(suite.path / "run"),
    )
    by_task = {e["extra_info"]["task"]: e["extra_info"] for e in data["benchmarks"]}
    assert 0.0 <= by_task["summary"]["rouge_l"] <= 1.0 and "distinct_2" not in by_task["summary"]
    # The tiny model's answer is one 16-letter word: one distinct unigram, no bigram.
    assert by_task["creative"]["distinct_1"] == 1.0 and by_task["creative"]["distinct_2"] == 0.0


def test_a_case_under_its_quality_floor_fails_after_its_record_is_saved(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa,summary", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-quality-floor", "summary:rouge_l>=0.2", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2 + 1, failed=1)
    result.stdout.fnmatch_lines(["*tiny-summary-short-L0: rouge_l 0 breaks the floor summary:rouge_l>=0.2*"])
    assert [r["task"] for r in records(run_dir)] == ["qa", "summary"]
    assert len(data["benchmarks"]) == 2


@pytest.mark.parametrize(
    ("floor", "message"),
    [
        ("rouge_l=0.2", "*'rouge_l=0.2' is not a floor; write *metric>=value, e.g. summary:rouge_l>=0.2*"),
        ("summary:bleu>=0.2", "*'bleu' is not a recorded figure*"),
    ],
)
def test_a_bad_floor_names_itself(suite: pytest.Pytester, floor: str, message: str) -> None:
    result = suite.runpytest("bench", "--wb-quality-floor", floor)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def _humaneval_file(path: Path) -> Path:
    """Two problems in HumanEval's shape: rle_encode (the canned answer solves it) and add."""
    problems = [
        {"task_id": "Test/0", "entry_point": "rle_encode",
         "prompt": 'import itertools\n\n\ndef rle_encode(s):\n    """Encode s: "aab" -> "a2b1"."""\n',
         "test": 'def check(candidate):\n    assert candidate("aab") == "a2b1"\n'},
        {"task_id": "Test/1", "entry_point": "add",
         "prompt": 'def add(a, b):\n    """Return a + b."""\n',
         "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"},
    ]
    path.write_text("".join(json.dumps(p) + "\n" for p in problems))
    return path


def test_humaneval_problems_run_their_own_check(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    suite.makeconftest(CANNED_BACKEND)
    problems = _humaneval_file(suite.path / "problems.jsonl")
    result, data = run_suite(
        suite, "--wb-backend", "canned", "--wb-model", str(tiny_gguf), "--wb-tasks", "",
        "--wb-humaneval", str(problems), "--wb-levels", "L0,L3", "--wb-run-dir", str(suite.path / "run"),
        "--wb-unsafe-code",  # bubblewrap where it works, else the guard: the tests run either way
    )
    result.assert_outcomes(passed=2 + 4)
    passed = {e["extra_info"]["case_id"]: e["extra_info"]["code_tests_passed"] for e in data["benchmarks"]}
    assert passed == {
        "tiny-code-test0-L0": 1.0, "tiny-code-test0-L3": 1.0,
        "tiny-code-test1-L0": 0.0, "tiny-code-test1-L3": 0.0,
    }
    # The L3 prompt holds the code task's worked examples; L0 is the bare stub.
    prompts = [e["extra_info"]["prompt_tokens"] for e in data["benchmarks"][:2]]
    assert prompts[0] < prompts[1]

"""The LLM judge: MT-Bench's parsing rules, the rubric, pairwise in both orders, and the phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cannedbackend import canned_backend
from hypothesis import given
from hypothesis import strategies as st
from test_plugin import run_suite

from wattbench.judge import combine_verdicts, parse_rating, parse_rubric, parse_verdict


@pytest.mark.parametrize(
    ("text", "rating"),
    [("Good answer. Rating: [[7]]", 7.0), ("Rating: [8.5]", 8.5), ("[[11]]", None), ("no grade", None),
     ("first [[3]] then corrected [[4]]", 4.0)],
)
def test_ratings_parse_as_fastchat_parses_them(text: str, rating: float | None) -> None:
    assert parse_rating(text) == rating


@given(st.text(max_size=400))
def test_a_rating_is_in_range_or_a_parse_failure(text: str) -> None:
    rating = parse_rating(text)
    assert rating is None or 1.0 <= rating <= 10.0


@given(st.text(max_size=400), st.lists(st.floats(0, 3, allow_nan=False), min_size=4, max_size=4))
def test_a_rubric_total_is_in_range_or_a_parse_failure(noise: str, parts: list[float]) -> None:
    names = ("Factuality", "Helpfulness", "Structure", "Conciseness")
    text = noise + "\n" + "\n".join(f"{name}: {value:.1f}" for name, value in zip(names, parts))
    rubric = parse_rubric(text)
    assert rubric is None or 0.0 <= rubric.total <= 10.0


def test_rubric_parts_and_reason() -> None:
    rubric = parse_rubric(
        "Factuality: 2.5\nHelpfulness: 2\n**Structure**: 1.5\nConciseness: 1\nReason: terse."
    )
    assert rubric is not None and rubric.total == 7.0 and rubric.reason == "terse."
    assert parse_rubric("Factuality: 3\nHelpfulness: 2\nStructure: 1\nConciseness: 1") is None
    assert parse_rubric("Factuality: 2\nHelpfulness: 2") is None


def test_pairwise_verdicts_in_both_orders() -> None:
    assert parse_verdict("A is better. [[A]]") == "A" and parse_verdict("[[C]]") == "tie"
    assert combine_verdicts("A", "B") == "A"  # A first, then A again when shown second
    assert combine_verdicts("A", "A") == "tie"  # the position won, not the answer
    assert combine_verdicts("tie", "tie") == "tie" and combine_verdicts(None, "A") is None


JUDGE_BACKEND = canned_backend("judge", """
REPLIES = {"single": "Clear and correct. Rating: [[7]]",
           "rubric": "Factuality: 2\\nHelpfulness: 2\\nStructure: 1.5\\nConciseness: 2.5\\nReason: fine.",
           "pair": "Assistant A explains more. [[A]]"}


def reply(prompt):
    kind = ("pair" if "Assistant A's Answer" in prompt
            else "rubric" if "Factuality" in prompt else "single")
    return REPLIES[kind]
""")


def test_the_judge_phase_grades_after_generation_and_records_apart(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    from tinymodel import write_tiny_gguf

    other = write_tiny_gguf(tmp_path / "other.gguf")
    suite.makeconftest(JUDGE_BACKEND)
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", f"{tiny_gguf},{other}", "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-judge", "single,rubric,pairwise", "--wb-judge-backend", "judge",
        "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2 + 2)
    for info in (e["extra_info"] for e in data["benchmarks"]):
        assert info["judge_score"] == 7.0 and info["judge_rubric_total"] == 8.0
        assert info["judge_structure"] == 1.5
        assert "judge_latency_s" not in info  # the judge's cost is kept apart from the model's
    lines = [json.loads(line) for line in (run_dir / "judgements.jsonl").read_text().splitlines()]
    assert [(j["case_id"], j["mode"]) for j in lines] == [
        ("tiny-qa-short-L0", "single"), ("tiny-qa-short-L0", "rubric"),
        ("other-qa-short-L0", "single"), ("other-qa-short-L0", "rubric"),
        ("tiny-qa-short-L0", "pairwise"),
    ]
    # The canned judge always prefers the answer shown first: inconsistent, so a tie.
    assert lines[-1]["judge_verdict"] == "tie" and lines[-1]["judge_opponent"] == "other-qa-short-L0"
    assert all(j["parse_ok"] and j["judge_latency_s"] >= 0 and j["judge_energy_j"] is not None for j in lines)
    judge = data["wattbench"]["judge"]
    assert judge["modes"]["single"] == {"judged": 2, "parse_failures": 0, "parse_failure_rate": 0.0}
    result.stdout.fnmatch_lines(["*judge *(pairwise): 1 judgements, 0 parse failures (0%)*"])


def test_a_judge_that_ignores_the_format_is_counted_as_parse_failures(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    # The tiny model, as judge, answers 'abcdefghijklmnop' to everything: no grade to parse.
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0,L1", "--wb-judge", "single", "--wb-judge-model", str(tiny_gguf),
        "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=1 + 2)
    assert data["wattbench"]["judge"]["modes"]["single"]["parse_failure_rate"] == 1.0
    assert all("judge_score" not in e["extra_info"] for e in data["benchmarks"])
    result.stdout.fnmatch_lines(["*judge tiny (single): 2 judgements, 2 parse failures (100%)*"])

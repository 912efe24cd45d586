"""The LLM judge: MT-Bench's parsing rules, the rubric, pairwise in both orders, and the phase."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cannedbackend import canned_backend
from hypothesis import given
from hypothesis import strategies as st
from test_plugin import run_suite

from wattbench.backends.protocol import TokenLogprob
from wattbench.judge.grading import (
    RATINGS,
    RUBRIC_SCHEMA,
    SINGLE_SCHEMA,
    combine_verdicts,
    parse_json_reply,
    parse_rating,
    parse_rubric,
    parse_verdict,
    weighted_value,
)
from wattbench.judge.phase import NO_PAIRS

QUALITY = Path(__file__).resolve().parents[2] / "shared" / "cases" / "quality.json"


@pytest.mark.parametrize(
    ("text", "rating"),
    [("Good answer. Rating: [[7]]", 7.0), ("[[11]]", None), ("no grade", None),
     ("first [[3]] then corrected [[4]]", 4.0),
     # Only the asked [[n]] counts: FastChat's backup [n] would read a citation as a grade.
     ("Rating: [8.5]", None), ("As shown in [1], it is right.", None)],
)
def test_ratings_parse_only_in_the_asked_format(text: str, rating: float | None) -> None:
    assert parse_rating(text) == rating


def test_a_reply_without_the_asked_format_is_a_parse_failure() -> None:
    if not QUALITY.is_file():
        pytest.skip(f"{QUALITY} is not here")
    case = json.loads(QUALITY.read_text(encoding="utf-8"))["judge_no_rating_format"]
    assert case["judge_reply"] == "The code uses nums[2] correctly. Score: 4 out of 10"
    assert parse_rating(case["judge_reply"]) is None


def test_json_replies_parse_only_as_the_schema_asks() -> None:
    assert parse_json_reply('{"explanation": "ok", "rating": 7}', SINGLE_SCHEMA) == {
        "explanation": "ok", "rating": 7}
    fenced = '```json\n{"explanation": "ok", "rating": 7}\n```'
    assert parse_json_reply(fenced, SINGLE_SCHEMA) is not None
    for bad in ('{"explanation": "ok", "rating": 11}', '{"rating": 7}',
                '{"explanation": "ok", "rating": true}', 'Rating: [[7]]',
                '{"explanation": "ok", "rating": 7} and more', "[7]"):
        assert parse_json_reply(bad, SINGLE_SCHEMA) is None, bad
    parts = '"factuality": 2.5, "helpfulness": 2, "structure": 1.5, "conciseness": 0'
    assert parse_json_reply('{"assessment": "fine", ' + parts + "}", RUBRIC_SCHEMA) is not None
    off_step = parts.replace("1.5", "1.7")
    assert parse_json_reply('{"assessment": "fine", ' + off_step + "}", RUBRIC_SCHEMA) is None


def _tokens(*pieces: tuple[str, dict[str, float]]) -> list[TokenLogprob]:
    return [TokenLogprob(text, math.log(top[text]) if text in top else None,
                         {k: math.log(v) for k, v in top.items()}) for text, top in pieces]


def test_the_weighted_grade_is_the_expectation_over_the_rating_tokens() -> None:
    tokens = _tokens(('{"', {'{"': 1.0}), ("rating", {"rating": 1.0}), ('":', {'":': 1.0}),
                     (" 7", {" 7": 0.5, " 8": 0.2, " 1": 0.1, " the": 0.2}), ("}", {"}": 1.0}))
    expected, mass = weighted_value(tokens, "rating", RATINGS, 7.0) or (0.0, 0.0)
    assert mass == pytest.approx(0.8)
    assert expected == pytest.approx((7 * 0.5 + 8 * 0.2 + 1 * 0.1) / 0.8)


def test_a_sampled_first_digit_counts_as_the_value_it_became() -> None:
    # "10" sampled as "1" then "0": the sampled "1" is 10; an unsampled "2" is 2.
    tokens = _tokens(('{"rating": ', {'{"rating": ': 1.0}), ("1", {"1": 0.6, "2": 0.4}), ("0", {"0": 1.0}),
                     ("}", {"}": 1.0}))
    expected, mass = weighted_value(tokens, "rating", RATINGS, 10.0) or (0.0, 0.0)
    assert (expected, mass) == (pytest.approx(0.6 * 10 + 0.4 * 2), pytest.approx(1.0))
    assert weighted_value(_tokens(("no json", {"no json": 1.0})), "rating", RATINGS, 5.0) is None


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
REPLIES = {"single": '{"explanation": "Clear and correct.", "rating": 7}',
           "rubric": '{"assessment": "fine.", "factuality": 2, "helpfulness": 2, "structure": 1.5, '
                     '"conciseness": 2.5}',
           "pair": '{"explanation": "Assistant A explains more.", "verdict": "A"}'}


def reply(prompt):
    kind = ("pair" if "Assistant A's Answer" in prompt
            else "rubric" if "factuality" in prompt else "single")
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
    assert judge["modes"]["single"] == {"judged": 2, "parse_failures": 0, "parse_failure_rate": 0.0,
                                        "errors": 0, "weighted": 0, "output_formats": ["json schema"]}
    result.stdout.fnmatch_lines(["*judge *(pairwise): 1 judgements, 0 parse failures (0%)*"])


def test_pairwise_pairs_only_different_models_within_every_other_axis(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    from tinymodel import write_tiny_gguf

    other = write_tiny_gguf(tmp_path / "other.gguf")
    suite.makeconftest(JUDGE_BACKEND)
    run_dir = suite.path / "run"
    result, _ = run_suite(
        suite, "--wb-model", f"{tiny_gguf},{other}", "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-system-prompts", "default,engineered", "--wb-system-prompt-file",
        str(Path(__file__).resolve().parent.parent / "fixtures" / "system_prompts.json"),
        "--wb-judge", "pairwise", "--wb-judge-backend", "judge", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=4 + 4)  # a growth check per (model, system prompt), four cases
    lines = [json.loads(line) for line in (run_dir / "judgements.jsonl").read_text().splitlines()]
    assert sorted((j["case_id"], j["judge_opponent"]) for j in lines) == [
        ("tiny-qa+engineered-short-L0", "other-qa+engineered-short-L0"),
        ("tiny-qa-short-L0", "other-qa-short-L0"),
    ]


@pytest.mark.parametrize("room", [[], ["--wb-judge-max-tokens", "128"]])
def test_a_tiny_model_constrained_to_the_schema_always_grades(
    suite: pytest.Pytester, tiny_gguf: Path, room: list[str]
) -> None:
    # Free, the tiny model writes 'abcdefghijklmnop' to everything; llama.cpp's grammar for the
    # schema turns that into a JSON grade every time, even when its explanation would not fit
    # a small --wb-judge-max-tokens (the schema's maxLength is fitted to it).
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0,L1", "--wb-judge", "single,rubric", "--wb-judge-model", str(tiny_gguf),
        "--wb-run-dir", str(run_dir), *room,
    )
    result.assert_outcomes(passed=1 + 2)
    modes = data["wattbench"]["judge"]["modes"]
    for mode in ("single", "rubric"):
        assert modes[mode]["parse_failure_rate"] == 0.0 and modes[mode]["output_formats"] == ["json schema"]
    lines = [json.loads(line) for line in (run_dir / "judgements.jsonl").read_text().splitlines()]
    assert all(j["judge_output_format"] == "json schema" and j["parse_ok"] for j in lines)
    assert all(1 <= e["extra_info"]["judge_score"] <= 10 for e in data["benchmarks"])


def test_a_template_that_refuses_the_system_role_is_folded_for_cases_and_judge(
    suite: pytest.Pytester, tmp_path: Path
) -> None:
    from tinymodel import GEMMA_TEMPLATE, expected_answer, write_tiny_gguf

    if not GEMMA_TEMPLATE.is_file():
        pytest.skip(f"{GEMMA_TEMPLATE} is not here")
    gemma = write_tiny_gguf(tmp_path / "gemma-like.gguf", template=GEMMA_TEMPLATE.read_text(encoding="utf-8"))
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(gemma), "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0",
        "--wb-system-prompts", "default,engineered", "--wb-system-prompt-file",
        str(Path(__file__).resolve().parent.parent / "fixtures" / "system_prompts.json"),
        "--wb-judge", "single,rubric,pairwise",
        "--wb-judge-model", str(gemma), "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2 + 2)
    judge = data["wattbench"]["judge"]
    assert "error" not in judge
    assert {m: f["errors"] for m, f in judge["modes"].items()} == {"single": 0, "rubric": 0, "pairwise": 0}
    # One model: its answers under the two system prompts are not a pair (pairwise compares models).
    assert judge["modes"]["pairwise"]["judged"] == 0 and judge["pairwise_note"] == NO_PAIRS
    result.stdout.fnmatch_lines(["*judge (pairwise): no pairs to judge: pairwise compares two models'*"])
    lines = [json.loads(line) for line in (run_dir / "judgements.jsonl").read_text().splitlines()]
    assert lines and all(j["system_prompt_folded"] and j["parse_ok"] for j in lines)
    by_id = {r["case_id"]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}
    engineered = by_id["gemma-like-qa+engineered-short-L0"]
    assert "error" not in engineered and engineered["completion_tokens"] == len(expected_answer())

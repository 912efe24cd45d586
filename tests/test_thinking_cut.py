"""Answers that never leave their thinking (../shared/cases/thinking.md): a stream of reasoning
only, stopped by the token limit. The record says why the answer is empty; the -v line and the
summary count such answers per configuration; the tokens stay counted."""

from __future__ import annotations

import pytest
from fakeopenai import Reply, Script, fake_openai
from test_plugin import records, run_suite

from wattbench.backends.protocol import Generation
from wattbench.records.record import CUT_IN_THINKING, cut_in_thinking, timing

WORDS = ["Let", " me", " think", " about", " the", " capital", " of", " it"]
REASONING_ONLY = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": WORDS[0]}}]},
    *({"choices": [{"index": 0, "delta": {"reasoning_content": w}}]} for w in WORDS[1:]),
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
    {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}},
]


def generation(text: str, finish: str, thinking: str = "", thinking_tokens: int | None = None) -> Generation:
    return Generation(text=text, prompt_tokens=5, completion_tokens=8, requested_at=0.0, first_token_at=0.1,
                      last_token_at=0.5, done_at=0.6, finish_reason=finish, engine={}, thinking=thinking,
                      thinking_tokens=thinking_tokens)


@pytest.mark.parametrize(
    ("made", "cut"),
    [
        (generation("", "length", thinking="Let me think", thinking_tokens=8), True),  # apart (server)
        (generation("<think>Let me think about", "length"), True),  # inline, never closed
        (generation("<think>hmm</think>", "length"), True),  # closed, but no answer after it
        (generation("<think>hmm</think>Paris", "length"), False),  # an answer, however short
        (generation("", "stop", thinking="Let me think", thinking_tokens=8), False),  # chose to stop
        (generation("", "length"), False),  # no thinking at all: not this reason
    ],
)
def test_an_answer_cut_inside_its_thinking_is_told_from_the_others(made: Generation, cut: bool) -> None:
    assert cut_in_thinking(made) is cut
    assert (timing(made).get("answer_missing_reason") == CUT_IN_THINKING) is cut


def test_a_reasoning_only_stream_cut_by_the_limit_says_why_its_answer_is_empty(
    suite: pytest.Pytester,
) -> None:
    run_dir = suite.path / "run"
    with fake_openai(Script([Reply(events=REASONING_ONLY)])) as url:
        result, _ = run_suite(
            suite, "--wb-backend", "openai", "--wb-base-url", url, "--wb-tasks", "qa", "--wb-loads", "short",
            "--wb-levels", "L0,L1", "--wb-run-dir", str(run_dir), "-v", "-k", "test_case",
        )  # the fake server counts every prompt alike: its token-growth check is not this test's
    result.assert_outcomes(passed=2)
    saved = records(run_dir)
    assert len(saved) == 2
    for record in saved:
        assert record["answer_missing_reason"] == CUT_IN_THINKING
        assert record["output_text"] == "" and record["finish_reason"] == "length"
        assert record["thinking_tokens"] == 8 and record["answer_tokens"] == 0
        assert record["ttft_s"] is not None and record["ttft_s"] > 0  # the tokens were made
        assert record["rouge_l"] == 0.0
    result.stdout.fnmatch_lines([
        "*answer cut inside its thinking in 1 run: raise --wb-max-tokens*",
        "*2 answers cut inside their thinking (fake_model-1 at L0: 1, fake_model-1 at L1: 1)*"
        "raise --wb-max-tokens*",
    ])


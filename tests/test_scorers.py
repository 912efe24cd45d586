"""Quality scorers: ranges (hypothesis), the field's definitions, and the code sandbox."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case
from wattbench.scorers import score
from wattbench.scorers.code import CodeScorer, pass_at_k
from wattbench.scorers.diversity import distinct_n, repetition_rate, words
from wattbench.scorers.mathanswer import final_answer, matches
from wattbench.scorers.rouge import RougeScorer
from wattbench.scorers.sandbox import Limits, make_sandbox, run_python

MODEL = ModelRef("m", "m")
ANY_SANDBOX = make_sandbox(unsafe_code=True)  # bubblewrap where it works, else the guard
RLE_TESTS = 'assert rle_encode("") == ""\nassert rle_encode("aaabcc") == "a3b1c2"\n'
RLE = (
    "Here it is:\n```python\ndef rle_encode(s):\n    out, i = [], 0\n    while i < len(s):\n"
    "        j = i\n        while j < len(s) and s[j] == s[i]:\n            j += 1\n"
    "        out.append(f'{s[i]}{j - i}')\n        i = j\n    return ''.join(out)\n```\n"
)


def case(task: str, reference: str | None = None, **extra: str) -> Case:
    return Case(MODEL, task, "short", "L0", "prompt", Sampling(), reference, extra)


@given(st.text(max_size=300), st.text(min_size=1, max_size=300))
def test_rouge_is_a_fraction(answer: str, reference: str) -> None:
    figures = RougeScorer().score(case("summary", reference), answer)
    assert all(0.0 <= figures[k] <= 1.0 for k in ("rouge_1", "rouge_2", "rouge_l"))


def test_rouge_matches_the_reference_implementation_figures() -> None:
    figures = score(case("summary", "The cat sat on the mat."), "A cat sat on a mat")
    assert figures["rouge_1"] == pytest.approx(2 / 3) and figures["rouge_2"] == pytest.approx(0.4)


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=60), st.integers(1, 3))
def test_distinct_n_and_repetition_are_fractions(tokens: list[str], n: int) -> None:
    assert 0.0 <= distinct_n(tokens, n) <= 1.0
    assert 0.0 <= repetition_rate(tokens) <= 1.0


def test_diversity_of_a_repetitive_answer() -> None:
    figures = score(case("creative"), "the sea the sea the sea")
    assert figures["distinct_1"] == pytest.approx(2 / 6) and figures["output_words_count"] == 6
    assert figures["repetition_rate"] == pytest.approx(2 / 4)
    assert words("Don't stop!") == ["don't", "stop"]


@given(st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_k_is_a_probability_that_grows_with_k(nc: tuple[int, int]) -> None:
    n, c = nc
    values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values)
    assert values[0] == pytest.approx(c / n)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so the total is \\boxed{42}.", "42"),
        ("The answer is: 1,234.5 apples", "1234.5"),
        ("First 3, then 7, finally 12", "12"),
        ("Answer: \\frac{3}{4}", "0.75"),
    ],
)
def test_the_final_answer_is_extracted_and_compared_numerically(text: str, answer: str) -> None:
    got = final_answer(text)
    assert matches(got, answer), (text, got)


def test_math_scores_a_wrong_answer_zero() -> None:
    assert score(case("math", "12"), "I think it is 13.")["math_correct"] == 0.0
    assert score(case("math", "12"), "12 / 1 = \\boxed{12}")["math_correct"] == 1.0


def test_code_that_passes_its_tests_in_the_sandbox() -> None:
    figures = CodeScorer(unsafe_code=True).score(case("code", tests=RLE_TESTS), RLE)
    assert figures["code_tests_passed"] == 1.0 and figures["code_sandbox"] in ("bwrap", "guard")


def test_code_that_fails_says_why() -> None:
    wrong = RLE.replace("j - i", "j - i + 1")
    figures = CodeScorer(unsafe_code=True).score(case("code", tests=RLE_TESTS), wrong)
    assert figures["code_tests_passed"] == 0.0 and "AssertionError" in figures["code_test_error"]
    no_code = CodeScorer(unsafe_code=True).score(case("code", tests=RLE_TESTS), "no code here")
    assert no_code["code_tests_passed"] == 0.0 and no_code["code_test_error"].startswith(
        "the answer holds no fenced code block"
    )


# The hostile list runs in tests/test_sandbox.py: under bubblewrap (the battery) and, as
# GUARD_ATTACKS, under the --wb-unsafe-code guard.


def test_the_sandbox_sees_none_of_the_parents_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-leak")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    result = run_python({"main.py": "import os\nprint(sorted(os.environ))\n"}, sandbox=ANY_SANDBOX)
    assert result.passed, result.reason
    assert "OPENAI_API_KEY" not in result.stdout and "HTTPS_PROXY" not in result.stdout
    assert os.environ["OPENAI_API_KEY"] == "sk-do-not-leak"


def test_a_wall_clock_timeout_kills_a_sleeping_process_group() -> None:
    result = run_python({"main.py": "import time\ntime.sleep(30)\n"}, Limits(wall_s=0.5), ANY_SANDBOX)
    assert not result.passed and result.reason == "timed out after 0.5 s" and result.duration_s < 5


def test_reasoning_takes_the_final_answer_line() -> None:
    assert score(case("reasoning", "Omar"), "Ada is 09:00 in room B.\nAnswer: Omar")["answer_correct"] == 1.0
    assert score(case("reasoning", "Omar"), "Omar or Ada?\nAnswer: Ada")["answer_correct"] == 0.0
    assert score(case("reasoning", "Lena"), "So the shortest is Lena.")["answer_correct"] == 1.0


def test_extraction_scores_fields_of_the_first_json_object() -> None:
    reference = '{"name": "Laura Mendes", "date": "14 March 2025", "room": "4B"}'
    answer = 'Sure:\n```json\n{"name": "laura mendes ", "date": "14/03/2025", "room": "4B"}\n```'
    figures = score(case("extraction", reference), answer)
    assert figures == {"extraction_valid_json": 1.0, "extraction_field_accuracy": pytest.approx(2 / 3)}
    assert score(case("extraction", reference), "name: Laura")["extraction_valid_json"] == 0.0


@given(st.text(max_size=200))
def test_extraction_accuracy_is_a_fraction(answer: str) -> None:
    figures = score(case("extraction", '{"a": "1", "b": "2"}'), answer)
    assert 0.0 <= figures["extraction_field_accuracy"] <= 1.0

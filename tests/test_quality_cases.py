# ruff: noqa: RUF001  (Chinese test text is written with its own full-width punctuation)
"""Issue 12's inputs (../shared/cases/quality.json, seed_test_cases.json, bom_cases.json), each with
its right value, and variants of each kind in other scripts and answer forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case
from wattbench.judge.grading import parse_rating
from wattbench.scorers import score
from wattbench.scorers.chrf import ChrfScorer
from wattbench.scorers.code import CodeScorer
from wattbench.scorers.codeblock import extract_code
from wattbench.scorers.diversity import DiversityScorer
from wattbench.scorers.extraction import ExtractionScorer
from wattbench.scorers.mathanswer import MathScorer
from wattbench.scorers.rouge import RougeScorer

SHARED = REPO.parent / "shared" / "cases"
MODEL = ModelRef("m", "m")


def case(task: str, reference: str | None = None, **extra: str) -> Case:
    return Case(MODEL, task, "short", "L0", "prompt", Sampling(), reference, extra)


# -- quality.json, copied here so the suite runs without ../shared; the test at the end checks
# that every input of the shared file is covered.

PHOTOSYNTHESIS = "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖和氧气的过程。"


def test_rouge_chinese_identical() -> None:
    figures = score(case("qa", PHOTOSYNTHESIS), PHOTOSYNTHESIS)
    assert figures["rouge_l"] == 1.0 and figures["rouge_1"] == 1.0 and figures["rouge_2"] == 1.0
    assert figures["rouge_tokenizer"] == "cjk_thai_char"
    assert figures["chrf"] == pytest.approx(100.0)


def test_rouge_chinese_contradiction_sharing_only_numbers_is_not_a_match() -> None:
    # rouge-score's own tokenizer kept only "100" of each and scored the contradiction 1.0.
    reference = "水在标准大气压下的沸点是100摄氏度。"
    right = "在标准大气压下，水的沸点是100摄氏度。"
    wrong = "错误：冰在高山上的熔点从来不是100。"
    good, bad = (RougeScorer().score(case("qa", reference), text) for text in (right, wrong))
    assert bad["rouge_l"] < 0.5 < good["rouge_l"], (good, bad)
    good_chrf, bad_chrf = (ChrfScorer().score(case("qa", reference), text)["chrf"] for text in (right, wrong))
    assert bad_chrf < 30 < good_chrf


def test_diversity_chinese_repeated() -> None:
    figures = DiversityScorer().score(case("creative"), "今天天气很好今天天气很好今天天气很好今天天气很好")
    assert figures["repetition_rate"] >= 0.5 and figures["distinct_2"] < 0.3
    assert figures["output_words_count"] == 24  # one token per character
    assert figures["words_tokenizer"] == "cjk_thai_char"


@pytest.mark.parametrize(
    ("answer", "reference", "decided_by"),
    [
        ("So the total is \\boxed{\\text{460}}.", "460", "math_verify"),  # quality.json
        ("The answer is 11 5/6.", "71/6", "math_verify"),  # quality.json
        ("The answer is $11\\frac{5}{6}$.", "71/6", "math_verify"),
        ("答案是 11 5/6。", "71/6", "math_verify"),
        ("所以答案是：１２", "12", "math_verify"),
        ("Итак, ответ: −3.", "-3", "math_verify"),
        ("Answer: 1,234.5", "1234.5", "math_verify"),
        ("<think>maybe 7? no</think>The answer is \\boxed{8}.", "8", "math_verify"),
        ("Total = 50%", "0.5", "math_verify"),
    ],
)
def test_math_answer_forms_that_are_right(answer: str, reference: str, decided_by: str) -> None:
    figures = MathScorer().score(case("math", reference), answer)
    assert figures["math_correct"] == 1.0, figures
    assert figures["math_checker"] == decided_by


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("The answer is 115/6.", "71/6"),  # what "11 5/6" used to be read as
        ("So the total is \\boxed{\\text{461}}.", "460"),
        ("<think>it is 8</think>The answer is 7.", "8"),  # only the answer counts
        ("The answer is 3 4/2.", "5"),  # not a mixed number: 3 and 4/2 are left alone
    ],
)
def test_math_answer_forms_that_are_wrong(answer: str, reference: str) -> None:
    assert MathScorer().score(case("math", reference), answer)["math_correct"] == 0.0


def test_math_falls_back_where_math_verify_finds_nothing() -> None:
    assert MathScorer().score(case("math", "Paris"), "It is\nParis.") == {
        "math_answer": "Paris", "math_correct": 1.0, "math_checker": "text"
    }
    assert MathScorer().score(case("math", "42"), "no idea")["math_correct"] == 0.0


CODE_DRAFT = (
    "First attempt:\n```python\ndef add_two(x):\n    return x\n```\nThat is wrong. Fixed:\n"
    "```python\ndef add_two(x):\n    return x + 2\n```"
)
CODE_MAIN_DEMO = (
    "```python\ndef double(x):\n    return 2 * x\n\nif __name__ == '__main__':\n"
    "    print(double(int(input('n? '))))\n```"
)


@pytest.mark.parametrize(
    ("answer", "entry_point", "tests"),
    [
        (CODE_DRAFT, "add_two", "assert add_two(1) == 3"),  # quality.json
        (CODE_MAIN_DEMO, "double", "assert double(2) == 4"),  # quality.json
    ],
)
def test_code_answers_pass(answer: str, entry_point: str, tests: str) -> None:
    # unsafe_code: bubblewrap where it works, else the guard (a machine without a sandbox runs no tests)
    figures = CodeScorer(unsafe_code=True).score(case("code", tests=tests, entry_point=entry_point), answer)
    assert figures["code_tests_passed"] == 1.0, figures


def test_the_answer_block_is_the_last_that_defines_the_entry_point() -> None:
    usage = "\nUsage:\n```python\nprint(add_two(1))\n```\nOutput:\n```\n3\n```"
    assert extract_code(CODE_DRAFT + usage, "add_two") == "def add_two(x):\n    return x + 2\n"
    assert extract_code(CODE_DRAFT + usage) == "def add_two(x):\n    return x + 2\n"
    thinking = "<think>```python\ndef add_two(x):\n    return 0\n```</think>"
    assert extract_code(thinking + "```python\ndef add_two(x):\n    return x + 2\n```", "add_two") == (
        "def add_two(x):\n    return x + 2\n"
    )
    # A later helper block does not displace the one that defines the entry point.
    helper = "```python\ndef add_two(x):\n    return x + 2\n```\n```python\ndef other():\n    pass\n```"
    assert extract_code(helper, "add_two") == "def add_two(x):\n    return x + 2\n"


def test_judge_no_rating_format_is_a_parse_failure() -> None:
    assert parse_rating("The code uses nums[2] correctly. Score: 4 out of 10") is None


def test_extraction_reads_the_object_in_a_json_fence() -> None:
    reference = '{"name": "Ada", "year": 1815}'
    answer = 'An example: {"name": "X"}\nThe answer:\n```json\n{"name": "Ada", "year": 1815}\n```'
    figures = ExtractionScorer().score(case("extraction", reference), answer)
    assert figures == {"extraction_valid_json": 1.0, "extraction_field_accuracy": 1.0}


# -- other scripts: identical answers are a perfect match, repetition is seen --

SCRIPTS = {
    "russian": "Фотосинтез — это процесс, при котором растения используют свет.",
    "thai": "การสังเคราะห์ด้วยแสงเป็นกระบวนการที่พืชใช้แสงแดด",
    "japanese": "光合成は植物が光を使って糖を作る過程です。",
    "korean": "광합성은 식물이 빛을 이용하는 과정입니다.",
    "greek": "Η φωτοσύνθεση είναι μια διαδικασία.",
    "hindi": "प्रकाश संश्लेषण एक प्रक्रिया है।",
    "mixed": "ROUGE 在中文 summarization 里 works by character.",
}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_identical_answer_in_any_script_scores_one(script: str) -> None:
    text = SCRIPTS[script]
    figures = score(case("qa", text), text)
    assert (figures["rouge_l"], figures["chrf"]) == (1.0, pytest.approx(100.0))


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_repetition_is_seen_in_any_script(script: str) -> None:
    once = score(case("creative"), SCRIPTS[script])
    five = score(case("creative"), " ".join([SCRIPTS[script]] * 5))
    assert five["repetition_rate"] >= 0.5 > once["repetition_rate"]
    assert five["output_words_count"] == 5 * once["output_words_count"] > 1


def test_russian_contradiction_is_not_a_match() -> None:
    # rouge-score's own tokenizer read both as empty ("0.0") or as their shared digits.
    figures = RougeScorer().score(case("qa", "Вода кипит при 100 градусах."), "Лёд никогда не тает при 100.")
    assert 0.0 < figures["rouge_l"] < 0.5 and figures["rouge_tokenizer"] == "unicode_word"


def test_english_is_scored_as_before() -> None:
    figures = score(case("summary", "The cat sat on the mat."), "A cat sat on a mat")
    assert figures["rouge_1"] == pytest.approx(2 / 3) and figures["rouge_2"] == pytest.approx(0.4)
    assert figures["rouge_tokenizer"] == "latin"


# -- seed_test_cases.json: the right Chinese answer scores above zero on the seed's own reference

SEED_REFERENCE = "光合作用是绿色植物利用光能，把二氧化碳和水合成有机物并释放氧气的过程。"


def test_a_right_chinese_answer_to_the_seed_scores_above_zero() -> None:
    answer = "光合作用是植物在阳光下把二氧化碳和水变成有机物，同时放出氧气的过程。"
    seed = Case(MODEL, "knowledge_qa", "seed", "1", "请简要说明什么是光合作用。", Sampling(), SEED_REFERENCE)
    assert seed.kind == "qa"
    figures = score(seed, answer)
    assert figures["rouge_l"] > 0.5 and figures["chrf"] > 20, figures
    wrong = score(seed, "秋天是收获的季节，树叶变黄了。")
    assert wrong["rouge_l"] < figures["rouge_l"] and wrong["chrf"] < figures["chrf"]


# -- the shared files, where they are beside the repo: every input is covered above --

COVERED = {
    "rouge_chinese_identical", "diversity_chinese_repeated", "math_boxed_text", "math_mixed_number",
    "code_draft_then_final", "code_main_demo_block", "judge_no_rating_format",
}


def _shared(name: str) -> Any:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not beside the repo (../shared)")
    return json.loads(path.read_text(encoding="utf-8-sig"))


def test_every_shared_quality_input_is_covered() -> None:
    assert set(_shared("quality.json")) <= COVERED


def test_shared_quality_inputs_hold_what_the_tests_above_use() -> None:
    cases = _shared("quality.json")
    assert cases["rouge_chinese_identical"]["answer"] == PHOTOSYNTHESIS
    assert cases["code_draft_then_final"]["answer"] == CODE_DRAFT
    assert cases["code_main_demo_block"]["answer"] == CODE_MAIN_DEMO
    assert _shared("seed_test_cases.json")[0]["reference_text"] == SEED_REFERENCE


def test_bom_case_file_entry_is_read(tmp_path: Path) -> None:
    from wattbench.cases.casefile import parse_case_file

    source = SHARED / "bom_cases.json"
    if not source.is_file():
        pytest.skip(f"{source} is not beside the repo (../shared)")
    assert source.read_bytes().startswith(b"\xef\xbb\xbf")
    entries = parse_case_file(source)
    assert [(e.prompt, e.reference_text, e.kind) for e in entries] == [
        ("Name a primary colour.", "Red is a primary colour.", "qa")
    ]

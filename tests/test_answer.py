"""Short answers (answer_correct): normalised on both sides, matched by script.

The first three rows are the issue's inputs with their right values; each has a variant in
Japanese, Korean and Thai. The properties run over random text in several scripts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case
from wattbench.cases.casefile import parse_case_file
from wattbench.cases.prompttable import load_prompt_table
from wattbench.cases.tasks import parse_task
from wattbench.errors import CaseFileError, ConfigError
from wattbench.scorers import Scorers
from wattbench.scorers.answer import EMPTY, NORMALIZER, TOO_LONG, AnswerScorer, names, normalize
from wattbench.scorers.tokens import CHARACTER, scheme

MODEL = ModelRef("m", "m")


def case(reference: str, *alternatives: str, load: str = "short") -> Case:
    return Case(MODEL, "reasoning", load, "L0", "prompt", Sampling(), reference, alternatives=alternatives)


def correct(reference: str, answer: str, *alternatives: str) -> float | None:
    figure: float | None = AnswerScorer().score(case(reference, *alternatives), answer)["answer_correct"]
    return figure


@pytest.mark.parametrize(
    ("reference", "answer", "right"),
    [
        # The rows: 0 before, 1 now.
        ("北京", "答案是北京", 1.0),
        ("北京。", "北京。", 1.0),
        ("Paris.", "The answer: Paris.", 1.0),
        # Variants: Japanese, Korean (particles attached), Thai (no spaces), each of the three kinds.
        ("東京", "答えは東京です", 1.0),
        ("東京。", "東京。", 1.0),
        ("서울", "정답은 서울입니다", 1.0),
        ("서울.", "정답: 서울.", 1.0),
        ("กรุงเทพ", "คำตอบคือกรุงเทพ", 1.0),
        ("กรุงเทพฯ", "กรุงเทพฯ", 1.0),
        # Full-width and half-width, case, brackets of every script.
        ("ABC123", "答案：「ＡＢＣ１２３」", 1.0),  # noqa: RUF001 (full-width on purpose)
        ("Omar", "Answer: (omar)", 1.0),
        ("Paris", "答案是Paris。", 1.0),
        # Not named: a part of the reference, a longer word, a longer number, another answer.
        ("北京", "答案是北", 0.0),
        ("Paris", "Parisian food", 0.0),
        ("42", "It is 42.5", 0.0),
        ("Lena", "Answer: Ada", 0.0),
    ],
)
def test_the_final_line_names_the_reference(reference: str, answer: str, right: float) -> None:
    assert correct(reference, answer) == right


# Found trying the scorer as a user would: each row a kind of input that scored wrong.
@pytest.mark.parametrize(
    ("reference", "answer", "right"),
    [
        # A multiple-choice letter is not an article.
        ("A", "Answer: A", 1.0), ("(A)", "Answer: (a)", 1.0), ("A", "Answer: B", 0.0),
        # Signs, fractions, ranges and powers are part of a number.
        ("-3", "Answer: 3", 0.0), ("3", "Answer: -3", 0.0), ("3", "Answer: \u22123", 0.0),
        ("-3", "Answer: -3", 1.0), ("5", "Answer: 5/6", 0.0), ("5", "Answer: 1/5", 0.0),
        ("5", "Answer: 5-6", 0.0), ("10", "Answer: 10^6", 0.0),
        # A number is found by value.
        ("4", "Answer: 4.0", 1.0), ("1000", "Answer: 1,000", 1.0), ("1,000", "Answer: 1000", 1.0),
        ("0.5", "Answer: .5", 1.0),
        # A numeral written in characters is not inside a longer one.
        ("二", "答案：二十", 0.0), ("二十", "答案：二十", 1.0), ("일", "정답: 십일", 0.0),
        # Labels in the languages users write, anywhere in the line; the last one wins.
        ("北京", "答案：上海\n北京", 0.0), ("Paris", "Réponse : Londres\nParis", 0.0),
        ("Paris", "The final answer: London.\nParis was considered.", 0.0),
        ("서울", "정답: 서울\n감사합니다", 1.0),
        # Invisible characters do not hide a right answer.
        ("Paris", "Answer: Par\u200bis", 1.0), ("北京", "答案：北\u200b京", 1.0),
        ("Paris", "Answer: Paris\ufe0f", 1.0), ("Paris", "Answer: P\u00adaris", 1.0),
        # Accents, harakat, tatweel, dotted capitals; spaces inside CJK; hyphens between letters.
        ("İstanbul", "Answer: Istanbul", 1.0), ("Αθήνα", "Answer: ΑΘΗΝΑ", 1.0), ("Ёж", "Answer: Еж", 1.0),
        ("القاهرة", "Answer: القاهرةُ", 1.0), ("القاهرة", "Answer: القــاهرة", 1.0),
        ("北京", "答案：北 京", 1.0), ("New York", "Answer: new-york", 1.0),
        # Names that differ only in a symbol are different names.
        ("C", "Answer: C++", 0.0), ("C", "Answer: C#", 0.0), ("C#", "Answer: C", 0.0),
        ("Paris", "Answer: Paris's", 0.0),
    ],
)
def test_the_kinds_of_input_that_scored_wrong(reference: str, answer: str, right: float) -> None:
    assert correct(reference, answer) == right


def test_a_reference_with_no_answer_text_is_said_never_scored_0() -> None:
    figures = AnswerScorer().score(case("。"), "。")
    assert figures["answer_correct"] is None and figures["answer_skipped_reason"] == EMPTY


def test_the_rule_set_is_named_in_the_record() -> None:
    assert AnswerScorer().score(case("北京"), "北京")["answer_normalizer"] == NORMALIZER == "squad_nfkc_v2"


def test_normalisation_follows_squad_and_keeps_numbers_whole() -> None:
    assert normalize("  The   Answer: a Cat! ") == "answer cat"  # SQuAD: articles, case, punctuation
    assert normalize("３.１４。") == "3.14"  # noqa: RUF001 (NFKC; inner point kept, edge punctuation gone)
    assert normalize("U.S.") == "u.s"
    assert normalize("『北京』") == "北京"


def test_any_of_a_reference_list_is_accepted() -> None:
    assert correct("北京", "The answer is Beijing.", "Beijing") == 1.0
    assert correct("北京", "答案是北京", "Beijing") == 1.0
    assert correct("北京", "答案是上海", "Beijing") == 0.0


def test_a_sentence_reference_is_scored_by_chrf_and_rouge_and_named_in_the_summary() -> None:
    sentence = "The train leaves at nine, so Ada arrives before Omar and wins the race."
    scorer = AnswerScorer()
    scorers = Scorers([scorer])
    figures = scorers.score(case(sentence), sentence)
    assert figures["answer_correct"] is None
    assert figures["answer_skipped_reason"] == TOO_LONG
    assert figures["chrf"] == pytest.approx(100.0) and figures["rouge_l"] == pytest.approx(1.0)
    scorers.score(case(sentence, load="medium"), "no")
    scorers.score(case("北京"), "北京")  # a short one is not named
    assert scorers.summary_lines() == [
        f"quality: 2 cases: {TOO_LONG} (m-reasoning-short-L0, m-reasoning-medium-L0)"
    ]


def test_a_long_chinese_reference_is_a_sentence_too() -> None:
    sentence = "因为火车九点出发，所以阿达比奥马尔先到，赢得了比赛。"
    assert correct(sentence, sentence) is None
    assert correct("中华人民共和国", "答案是中华人民共和国") == 1.0


# Properties over random text. A reference of letters of one script, and surrounding text that
# cannot hide it: spaced scripts are separated by a space, unspaced ones by any characters.
HAN = st.text(st.sampled_from(list("北京上海光合作用东西南")), min_size=2, max_size=6)
THAI = st.text(st.sampled_from(list("กขคงจฉชซ")), min_size=2, max_size=6)
HANGUL = st.text(st.sampled_from(list("서울정답은입니다한국")), min_size=2, max_size=6)
LATIN = st.text(st.sampled_from(list("abcdefxyz")), min_size=2, max_size=8)
CYRILLIC = st.text(st.sampled_from(list("абвгдежз")), min_size=2, max_size=8)
UNSPACED = st.one_of(HAN, THAI, HANGUL)
SPACED = st.one_of(LATIN, CYRILLIC).filter(lambda w: w not in ("a", "an", "the"))
AROUND = st.text(st.sampled_from(list("北上东서답กขabxyзж ,.。！？「」")), max_size=12)


@settings(max_examples=200, deadline=None)
@given(UNSPACED, AROUND, AROUND)
def test_an_unspaced_reference_inside_any_text_is_found(reference: str, before: str, after: str) -> None:
    assert scheme(reference) == CHARACTER
    assert names(f"{before}{reference}{after}", reference)


@settings(max_examples=200, deadline=None)
@given(UNSPACED, AROUND, AROUND)
def test_a_part_of_an_unspaced_reference_is_not_found(reference: str, before: str, after: str) -> None:
    part = reference[:-1]
    line = f"{before}{part}{after}"
    assume(normalize(reference) not in normalize(line))
    assert not names(line, reference)


@settings(max_examples=200, deadline=None)
@given(SPACED, AROUND, AROUND)
def test_a_spaced_reference_as_a_word_is_found(reference: str, before: str, after: str) -> None:
    assert names(f"{before} {reference}. {after}", reference)
    assert names(f"{before} {reference.upper()}! {after}", reference)


@settings(max_examples=200, deadline=None)
@given(SPACED, AROUND, AROUND)
def test_a_part_of_a_spaced_reference_is_not_found(reference: str, before: str, after: str) -> None:
    line = f"{before} {reference[:-1]} {after}"
    assume(normalize(reference) not in normalize(line))
    assert not names(line, reference)


def test_reference_lists_load_from_every_file_format(tmp_path: Path) -> None:
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps([{"model": "all", "prompt": "首都？", "task_type": "reasoning",
                                       "reference_text": ["北京", "Beijing"]}]), encoding="utf-8")
    (entry,) = parse_case_file(cases_file)
    assert (entry.reference_text, entry.alternatives) == ("北京", ("Beijing",))

    table = tmp_path / "table.csv"
    table.write_text('L0,L1,L2,L3,P,reference\na,b,c,d,e,"[""北京"", ""Beijing""]"\n'
                     'a,b,c,d,e,[not json]\n', encoding="utf-8")
    first, second = load_prompt_table(table)
    assert (first.reference, first.alternatives) == ("北京", ("Beijing",))
    assert (second.reference, second.alternatives) == ("[not json]", ())

    task = {"task": "capital", "title": "Capital", "kind": "reasoning",
            "levels": {"L1": "c", "L2": "g", "L3": [{"input": "i", "output": "o"}]},
            "items": {"short": {"instruction": "首都？", "reference": ["北京", "Beijing"]}}}
    item = parse_task(task, tmp_path / "capital.json").items["short"]
    assert (item.reference, item.alternatives) == ("北京", ("Beijing",))


def test_a_reference_that_is_neither_text_nor_a_list_of_text_is_named(tmp_path: Path) -> None:
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps([{"model": "all", "prompt": "p", "task_type": "reasoning",
                                       "reference_text": ["北京", 3]}]), encoding="utf-8")
    with pytest.raises(CaseFileError, match=r"reference_text.*list of acceptable answers"):
        parse_case_file(cases_file)
    task = {"task": "capital", "title": "Capital",
            "levels": {"L1": "c", "L2": "g", "L3": [{"input": "i", "output": "o"}]},
            "items": {"short": {"instruction": "i", "reference": []}}}
    with pytest.raises(ConfigError, match=r"items\.short: field 'reference' must be a string or a list"):
        parse_task(task, tmp_path / "capital.json")

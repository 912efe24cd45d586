"""Properties of the text metrics on random Unicode text (hypothesis): an identical answer is a
perfect match in any script, ASCII text is tokenized as before, no CJK character is lost."""

from __future__ import annotations

import re

import regex
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rouge_score import tokenizers

from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case
from wattbench.knobs.reasoning import split_thinking
from wattbench.scorers.chrf import ChrfScorer
from wattbench.scorers.rouge import RougeScorer
from wattbench.scorers.tokens import CHARACTER, LATIN, rouge_tokens, scheme, words

MODEL = ModelRef("m", "m")
# Random text from every plane hypothesis draws from, plus runs from the scripts that matter.
SCRIPT_TEXT = st.text(
    st.sampled_from(list("光合作用はひらがなカタカナ한국어สวัสดีครับФотосинтезΕλληνικάनमस्ते abc123.,!?'")),
    min_size=1,
    max_size=60,
)
ANY_TEXT = st.one_of(st.text(min_size=1, max_size=80), SCRIPT_TEXT)


def case(task: str, reference: str) -> Case:
    return Case(MODEL, task, "short", "L0", "prompt", Sampling(), reference)


@settings(max_examples=300)
@given(ANY_TEXT)
def test_identical_answer_scores_one_in_any_script(text: str) -> None:
    rouge, chrf = RougeScorer(), ChrfScorer()
    if rouge.applies(case("qa", text)):
        assert rouge.score(case("qa", text), text)["rouge_l"] == 1.0
    if chrf.applies(case("qa", text)):
        assert chrf.score(case("qa", text), text)["chrf"] == 100.0


@settings(max_examples=300)
@given(ANY_TEXT)
def test_rouge_applies_to_every_reference_with_a_letter_or_digit(text: str) -> None:
    assume(regex.search(r"[\p{L}\p{Nd}]", text))
    assert RougeScorer().applies(case("qa", text))
    assert ChrfScorer().applies(case("qa", text))


@given(st.text(st.characters(max_codepoint=127), max_size=120))
def test_ascii_text_is_tokenized_as_before(text: str) -> None:
    assert scheme(text) == LATIN
    assert rouge_tokens(text, LATIN) == tokenizers.DefaultTokenizer(use_stemmer=True).tokenize(text)
    assert words(text) == re.findall(r"\w+(?:'\w+)?", text.lower())


@given(ANY_TEXT, st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), ANY_TEXT)
def test_every_cjk_character_is_a_token_of_its_own(before: str, ideograph: str, after: str) -> None:
    text = before + ideograph + after
    han = regex.findall(r"\p{Han}", text)
    assert scheme(text) == CHARACTER
    # A Han character keeps the combining marks that follow it (one grapheme), nothing else.
    assert [t[0] for t in words(text) if regex.match(r"\p{Han}", t)] == han
    assert all(regex.fullmatch(r"\p{Han}\p{M}*", t) for t in words(text) if regex.match(r"\p{Han}", t))


@given(ANY_TEXT, ANY_TEXT)
def test_rouge_and_chrf_stay_in_their_ranges(answer: str, reference: str) -> None:
    figures = RougeScorer().score(case("qa", reference), answer)
    assert all(0.0 <= figures[k] <= 1.0 for k in ("rouge_1", "rouge_2", "rouge_l"))
    assert 0.0 <= ChrfScorer().score(case("qa", reference), answer)["chrf"] <= 100.0


TAGLESS = st.text(max_size=40).filter(lambda t: "<think>" not in t.lower() and "</think>" not in t.lower())


@given(TAGLESS, TAGLESS)
def test_thinking_splits_from_the_answer(thinking: str, answer: str) -> None:
    assert split_thinking(f"<think>{thinking}</think>{answer}") == (thinking.strip(), answer.strip())
    assert split_thinking(f"{thinking}</think>{answer}") == (thinking.strip(), answer.strip())
    assert split_thinking(f"<think>{thinking}") == (thinking.strip(), "")
    assert split_thinking(answer) == ("", answer.strip())

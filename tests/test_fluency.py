
"""Creative quality that gibberish cannot win (issue 32): distinct-2 gated by fluency under the
embedded SmolLM2. Random characters in any script, random words, and a repeated phrase score
below a fluent paragraph of the same script; a judge's grade takes over in the report."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case
from wattbench.errors import ConfigError
from wattbench.report.quality import quality
from wattbench.scorers import tokens
from wattbench.scorers.fluency import OFF, FluencyScorer, open_fluency

FLUENT = {
    "zh": "秋天的傍晚，我沿着河边慢慢地走。夕阳把水面染成了金色，几只白鹭从芦苇丛中飞起，向远处的山影飞去。"
          "风里带着稻谷的香味，让我想起了小时候在外婆家度过的那些日子。",
    "th": "ในตอนเย็นของฤดูใบไม้ร่วง ฉันเดินเล่นริมแม่น้ำอย่างช้าๆ พระอาทิตย์ตกทำให้ผิวน้ำเป็นสีทอง "
          "นกกระยางสีขาวสองสามตัวบินขึ้นจากกอต้นกก",
    "en": "On an autumn evening I walked slowly along the river. The setting sun turned the water gold, "
          "and a few white herons rose from the reeds and flew toward the shadow of the distant hills.",
    # Scripts the small reference model barely knows: word order alone is noise there.
    "ru": "Осенним вечером я медленно шёл вдоль реки. Заходящее солнце окрасило воду в золотой цвет, "
          "и несколько белых цапель поднялись из камышей и полетели к тени далёких холмов.",
    "hi": "शरद ऋतु की एक शाम मैं धीरे-धीरे नदी के किनारे चल रहा था। डूबते सूरज ने पानी को सुनहरा कर दिया, "
          "और कुछ सफ़ेद बगुले सरकंडों से उठकर दूर की पहाड़ियों की छाया की ओर उड़ गए।",
    "ko": "가을 저녁, 나는 강가를 천천히 걸었다. 지는 해가 물결을 금빛으로 물들였고, 하얀 백로 몇 마리가 "
          "갈대숲에서 날아올라 먼 산 그림자를 향해 날아갔다.",
}
# Each script's letters, to draw random "answers" from.
ALPHABET = {
    "zh": [chr(c) for c in range(0x4E00, 0x9FA6)],
    "th": [chr(c) for c in range(0x0E01, 0x0E2F)] + [chr(c) for c in range(0x0E40, 0x0E46)],
    "en": list("abcdefghijklmnopqrstuvwxyz"),
    "ru": [chr(c) for c in range(0x0430, 0x0450)],
    "hi": [chr(c) for c in range(0x0905, 0x0940)],
    "ko": [chr(c) for c in range(0xAC00, 0xD7A4)],
}
SPACED = frozenset({"en", "ru", "hi", "ko"})  # scripts that put spaces between words


def creative() -> Case:
    return Case(ModelRef("m", "m"), "creative", "short", "L0", "Write.", Sampling(), None, {})


@pytest.fixture(scope="module")
def scorer() -> FluencyScorer:
    made = open_fluency("default")
    if made.ready() is not None:
        pytest.skip(f"no reference model here: {made.ready()}")
    return made


def random_text(script: str, rng: random.Random, length: int) -> str:
    letters = ALPHABET[script]
    if script in SPACED:  # random words of random letters, with spaces and a full stop
        words = ("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(length // 6))
        return " ".join(words) + "."
    return "".join(rng.choice(letters) for _ in range(length))


@pytest.mark.parametrize("script", sorted(FLUENT))
def test_random_characters_score_below_a_fluent_paragraph(scorer: FluencyScorer, script: str) -> None:
    fluent = scorer.score(creative(), FLUENT[script])
    gibberish = scorer.score(creative(), random_text(script, random.Random(7), len(FLUENT[script])))
    # distinct-2 alone ranked the gibberish first (1.000 against 0.991 in Chinese).
    assert gibberish["creative_quality"] < fluent["creative_quality"] / 2, (script, fluent, gibberish)
    assert gibberish["fluency"] < 0.1 and gibberish["fluency"] < fluent["fluency"] / 2
    assert fluent["fluency_model"].endswith(".gguf") and fluent["perplexity_per_byte"] > 1


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.sampled_from(sorted(FLUENT)), seed=st.integers(0, 2**32 - 1), length=st.integers(40, 150))
def test_no_random_draw_of_a_script_out_scores_its_fluent_paragraph(
    scorer: FluencyScorer, script: str, seed: int, length: int
) -> None:
    fluent = scorer.score(creative(), FLUENT[script])["creative_quality"]
    drawn = scorer.score(creative(), random_text(script, random.Random(seed), length))["creative_quality"]
    assert drawn < fluent


def test_random_words_and_a_repeated_phrase_score_below_fluent_text(scorer: FluencyScorer) -> None:
    rng = random.Random(3)
    salad = " ".join(rng.choice(FLUENT["en"].rstrip(".").split()) for _ in range(35)) + "."
    fluent = scorer.score(creative(), FLUENT["en"])["creative_quality"]
    for text in (salad, "The sun is bright. " * 12, "今天天气很好" * 12, "ฝนตกหนัก " * 15):
        assert scorer.score(creative(), text)["creative_quality"] < fluent / 2, text


def test_an_empty_or_one_word_answer_has_no_word_order(scorer: FluencyScorer) -> None:
    for text in ("", "Hello", "<think>all thinking</think>"):
        figures = scorer.score(creative(), text)
        assert figures["fluency"] == 0.0 and figures["creative_quality"] == 0.0


def test_a_few_words_are_not_a_piece_of_writing(scorer: FluencyScorer) -> None:
    fluent = scorer.score(creative(), FLUENT["en"])["creative_quality"]
    for text in ("Thank you very much", "How are you today?", "Once upon a time"):
        assert scorer.score(creative(), text)["creative_quality"] < fluent / 3, text


def test_a_gibberish_tail_lowers_a_fluent_start(scorer: FluencyScorer) -> None:
    """Only the first tokens were scored before: a fluent start hid any tail."""
    fluent = " ".join([FLUENT["en"]] * 2).replace(". On", ". Then, on")
    tail = random_text("en", random.Random(5), 600)
    whole, with_tail = (scorer.score(creative(), text)["fluency"] for text in (fluent, fluent + " " + tail))
    assert with_tail < 0.75 * whole

def test_without_a_reference_model_the_figures_are_null_with_the_reason(tmp_path: Path) -> None:
    off = open_fluency("off")
    assert off.ready() == OFF
    nulls = {"fluency": None, "creative_quality": None, "fluency_reason": OFF}
    assert off.score(creative(), FLUENT["en"]) == nulls
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    figures = open_fluency(str(broken)).score(creative(), FLUENT["en"])
    assert figures["creative_quality"] is None and "did not load" in figures["fluency_reason"]
    with pytest.raises(ConfigError, match=r"--wb-fluency-model .*missing\.gguf: no such file"):
        open_fluency(str(tmp_path / "missing.gguf"))


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80), st.integers(0, 100))
def test_a_shuffle_keeps_every_character(text: str, seed: int) -> None:
    mixed = tokens.shuffled(text, seed)
    assert Counter(mixed) == Counter(text)


def test_a_judge_grade_takes_over_from_creative_quality() -> None:
    record = {"task": "creative", "task_kind": "creative", "quality_metric": "creative_quality",
              "creative_quality": 0.3}
    assert quality(record) == 0.3
    assert quality({**record, "judge_score": 10.0}) == 1.0
    assert quality({**record, "judge_score": 5.5}) == pytest.approx(0.5)
    # Older records name distinct_2 and keep it.
    assert quality({"task": "creative", "quality_metric": "distinct_2", "distinct_2": 0.9}) == 0.9

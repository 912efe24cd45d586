"""BARTScore only from local weights: off with a reason by default, a clear error for a folder
without weights, and (marked ``torch``) the real computation on a tiny random BART built here."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest

from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case
from wattbench.errors import ConfigError
from wattbench.scorers import ScorerOptions, Scorers
from wattbench.scorers.bartscore import NOT_GIVEN, BartScoreScorer, open_bartscore

REFERENCE = "Photosynthesis turns light into sugar."


def case(reference: str | None, task: str = "qa") -> Case:
    return Case(ModelRef("m", "m"), task, "short", "L0", "prompt", Sampling(), reference)


def test_without_local_weights_bartscore_is_off_and_says_why() -> None:
    scorers = Scorers.open(ScorerOptions())
    assert "bartscore" not in [s.name for s in scorers.scorers]
    assert f"quality: {NOT_GIVEN}" in scorers.summary_lines()
    assert "never downloads" in NOT_GIVEN


def test_a_folder_without_weights_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a local model folder \(no config\.json\)"):
        open_bartscore(tmp_path)


def test_missing_transformers_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wattbench.errors import MissingExtraError

    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(MissingExtraError, match=r"wattbench\[bartscore\]"):
        open_bartscore(tmp_path)


def test_it_applies_where_a_reference_text_is(monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = BartScoreScorer(types.SimpleNamespace(eval=lambda: None), None)
    assert scorer.applies(case(REFERENCE)) and scorer.applies(case(REFERENCE, "summary"))
    assert not scorer.applies(case(None)) and not scorer.applies(case("  "))
    assert not scorer.applies(case("42", "math"))


# -- the real path: transformers' loading and a forward pass on a tiny random BART --


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="torch is not installed (pip install 'wattbench[bartscore]')")
    pytest.importorskip("transformers", reason="transformers is not installed")
    from tinyhf import write_tiny_bart

    return write_tiny_bart(tmp_path_factory.mktemp("bart"))


@pytest.mark.torch
def test_bartscore_is_the_mean_log_likelihood_of_the_reference_given_the_answer(tiny_bart: Path) -> None:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    scorer = open_bartscore(tiny_bart)
    assert isinstance(scorer, BartScoreScorer)
    answer = "A cat sat on a mat."
    figure = scorer.score(case(REFERENCE), answer)["bartscore"]

    # transformers' own loss (mean token cross-entropy of the labels) is the same figure, negated.
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bart))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(tiny_bart)).eval()
    with torch.no_grad():
        def loss(source: str, target: str) -> float:
            return float(model(**tokenizer(source, return_tensors="pt"),
                               labels=tokenizer(target, return_tensors="pt")["input_ids"]).loss)
        forward, backward = -loss(answer, REFERENCE), -loss(REFERENCE, answer)
    print(f"\ntiny BART: bartscore(answer -> reference) = {figure:.6f}; transformers' -loss = {forward:.6f}; "
          f"the other direction = {backward:.6f}; uniform over {len(tokenizer)} tokens = "
          f"{-math.log(len(tokenizer)):.6f}")
    assert figure == pytest.approx(forward, abs=1e-5)
    assert abs(figure - backward) > 1e-4  # the direction matters, and it is answer -> reference
    assert figure < 0


@pytest.mark.torch
def test_bartscore_is_deterministic_and_sees_only_the_answer(tiny_bart: Path) -> None:
    scorer = open_bartscore(tiny_bart)
    assert isinstance(scorer, BartScoreScorer)
    plain = scorer.score(case(REFERENCE), "The cat sat on the mat.")["bartscore"]
    thinking_text = "<think>hmm, sugar?</think>The cat sat on the mat."
    thinking = scorer.score(case(REFERENCE), thinking_text)["bartscore"]
    assert plain == thinking == scorer.score(case(REFERENCE), "The cat sat on the mat.")["bartscore"]
    zh = "光合作用是植物利用阳光的过程。"
    chinese = scorer.score(case(zh), zh)["bartscore"]
    print(f"\ntiny BART: bartscore English = {plain:.6f}, Chinese identical = {chinese:.6f}")
    assert math.isfinite(chinese) and chinese < 0

"""BERTScore F1 against the reference, only from weights already on disk (never a download).

``--wb-bertscore-model PATH`` names a local Hugging Face model folder (for example a copy of
roberta-large) and ``--wb-bertscore-layers`` the layer to use. Without it the scorer is off and
the run says so; wattbench sets the Hugging Face libraries offline while it loads.
Needs ``pip install 'wattbench[bertscore]'`` (bert-score, which brings torch and transformers).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.cases import Case
from wattbench.errors import MissingExtraError
from wattbench.option import positive_int, setting
from wattbench.scorers.rouge import RougeScorer
from wattbench.scorers.weights import local_weights

_ROUGE = RougeScorer()  # whose cases BERTScore shares
NOT_GIVEN = (
    "BERTScore not computed: no local weights given (--wb-bertscore-model PATH; wattbench never "
    "downloads weights)"
)


class BertScoreScorer:
    """bertscore_f1 in [0, 1] (cosine similarities can dip below 0; reported as computed)."""

    name = "bertscore"
    kinds = _ROUGE.kinds

    def __init__(self, scorer: Any) -> None:
        self._scorer = scorer

    def applies(self, case: Case) -> bool:
        """The cases ROUGE applies to: those with a reference text."""
        return _ROUGE.applies(case)

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """F1 of the answer's token embeddings against the reference's."""
        _precision, _recall, f1 = self._scorer.score([text], [case.reference or ""])
        return {"bertscore_f1": float(f1[0])}


@dataclass(frozen=True)
class BertScoreOptions:
    """BERTScore's settings: the local weights (None: not computed) and the layer it reads."""

    model: Path | None = setting("bertscore-model", str, "a local model folder for BERTScore (never "
                                 "downloaded); without it BERTScore is not computed", path=True)
    layers: int = setting("bertscore-layers", positive_int, "the layer BERTScore uses (default: 17, "
                          "roberta-large's)", "17")


def from_options(options: BertScoreOptions) -> BertScoreScorer | str:
    """The scorer (scorers/__init__.py's registry makes it so), or NOT_GIVEN without weights."""
    if options.model is None:
        return NOT_GIVEN
    return open_bertscore(options.model, options.layers)


def open_bertscore(model: Path, layers: int) -> BertScoreScorer:
    """The scorer over local weights; a clear error when they or the package are missing."""
    local_weights(model, "--wb-bertscore-model")
    try:
        bert_score = importlib.import_module("bert_score")
    except ImportError:
        raise MissingExtraError("bert_score", "bertscore") from None
    return BertScoreScorer(bert_score.BERTScorer(model_type=str(model), num_layers=layers, lang="en"))

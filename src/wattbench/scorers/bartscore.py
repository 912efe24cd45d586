"""BARTScore against the reference, only from weights already on disk (never a download).

BARTScore (Yuan, Neubig and Liu, NeurIPS 2021) scores a text by the log-likelihood a BART model
gives it: ``score(x -> y) = (1/|y|) * sum_t log p(y_t | y_<t, x)``. wattbench computes it in the
recall direction of the paper, answer -> reference: the mean log-likelihood per reference token
of the reference given the answer (natural log, <= 0; higher is better), exactly as the paper's
own ``BARTScorer.score(srcs, tgts)`` does with srcs = answers and tgts = references (the
tokenizer's special tokens included in |y|, truncation at 1024 tokens).

``--wb-bartscore-model PATH`` names a local Hugging Face BART folder (the paper uses
facebook/bart-large-cnn); without it the scorer is off and the run says so. The Hugging Face
libraries are set offline while it loads. Needs ``pip install 'wattbench[bartscore]'`` (torch and
transformers).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.cases import Case
from wattbench.errors import MissingExtraError
from wattbench.knobs.reasoning import answer_only
from wattbench.option import setting
from wattbench.scorers.rouge import KINDS
from wattbench.scorers.weights import local_weights

MAX_TOKENS = 1024  # BART's positions, and the paper's truncation
NOT_GIVEN = (
    "BARTScore not computed: no local weights given (--wb-bartscore-model PATH; wattbench never "
    "downloads weights)"
)


class BartScoreScorer:
    """bartscore: mean log-likelihood per reference token of the reference given the answer."""

    name = "bartscore"
    kinds = KINDS

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self._model = model.eval()
        self._tokenizer = tokenizer

    def applies(self, case: Case) -> bool:
        """Cases of a reference-scored kind with a reference that is not blank."""
        return case.kind in self.kinds and bool((case.reference or "").strip())

    def log_likelihood(self, source: str, target: str) -> float:
        """(1/|y|) sum_t log p(y_t | y_<t, x) for x = ``source``, y = ``target`` (nats per token)."""
        import torch

        encode = dict(max_length=MAX_TOKENS, truncation=True, return_tensors="pt")
        src = self._tokenizer(source, **encode)
        tgt = self._tokenizer(target, **encode)["input_ids"]
        with torch.no_grad():
            logits = self._model(
                input_ids=src["input_ids"], attention_mask=src["attention_mask"], labels=tgt
            ).logits
            token_logp = torch.log_softmax(logits, dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        return float(token_logp.mean())

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """BARTScore of the answer (thinking removed) -> the reference."""
        return {"bartscore": self.log_likelihood(answer_only(text), case.reference or "")}


@dataclass(frozen=True)
class BartScoreOptions:
    """BARTScore's setting: the local BART weights (None: not computed)."""

    model: Path | None = setting("bartscore-model", str, "a local BART model folder for BARTScore (never "
                                 "downloaded); without it BARTScore is not computed", path=True)


def from_options(options: BartScoreOptions) -> BartScoreScorer | str:
    """The scorer (scorers/__init__.py's registry makes it so), or NOT_GIVEN without weights."""
    return open_bartscore(options.model)


def open_bartscore(model: Path | None) -> BartScoreScorer | str:
    """The scorer over local weights, or NOT_GIVEN without a folder; a clear error when the
    folder holds no model or torch/transformers are missing."""
    if model is None:
        return NOT_GIVEN
    local_weights(model, "--wb-bartscore-model", " (a BART model, e.g. a copy of facebook/bart-large-cnn)")
    try:
        transformers = importlib.import_module("transformers")
        importlib.import_module("torch")
    except ImportError as exc:
        raise MissingExtraError(exc.name or "transformers", "bartscore") from None
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model), local_files_only=True)
    weights = transformers.AutoModelForSeq2SeqLM.from_pretrained(str(model), local_files_only=True)
    return BartScoreScorer(weights, tokenizer)

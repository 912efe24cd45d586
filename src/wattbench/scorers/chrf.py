"""chrF against the reference: the character n-gram F-score of Popović (2015), as sacrebleu
computes it (character 6-grams, beta = 2, white space removed, no word n-grams: sacrebleu's
``CHRF()`` defaults, signature ``nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no``).

chrF needs no tokenizer, so it means the same in every script; it sits beside ROUGE for every
case scored against a reference text. It is on sacrebleu's and WMT's 0-100 scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sacrebleu.metrics.chrf import CHRF

from wattbench.cases import Case
from wattbench.knobs.reasoning import answer_only
from wattbench.scorers.rouge import KINDS


@lru_cache(maxsize=1)
def _metric() -> CHRF:
    return CHRF()


def chrf(reference: str, answer: str) -> float:
    """chrF of ``answer`` against ``reference``, 0-100 (100: the same characters)."""
    return float(_metric().sentence_score(answer, [reference]).score)


class ChrfScorer:
    """chrf: 0-100, sacrebleu's default chrF (character 6-grams, beta 2)."""

    name = "chrf"
    kinds = KINDS

    def applies(self, case: Case) -> bool:
        """Cases of a reference-scored kind with a reference that is not blank."""
        return case.kind in self.kinds and bool((case.reference or "").strip())

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """chrF of the answer (thinking removed) against the reference."""
        return {"chrf": chrf(case.reference or "", answer_only(text))}

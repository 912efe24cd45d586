"""ROUGE-1/2/L F1 against the reference answer, with Porter stemming (the `rouge-score` package,
Google's reference implementation, as the summarisation literature reports it)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from rouge_score import rouge_scorer

from wattbench.cases import Case

# Scored by their own measure instead: tests, the final answer, the JSON fields.
SKIP_TASKS = frozenset({"code", "math", "stem", "reasoning", "extraction"})


@lru_cache(maxsize=1)
def _scorer() -> Any:
    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


class RougeScorer:
    """rouge_1, rouge_2, rouge_l: F1 in [0, 1]."""

    name = "rouge"

    def applies(self, case: Case) -> bool:
        """Cases with a reference answer, except those scored by their own measure."""
        return bool(case.reference) and case.task not in SKIP_TASKS

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """F1 of the answer against the reference."""
        scores = _scorer().score(case.reference or "", text)
        return {
            "rouge_1": scores["rouge1"].fmeasure,
            "rouge_2": scores["rouge2"].fmeasure,
            "rouge_l": scores["rougeL"].fmeasure,
        }

"""Quality scorers: each case records every scorer that applies to it.

    rouge      ROUGE-1/2/L F1 against the reference (qa, summary, extraction, ...)
    code       the code block compiles and passes the task's tests in a sandbox
    math       the final answer matches the reference numerically
    diversity  distinct-n, length and repetition (creative, role-play)
    answer     the final answer line names the reference (reasoning)
    extraction the answer's JSON object, field by field (extraction)

To add one: a class with ``name``, ``applies(case)`` and ``score(case, text)`` (see
``protocol.Scorer``) in its own module, listed in SCORERS below; every key it returns must be
defined in wattbench.metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wattbench.cases import Case
from wattbench.scorers.answer import AnswerScorer
from wattbench.scorers.code import CodeScorer
from wattbench.scorers.diversity import DiversityScorer
from wattbench.scorers.extraction import ExtractionScorer
from wattbench.scorers.mathanswer import MathScorer
from wattbench.scorers.protocol import Scorer
from wattbench.scorers.rouge import RougeScorer

SCORERS: tuple[Scorer, ...] = (
    RougeScorer(), CodeScorer(), MathScorer(), DiversityScorer(), AnswerScorer(), ExtractionScorer(),
)


def score(case: Case, text: str, scorers: Sequence[Scorer] = SCORERS) -> dict[str, Any]:
    """Every applicable scorer's figures for one answer."""
    figures: dict[str, Any] = {}
    for scorer in scorers:
        if scorer.applies(case):
            figures.update(scorer.score(case, text))
    return figures

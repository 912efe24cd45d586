"""Creative writing: distinct-n (Li et al. 2016), length and repetition."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from wattbench.cases import Case

CREATIVE_TASKS = frozenset({"creative", "roleplay"})
_WORD = re.compile(r"\w+(?:'\w+)?")


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _WORD.findall(text.lower())


def distinct_n(tokens: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams, in [0, 1]; 0 when the text has no n-gram."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(tokens: Sequence[str], n: int = 3) -> float:
    """Share of n-grams (trigrams) that repeat an earlier one, in [0, 1]."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


class DiversityScorer:
    """distinct_1/2/3, output_words_count and repetition_rate for creative tasks."""

    name = "diversity"

    def applies(self, case: Case) -> bool:
        """Creative writing and role-play."""
        return case.task in CREATIVE_TASKS

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """The figures of one answer."""
        tokens = words(text)
        return {
            "distinct_1": distinct_n(tokens, 1),
            "distinct_2": distinct_n(tokens, 2),
            "distinct_3": distinct_n(tokens, 3),
            "output_words_count": len(tokens),
            "repetition_rate": repetition_rate(tokens),
        }

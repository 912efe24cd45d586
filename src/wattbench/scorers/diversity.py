"""Creative writing: distinct-n (Li et al. 2016), length and repetition, over word tokens of
wattbench.scorers.tokens (CJK and Thai-like scripts by character, other scripts by Unicode word,
ASCII text as before); the rule used is recorded as ``words_tokenizer``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wattbench.cases import Case
from wattbench.knobs.reasoning import answer_only
from wattbench.scorers import tokens

KINDS = frozenset({"creative", "roleplay"})


def words(text: str) -> list[str]:
    """Word tokens (wattbench.scorers.tokens.words): lower-cased words, CJK/Thai by character."""
    return tokens.words(text)


def distinct_n(tokens: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams, in [0, 1]; 0 when the text has no n-gram."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(tokens: Sequence[str], n: int = 3) -> float:
    """Share of n-grams (trigrams) that repeat an earlier one, in [0, 1]."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


class DiversityScorer:
    """distinct_1/2/3, output_words_count, repetition_rate and words_tokenizer for creative tasks."""

    name = "diversity"
    kinds = KINDS

    def applies(self, case: Case) -> bool:
        """Creative writing and role-play."""
        return case.kind in self.kinds

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """The figures of one answer (thinking removed)."""
        answer = answer_only(text)
        rule = tokens.scheme(answer)
        found = tokens.words(answer, rule)
        return {
            "distinct_1": distinct_n(found, 1),
            "distinct_2": distinct_n(found, 2),
            "distinct_3": distinct_n(found, 3),
            "output_words_count": len(found),
            "repetition_rate": repetition_rate(found),
            "words_tokenizer": rule,
        }

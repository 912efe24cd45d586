"""ROUGE-1/2/L F1 against the reference answer (the `rouge-score` package, Google's reference
implementation, as the summarisation literature reports it), tokenized per script.

Latin-only text is scored exactly as rouge-score scores it by default (lower case, ``[a-z0-9]+``,
Porter stemming). Text with other scripts goes through :class:`tokens.ScriptTokenizer`: CJK and
Thai-like scripts by character, other scripts by Unicode word (see wattbench.scorers.tokens).
The rule used is recorded as ``rouge_tokenizer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from wattbench.cases import Case
from wattbench.knobs.reasoning import answer_only
from wattbench.scorers import tokens

# Kinds scored against a reference text; the others have a measure of their own.
KINDS = frozenset({"qa", "summary", "creative", "roleplay", "humanities", "general"})
_TYPES = ["rouge1", "rouge2", "rougeL"]


@lru_cache(maxsize=2)
def _scorer(rule: str) -> Any:
    # Imported here: rouge-score pulls in nltk and scipy.stats (about 1 s), which a run that
    # scores no reference case, or a --collect-only, should not pay.
    from rouge_score import rouge_scorer

    if rule == tokens.LATIN:
        return rouge_scorer.RougeScorer(_TYPES, use_stemmer=True)
    return rouge_scorer.RougeScorer(_TYPES, tokenizer=tokens.ScriptTokenizer())


def rouge(reference: str, answer: str) -> dict[str, Any]:
    """rouge_1, rouge_2, rouge_l (F1 in [0, 1]) and rouge_tokenizer for one answer."""
    rule = tokens.scheme(reference, answer)
    scores = _scorer(rule).score(reference, answer)
    return {
        "rouge_1": scores["rouge1"].fmeasure,
        "rouge_2": scores["rouge2"].fmeasure,
        "rouge_l": scores["rougeL"].fmeasure,
        "rouge_tokenizer": rule,
    }


class RougeScorer:
    """rouge_1, rouge_2, rouge_l: F1 in [0, 1], and the tokenizer rule used."""

    name = "rouge"
    kinds = KINDS

    def applies(self, case: Case) -> bool:
        """Cases of a reference-scored kind whose reference has at least one word or character
        token (ROUGE is undefined on a reference without one: chrF still scores it)."""
        reference = case.reference or ""
        return case.kind in self.kinds and bool(tokens.rouge_tokens(reference, tokens.scheme(reference)))

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """F1 of the answer (thinking removed) against the reference."""
        return rouge(case.reference or "", answer_only(text))

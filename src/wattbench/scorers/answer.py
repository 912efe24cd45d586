"""Short-answer tasks (reasoning): the final answer line names the reference answer.

Both sides are normalised first (:func:`normalize`, rule set :data:`NORMALIZER`), following SQuAD
v1.1's official ``normalize_answer`` (lower case, punctuation and the articles a/an/the removed,
whitespace collapsed) with three changes for text in every script:

1. Unicode NFKC first, so full-width letters and digits (U+FF21 'A', U+FF11 '1') and their
   half-width forms compare equal;
   ``str.casefold`` instead of ``lower`` (German ß, Greek final sigma).
2. Punctuation of every script (Unicode category P: the ideographic full stop and comma, the
   full-width question mark, corner brackets and the rest, as well as ASCII)
   is stripped from both ends of each whitespace-separated word, not removed everywhere: '3.14'
   stays '3.14' and 'U.S.' becomes 'u.s', where SQuAD's rule would read '314' and 'us'.
3. The articles are dropped as whole words only, as SQuAD does; no other language's are.

Then the match depends on the reference's script (:func:`wattbench.scorers.tokens.scheme`, the
one idea of script that ROUGE's tokenizer uses too):

- CJK and Thai-like scripts (written without spaces between words): the normalised reference is
  a substring of the normalised final line. '答案是北京' names '北京'.
- Latin and the other spaced scripts: the normalised reference stands as whole words, neither
  preceded nor followed by a letter or digit, and a number is not part of a longer decimal
  ('42' is not found in '42.5').

A reference longer than a short answer (over :data:`MAX_WORDS` words, or :data:`MAX_CHARACTERS`
CJK/Thai-like characters: MT-Bench's reference sentences) is not scored for an exact answer:
``answer_correct`` is null with ``answer_skipped_reason``, and the answer gets the sentence-level
scores instead (chrF and ROUGE against the reference; the judge, where one runs).

Sources: the SQuAD v1.1 evaluation script (``normalize_answer``,
https://rajpurkar.github.io/SQuAD-explorer/), Unicode UAX #15 (NFKC).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import regex

from wattbench.cases import Case
from wattbench.reasoning import answer_only
from wattbench.scorers import tokens
from wattbench.scorers.chrf import chrf
from wattbench.scorers.rouge import rouge

KINDS = frozenset({"reasoning"})
NORMALIZER = "squad_nfkc_v1"
"""The name of the rule set above, recorded per case as ``answer_normalizer``."""
MAX_WORDS = 8
"""A reference of more words (spaced scripts) is a sentence, not a short answer."""
MAX_CHARACTERS = 16
"""A reference of more CJK/Thai-like characters (about 8 Chinese words) is a sentence."""
TOO_LONG = "reference too long for an exact answer: scored by chrF/ROUGE and the judge"

_ANSWER_LINE = regex.compile(r"^\W*(?:final\s+)?answer\W*[:=-]\s*(.+)$", regex.IGNORECASE | regex.MULTILINE)
_EDGE_PUNCTUATION = regex.compile(r"^\p{P}+|\p{P}+$")
_ARTICLES = frozenset({"a", "an", "the"})


def final_line(text: str) -> str:
    """The last 'Answer: ...' line's value, else the last non-empty line."""
    stated = _ANSWER_LINE.findall(text)
    if stated:
        return str(stated[-1]).strip()
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize(text: str) -> str:
    """``text`` under the rule set :data:`NORMALIZER` (see the module doc): NFKC, case-folded,
    each word's leading and trailing punctuation stripped, articles dropped, one space between
    words."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = (_EDGE_PUNCTUATION.sub("", word) for word in folded.split())
    return " ".join(word for word in words if word and word not in _ARTICLES)


def is_short(reference: str) -> bool:
    """Whether ``reference`` is short enough to be named exactly (see MAX_WORDS, MAX_CHARACTERS)."""
    normal = normalize(reference)
    if tokens.scheme(normal) == tokens.CHARACTER:
        return len(tokens.words(normal, tokens.CHARACTER)) <= MAX_CHARACTERS
    return len(normal.split()) <= MAX_WORDS


def names(line: str, reference: str) -> bool:
    """Whether the answer ``line`` names ``reference``, both normalised (see the module doc).
    A reference that normalises to nothing (only punctuation or articles) is never named."""
    wanted, said = normalize(reference), normalize(line)
    if not wanted:
        return False
    if tokens.scheme(wanted) == tokens.CHARACTER:
        return wanted in said
    return _whole_words(wanted).search(said) is not None


@lru_cache(maxsize=1024)
def _whole_words(wanted: str) -> regex.Pattern[str]:
    # A letter or digit next to the reference makes it part of a longer word; a CJK/Thai-like
    # character does not ('答案是paris' names 'paris'), nor does punctuation, except the point or
    # comma of a longer number ('42.5' does not name '42').
    word = rf"[\w--[{tokens.CHAR_SCRIPTS}]]"
    return regex.compile(rf"(?<!{word})(?<!\d[.,]){regex.escape(wanted)}(?!{word})(?![.,]\d)", regex.VERSION1)


class AnswerScorer:
    """answer_correct: 1 when the final answer line names the reference (or any of its
    alternatives), else 0; null with a reason where the reference is a sentence."""

    name = "answer"
    kinds = KINDS

    def __init__(self) -> None:
        self.too_long: list[str] = []  # ids of the cases whose reference is too long, in order

    def applies(self, case: Case) -> bool:
        """Short-answer tasks with a reference."""
        return case.kind in self.kinds and bool(case.reference)

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """Whether the final line (thinking removed) names a reference answer; for a sentence
        reference, chrF and ROUGE against it instead."""
        references: Sequence[str] = case.references
        answer = answer_only(text)
        short = [r for r in references if is_short(r)]
        if not short:
            if case.id not in self.too_long:
                self.too_long.append(case.id)
            return {
                "answer_correct": None, "answer_skipped_reason": TOO_LONG, "answer_normalizer": NORMALIZER,
                "chrf": chrf(references[0], answer), **rouge(references[0], answer),
            }
        line = final_line(answer)
        found = any(names(line, reference) for reference in short)
        return {"answer_correct": float(found), "answer_normalizer": NORMALIZER}

    def summary(self) -> str | None:
        """The summary's line naming the cases whose reference is too long, or None."""
        if not self.too_long:
            return None
        n = len(self.too_long)
        shown = ", ".join(self.too_long[:5]) + (f" and {n - 5} more" if n > 5 else "")
        return f"{n} case{'s' if n != 1 else ''}: {TOO_LONG} ({shown})"

"""Short-answer tasks (reasoning): the final answer line names the reference answer.

Both sides are normalised first (:func:`normalize`, rule set :data:`NORMALIZER`), following SQuAD
v1.1's official ``normalize_answer`` (lower case, punctuation and the articles a/an/the removed,
whitespace collapsed) with these changes for text in every script:

1. Unicode NFKC first, so full-width letters and digits (U+FF21 'A', U+FF11 '1') and their
   half-width forms compare equal; invisible characters (zero-width spaces and joiners, soft
   hyphens, variation selectors, Arabic tatweel) are removed; ``str.casefold`` instead of
   ``lower``; accents and harakat on Latin, Greek, Cyrillic and Arabic letters are dropped
   (Αθήνα = ΑΘΗΝΑ, İstanbul = Istanbul), while the marks of other scripts, which spell
   different words (Thai tone marks), stay.
2. Punctuation of every script (Unicode category P: the ideographic full stop and comma, the
   full-width question mark, corner brackets and the rest, as well as ASCII) is stripped from
   both ends of each whitespace-separated word, not removed everywhere: '3.14' stays '3.14'
   and 'U.S.' becomes 'u.s', where SQuAD's rule would read '314' and 'us'. A sign or point
   before a digit ('-3', '.5') and '#' (C#) are kept; a hyphen between letters is a space.
3. The articles are dropped as whole words only, as SQuAD does, unless the reference is only
   an article: 'A' is a multiple-choice letter, and then both sides keep them.

The final line is the value after the last answer label, in the languages users write
('Answer:', '答案：', 'Réponse :', '정답:' ..., anywhere in a line), else the last non-empty line.
Then the match depends on the reference:

- a number ('4', '-3', '1,000', '.5'): found by value among the whole numbers of the line, so
  '4.0' names '4', and '5/6', '1/5', '5-6', '10^6', '-3' and '42.5' name neither 5, 10, 3 nor 42;
- CJK and Thai-like scripts (written without spaces between words; the script rule of
  :func:`wattbench.scorers.tokens.scheme`, which ROUGE's tokenizer uses too): the normalised
  reference is a substring of the normalised final line ('答案是北京' names '北京'), except that
  a numeral written in characters is not found inside a longer one ('二十' does not name '二');
- Latin and the other spaced scripts: whole words, neither preceded nor followed by a letter or
  digit, nor by '+', '#' or an apostrophe and a letter (C is not C++, C# or C's).

Known limits: a one-character CJK reference is found inside a longer word ('京' in '北京'), and a
right answer followed by a pleasantry on its own last line ('Paris\n\nI hope this helps!') is not
found; the judge covers both.

A reference longer than a short answer (over :data:`MAX_WORDS` words, or :data:`MAX_CHARACTERS`
CJK/Thai-like characters: MT-Bench's reference sentences) is not scored for an exact answer:
``answer_correct`` is null with ``answer_skipped_reason``, and the answer gets the sentence-level
scores instead (chrF and ROUGE against the reference; the judge, where one runs).

Sources: the SQuAD v1.1 evaluation script (``normalize_answer``,
https://rajpurkar.github.io/SQuAD-explorer/), Unicode UAX #15 (NFKC) and UAX #44 (categories).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import regex

from wattbench.cases import Case
from wattbench.knobs.reasoning import answer_only
from wattbench.scorers import tokens
from wattbench.scorers.chrf import chrf
from wattbench.scorers.rouge import rouge

KINDS = frozenset({"reasoning"})
NORMALIZER = "squad_nfkc_v2"
"""The name of the rule set above, recorded per case as ``answer_normalizer``."""
MAX_WORDS = 8
"""A reference of more words (spaced scripts) is a sentence, not a short answer."""
MAX_CHARACTERS = 16
"""A reference of more CJK/Thai-like characters (about 8 Chinese words) is a sentence."""
TOO_LONG = "reference too long for an exact answer: scored by chrF/ROUGE and the judge"
EMPTY = "reference holds no answer text (only punctuation or space): fix the case's reference"

# An answer label in the languages users write, anywhere in a line; the last one in the text wins.
_LABELS = (r"(?:final\s+)?answer|réponse|antwort|respuesta|resposta|risposta|ответ|答案|答|答え|正解|"
           r"정답|답|คำตอบ")
_ANSWER_LINE = regex.compile(rf"(?:^|[^\w])(?:{_LABELS})\s*(?:is\s*)?[:：=]\s*(.+)$",
                             regex.IGNORECASE | regex.MULTILINE)
_INVISIBLE = regex.compile(r"[\p{Cf}\uFE00-\uFE0F\u0640]")  # zero-width, soft hyphen, VS, tatweel
# Accents and harakat on letters of these scripts are dropped (Αθήνα = ΑΘΗΝΑ, Ёж = Еж, İ = I);
# marks of other scripts (Thai tone marks, Devanagari vowel signs) spell different words.
_ACCENTED = regex.compile(r"([\p{Latin}\p{Greek}\p{Cyrillic}\p{Arabic}])\p{Mn}+")
# A sign or point before a digit stays: it is part of the number.
_LEADING = regex.compile(r"^(?:(?![-+.]\d)[\p{P}--[#]])+", regex.VERSION1)
_TRAILING = regex.compile(r"[\p{P}--[#]]+$", regex.VERSION1)
_CJK_SPACE = regex.compile(rf"(?<=[{tokens.CHAR_SCRIPTS}]) +(?=[{tokens.CHAR_SCRIPTS}])")
_INNER_HYPHEN = regex.compile(r"(?<=\p{L})-(?=\p{L})")  # new-york = new york
_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER = regex.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[-+]?\.\d+$")
_NUMBERS = regex.compile(  # a whole number in a line: not a part of 5/6, 1/5, 10^6, 5-6 or 42.5
    r"(?<![\w.,/^\u2044-])[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?![\w/^\u2044]|[.,]\d|-\d)"
)
# Numerals written as characters: a reference of these is not found inside a longer numeral.
_CJK_NUMERALS = "〇零一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟일이삼사오육칠팔구십백천만"


def final_line(text: str) -> str:
    """The value after the last answer label ('Answer:', '答案：', 'Réponse :', '정답:' ...,
    anywhere in a line), else the last non-empty line."""
    stated = _ANSWER_LINE.findall(text)
    if stated:
        return str(stated[-1]).strip()
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize(text: str, articles: bool = True) -> str:
    """``text`` under the rule set :data:`NORMALIZER` (see the module doc): NFKC, invisible
    characters removed, case-folded, accents of Latin, Greek, Cyrillic and Arabic letters
    dropped, each word's leading and trailing punctuation stripped (not a sign before a digit,
    not '#'), hyphens between letters as spaces, the articles a/an/the dropped (``articles``
    False keeps them), one space between words (none between CJK characters)."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).replace("\u2212", "-")
    text = _ACCENTED.sub(r"\1", unicodedata.normalize("NFD", text.casefold()))
    text = _INNER_HYPHEN.sub(" ", unicodedata.normalize("NFC", text))
    words = (_TRAILING.sub("", _LEADING.sub("", word)) for word in text.split())
    kept = " ".join(word for word in words if word and not (articles and word in _ARTICLES))
    return _CJK_SPACE.sub("", kept)


def _wanted(reference: str) -> tuple[str, bool]:
    """The normalised reference, and whether articles were dropped from it: a reference that is
    only an article ('A', a multiple-choice letter) keeps it, and so must the answer."""
    wanted = normalize(reference)
    return (wanted, True) if wanted else (normalize(reference, articles=False), False)


def is_short(reference: str) -> bool:
    """Whether ``reference`` is short enough to be named exactly (see MAX_WORDS, MAX_CHARACTERS)."""
    normal = _wanted(reference)[0]
    if tokens.scheme(normal) == tokens.CHARACTER:
        return len(tokens.words(normal, tokens.CHARACTER)) <= MAX_CHARACTERS
    return len(normal.split()) <= MAX_WORDS


def names(line: str, reference: str) -> bool:
    """Whether the answer ``line`` names ``reference``, both normalised (see the module doc).
    A reference that normalises to nothing (only punctuation or space) is never named."""
    wanted, articles = _wanted(reference)
    said = normalize(line, articles=articles)
    if not wanted:
        return False
    if _NUMBER.match(wanted):  # a number: by value, 4 = 4.0 and 1,000 = 1000, never inside 5/6 or -3
        value = float(wanted.replace(",", ""))
        return any(float(n.replace(",", "")) == value for n in _NUMBERS.findall(said))
    if tokens.scheme(wanted) == tokens.CHARACTER:
        if all(ch in _CJK_NUMERALS for ch in wanted):  # 二 is not in 二十
            numeral = f"[{_CJK_NUMERALS}]"
            return regex.search(rf"(?<!{numeral}){regex.escape(wanted)}(?!{numeral})", said) is not None
        return wanted in said
    return _whole_words(wanted).search(said) is not None


@lru_cache(maxsize=1024)
def _whole_words(wanted: str) -> regex.Pattern[str]:
    # A letter or digit next to the reference makes it part of a longer word, and so do '+', '#'
    # and an apostrophe before a letter (C is not C++, C# or C's); a CJK/Thai-like character does
    # not ('答案是paris' names 'paris'), nor does other punctuation.
    word = rf"[\w--[{tokens.CHAR_SCRIPTS}]]"
    return regex.compile(
        rf"(?<!{word})(?<![+#]){regex.escape(wanted)}(?!{word})(?![+#])(?!['\u2019]\w)", regex.VERSION1
    )


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
        if not any(_wanted(r)[0] for r in references):
            return {"answer_correct": None, "answer_skipped_reason": EMPTY, "answer_normalizer": NORMALIZER}
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

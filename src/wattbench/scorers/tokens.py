"""Text tokens for ROUGE, distinct-n, repetition and word counts, per script.

How the field tokenizes each script, and what this module does:

- **Latin-only text** (every letter and digit ASCII): exactly as before, so English figures do
  not move. ROUGE uses rouge-score's own tokenizer (lower case, ``[a-z0-9]+``, Porter stem);
  the word counts use ``\\w+(?:'\\w+)?``, lower-cased.
- **CJK (Han, Hiragana, Katakana, Bopomofo, Hangul) and the unsegmented South-East Asian
  scripts (Thai, Lao, Khmer, Myanmar)**: one token per character (a grapheme: a base letter
  with its combining marks), the common practice for Chinese ROUGE (e.g. the LCSTS and
  CLTS papers report character-level ROUGE) and for text without spaces between words.
- **Every other script** (Cyrillic, Greek, Arabic, Devanagari, accented Latin ...): one token
  per Unicode word (``\\w+`` of the ``regex`` package, which keeps combining marks inside a
  word), case-folded. ASCII words inside mixed text still go through rouge-score's tokenizer
  for ROUGE, so an English word is stemmed the same way wherever it appears.

rouge-score's default tokenizer keeps only ``[a-z0-9]``: it scored an identical Chinese answer
0.0 and a contradicting one 1.0 when the two shared only their numbers. The name of the rule
used is recorded (:data:`LATIN`, :data:`CHARACTER`, :data:`WORD`) in ``rouge_tokenizer`` and
``words_tokenizer``.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import regex

LATIN = "latin"
"""rouge-score's tokenizer (ROUGE) or ``\\w+(?:'\\w+)?`` (word counts): ASCII text, as before."""
CHARACTER = "cjk_thai_char"
"""CJK and Thai-like scripts by character; the other words by Unicode word."""
WORD = "unicode_word"
"""Unicode words, case-folded (text with non-ASCII letters but no CJK or Thai-like script)."""

# Scripts tokenized by character (regex property classes, to go inside [...]).
CHAR_SCRIPTS = (
    r"\p{Han}\p{Hiragana}\p{Katakana}\p{Bopomofo}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
)
# One CJK/Thai-like character with the marks that belong to it, or a run of other word
# characters (apostrophe contractions kept together, as the old word regex did).
_TOKEN = regex.compile(
    rf"(?P<char>[{CHAR_SCRIPTS}]\p{{M}}*)|(?P<word>[\w--[{CHAR_SCRIPTS}]]+(?:'[\w--[{CHAR_SCRIPTS}]]+)?)",
    regex.VERSION1,
)
_HAS_CHAR_SCRIPT = regex.compile(rf"[{CHAR_SCRIPTS}]", regex.VERSION1)
_NON_ASCII_WORD = regex.compile(r"[\w--[\x00-\x7f]]", regex.VERSION1)
_ASCII_WORD = regex.compile(r"\w+(?:'\w+)?", regex.ASCII)


def scheme(*texts: str) -> str:
    """The tokenization rule for these texts taken together: LATIN, CHARACTER or WORD."""
    if any(_HAS_CHAR_SCRIPT.search(text) for text in texts):
        return CHARACTER
    if any(_NON_ASCII_WORD.search(text) for text in texts):
        return WORD
    return LATIN


def words(text: str, rule: str | None = None) -> list[str]:
    """Word tokens for distinct-n, repetition and word counts (``rule``: scheme(text) if None).

    LATIN: ``\\w+(?:'\\w+)?`` lower-cased (the old rule); otherwise CJK/Thai-like characters
    one by one and other Unicode words case-folded.
    """
    rule = rule or scheme(text)
    if rule == LATIN:
        return [str(word) for word in _ASCII_WORD.findall(text.lower())]
    return [match.group().casefold() for match in _TOKEN.finditer(text)]


@lru_cache(maxsize=1)
def shuffled(text: str, seed: int = 0) -> str:
    """``text`` with its word tokens (as :func:`words` finds them: CJK/Thai-like characters one by
    one, other words whole, case kept) in a random order fixed by ``seed``; spaces and punctuation
    stay where they were, so the shuffled text has the same characters and bytes."""
    pattern = _ASCII_WORD if scheme(text) == LATIN else _TOKEN
    found = list(pattern.finditer(text))
    units = [match.group() for match in found]
    random.Random(seed).shuffle(units)
    parts, last = [], 0
    for match, unit in zip(found, units, strict=True):
        parts += [text[last : match.start()], unit]
        last = match.end()
    return "".join([*parts, text[last:]])


_LETTER = regex.compile(r"[\w\p{M}]", regex.VERSION1)


def shuffled_characters(text: str, seed: int = 0) -> str:
    """``text`` with its letters, digits and marks (each code point) in a random order fixed by
    ``seed``; spaces and punctuation stay where they were. What word order cannot show, spelling
    can: a random string of letters loses nothing to this shuffle, a real word does."""
    found = list(_LETTER.finditer(text))
    letters = [match.group() for match in found]
    random.Random(seed).shuffle(letters)
    chars = list(text)
    for match, letter in zip(found, letters, strict=True):
        chars[match.start()] = letter
    return "".join(chars)


def _rouge_default() -> Any:
    # Imported on first use: rouge-score's tokenizers pull in nltk and scipy.stats (about 1 s).
    from rouge_score import tokenizers

    return tokenizers.DefaultTokenizer(use_stemmer=True)


class ScriptTokenizer:
    """A rouge-score tokenizer (it needs only ``tokenize``) for text that is not Latin-only:
    CJK/Thai-like characters one by one, ASCII words through rouge-score's own tokenizer (lower
    case, stemmed), other Unicode words case-folded."""

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` (rouge-score calls this for the reference and the answer)."""
        tokens: list[str] = []
        for match in _TOKEN.finditer(text):
            token = match.group()
            if match.group("char") is None and token.isascii():
                tokens.extend(_rouge_default().tokenize(token))
            else:
                tokens.append(token.casefold())
        return tokens


def rouge_tokens(text: str, rule: str) -> list[str]:
    """The tokens ROUGE compares under ``rule`` (LATIN: rouge-score's own tokenizer)."""
    if rule == LATIN:
        return list(_rouge_default().tokenize(text))
    return ScriptTokenizer().tokenize(text)

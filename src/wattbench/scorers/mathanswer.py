"""Math: the final answer checked with Math-Verify (Hugging Face's answer parser and equivalence
checker: LaTeX and plain numbers, \\boxed{} first, sympy equivalence), with a numeric fallback
only where Math-Verify finds no answer to parse in the reply or the reference.

Before either checker reads the text, a mixed number ("11 5/6", a whole number, a space and a
proper fraction) is rewritten as its improper fraction ("71/6"): Math-Verify reads "11 5/6" as 5,
and a plain number parser as 115/6. ``math_checker`` records which rule decided.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import regex

from wattbench.cases import Case
from wattbench.knobs.reasoning import answer_only
from wattbench.scorers.tokens import CHAR_SCRIPTS

REL_TOL = 1e-6
KINDS = frozenset({"math"})  # kinds whose reference is one number or expression
MATH_VERIFY = "math_verify"
NUMERIC = "numeric"
TEXT = "text"
_TIMEOUT_S = 5  # Math-Verify's own default; its timeout is a SIGALRM, so main thread only
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_ANSWER = re.compile(r"(?:final answer|answer)\s*(?:is|:|=)\s*\$?([^\n$]+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_FULL_STOP = re.compile(r"(\d)\.(?!\d)")  # '71/6.' ends a sentence; '3.5' keeps its point
# A CJK/Thai character or non-ASCII punctuation next to a number hides the number from
# Math-Verify's plain-expression reader ('答案是71/6。' parses as nothing): spaced apart.
_WIDE = regex.compile(rf"([{CHAR_SCRIPTS}]|[\p{{P}}--[\x00-\x7f]])", regex.VERSION1)
# Full-width ASCII forms (U+FF01-FF5E: full-width digits, colon, ...) and the minus sign U+2212.
_NARROW = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x2212: ord("-")}
_MIXED = re.compile(r"(?<![\d.,/\\])(-?)(\d+)[ \t]+(\d+)/(\d+)(?![\d/]|\.\d)")


def unmix(text: str) -> str:
    """Mixed numbers as improper fractions: '11 5/6' -> '71/6', '-1 1/2' -> '-3/2'.

    Only a whole number followed by a proper fraction (numerator < denominator) is rewritten, so
    '3 4/2' or '12 7/7' stay as they are.
    """

    def improper(match: re.Match[str]) -> str:
        sign, whole, num, den = match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))
        if not 0 < num < den:
            return match.group()
        return f"{sign}{whole * den + num}/{den}"

    return _MIXED.sub(improper, text)


def prepare(text: str) -> str:
    """The text as both checkers read it: mixed numbers unmixed, a full stop right after a number
    dropped (Math-Verify reads 'is 71/6.' as 71/6.0, a float that then fails to match 71/6),
    CJK characters and full-width punctuation spaced apart from numbers, full-width digits and
    the minus sign U+2212 as ASCII."""
    return _FULL_STOP.sub(r"\1", unmix(_WIDE.sub(r" \1 ", text).translate(_NARROW)))


def final_answer(text: str) -> str | None:
    """The fallback's final value: the last \\boxed{}, else after 'answer:', else the last number."""
    text = unmix(text)
    boxed: list[str] = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    stated: list[str] = _ANSWER.findall(text)
    if stated:
        whole = stated[-1].strip().rstrip(".")
        if as_number(whole) is not None:  # '\frac{3}{4}', '1,234.5': the whole value
            return whole
        found: list[str] = _NUMBER.findall(whole)
        return found[0] if found else whole
    numbers: list[str] = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def as_number(text: str) -> float | None:
    """'1,234.5', '3/4', '11 5/6', '\\frac{3}{4}', '\\text{460}', '50%' -> float; None when it is
    not a number."""
    cleaned = unmix(text.strip())
    cleaned = re.sub(r"\\(?:text|mathrm|mbox)\{([^{}]*)\}", r"\1", cleaned)
    cleaned = cleaned.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    frac = re.fullmatch(r"\\[dt]?frac\{(-?\d+)\}\{(\d+)\}", cleaned)
    if frac:
        cleaned = f"{frac.group(1)}/{frac.group(2)}"
    percent = cleaned.endswith("%")
    cleaned = cleaned.rstrip("%")
    try:
        value = float(Fraction(cleaned))
    except (ValueError, ZeroDivisionError):
        return None
    return value / 100 if percent else value


def matches(answer: str | None, reference: str) -> bool:
    """Numeric match within a relative tolerance, else an exact match of the normalised text."""
    return _fallback(answer, reference)[0]


def _fallback(answer: str | None, reference: str) -> tuple[bool, str]:
    if answer is None:
        return False, NUMERIC
    got, want = as_number(answer), as_number(final_answer(reference) or reference)
    if got is not None and want is not None:
        return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=1e-9), NUMERIC
    return answer.strip().lower() == reference.strip().lower(), TEXT


def _timeout() -> int | None:
    return _TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


def check(answer_text: str, reference: str) -> tuple[str | None, bool, str]:
    """``(extracted answer, correct, checker)`` for a reply against the reference.

    Math-Verify parses both (after :func:`prepare`) and decides when it finds an answer in each;
    otherwise the fallback compares :func:`final_answer` (else the last line) numerically
    (checker ``numeric``) or, when either side is not a number, as lower-cased text (``text``).
    """
    from math_verify import parse, verify  # imports sympy: only when a math case is scored

    timeout = _timeout()
    gold = parse(prepare(reference), parsing_timeout=timeout)
    got = parse(prepare(answer_text), parsing_timeout=timeout)
    if gold and got:
        shown = str(got[-1]) if isinstance(got[-1], str) else str(got[0])
        return shown, bool(verify(gold, got, timeout_seconds=timeout)), MATH_VERIFY
    answer = final_answer(answer_text)
    if answer is None:  # no number at all: the last line is the answer, compared as text
        lines = [line.strip().rstrip(".") for line in answer_text.splitlines() if line.strip()]
        answer = lines[-1] if lines else None
    correct, checker = _fallback(answer, reference)
    return answer, correct, checker


class MathScorer:
    """math_answer (the extracted value), math_correct (1.0 or 0.0, so runs average) and
    math_checker (math_verify, numeric or text)."""

    name = "math"
    kinds = KINDS

    def applies(self, case: Case) -> bool:
        """Math and STEM cases with a reference answer."""
        return case.kind in self.kinds and bool(case.reference)

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """Whether the final answer (thinking removed) matches the reference."""
        answer, correct, checker = check(answer_only(text), case.reference or "")
        return {"math_answer": answer, "math_correct": float(correct), "math_checker": checker}

"""Math: the final answer, extracted the way the field does (\\boxed{}, 'answer:', last number),
compared numerically with a tolerance."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from wattbench.cases import Case

REL_TOL = 1e-6
NUMERIC_TASKS = frozenset({"math", "stem"})  # tasks whose reference is one number
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_ANSWER = re.compile(r"(?:final answer|answer)\s*(?:is|:|=)\s*\$?([^\n$]+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def final_answer(text: str) -> str | None:
    """The answer's final value: the last \\boxed{}, else after 'answer:', else the last number."""
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
    """'1,234.5', '3/4', '\\frac{3}{4}', '50%' -> float; None when it is not a number."""
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
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
    if answer is None:
        return False
    got, want = as_number(answer), as_number(final_answer(reference) or reference)
    if got is not None and want is not None:
        return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=1e-9)
    return answer.strip().lower() == reference.strip().lower()


class MathScorer:
    """math_answer (the extracted value) and math_correct (1.0 or 0.0, so runs average)."""

    name = "math"

    def applies(self, case: Case) -> bool:
        """Math and STEM cases with a reference answer."""
        return case.task in NUMERIC_TASKS and bool(case.reference)

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """Whether the final answer matches the reference."""
        answer = final_answer(text)
        return {"math_answer": answer, "math_correct": float(matches(answer, case.reference or ""))}

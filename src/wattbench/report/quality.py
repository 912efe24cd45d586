"""One quality figure per record, in [0, 1], from the scorer that fits its task.

Tasks combine only after normalisation: each task's primary score is divided by the best value
observed for that task in the report, so 1 is "the best this study saw" on every task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRIMARY = {
    "code": "code_tests_passed",
    "math": "math_correct",
    "stem": "math_correct",
    "reasoning": "answer_correct",
    "extraction": "extraction_field_accuracy",
    "creative": "distinct_2",
    "roleplay": "distinct_2",
}
DEFAULT = "rouge_l"  # qa, summary, humanities and sets with a reference text


def number(value: Any) -> float | None:
    """A record value as a float; None for a label, a flag (bool), a missing value or NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def quality(record: Mapping[str, Any]) -> float | None:
    """The record's primary quality score in [0, 1], or None when it has none."""
    return number(record.get(PRIMARY.get(str(record.get("task")), DEFAULT)))

"""One quality figure per record, in [0, 1], from the scorer that fits its task.

Tasks combine only after normalisation: each task's primary score is divided by the best value
observed for that task in the report, so 1 is "the best this study saw" on every task.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from wattbench.cases.kinds import kind_of, primary_metric


def number(value: Any) -> float | None:
    """A record value as a float; None for a label, a flag (bool), a missing value, NaN or an
    infinity (json.dumps writes ``Infinity`` for a division by zero: no measurement, not a
    figure to average)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def quality(record: Mapping[str, Any]) -> float | None:
    """The record's primary quality score in [0, 1], or None when it has none."""
    key = primary_key(record)
    if key in JUDGED and (grade := number(record.get("judge_score"))) is not None:
        return (grade - 1.0) / 9.0  # a judge's 1-10 grade takes over from the text's measures
    value = number(record.get(key))
    if value is not None and key.startswith("human_"):
        return (value - 1.0) / 4.0  # raters' Likert mean, 1-5 points (wattbench.report.human)
    return value


JUDGED = frozenset({"creative_quality"})
"""Primary metrics that only stand in for a judgement (open writing has no reference): where a
judge graded the answer (--wb-judge single), its grade is the record's quality instead."""


def primary_key(record: Mapping[str, Any]) -> str:
    """The metric that stands for the record's quality: its own ``quality_metric``, else its
    task kind's (older records carry neither: the kind comes from the task's name)."""
    metric = record.get("quality_metric")
    if isinstance(metric, str) and metric:
        return metric
    kind = record.get("task_kind")
    return _kind_metric(kind) if isinstance(kind, str) else _task_metric(str(record.get("task", "")))


# A report reads 100,000 records of a few dozen tasks: look each name up once.
@functools.lru_cache(maxsize=1024)
def _kind_metric(kind: str) -> str:
    return primary_metric(kind)


@functools.lru_cache(maxsize=1024)
def _task_metric(task: str) -> str:
    return primary_metric(kind_of(task))

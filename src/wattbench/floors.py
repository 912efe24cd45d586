"""Quality floors: 'summary:rouge_l>=0.2'. A case under its floor fails, after its record is saved.

A floor is ``[task:]metric OP value`` with OP one of >=, >, <=, <; without a task it applies to
every case that records the metric. Floors come from --wb-quality-floor (repeatable, comma
list) and the wb_quality_floor ini key.
"""

from __future__ import annotations

import argparse
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wattbench.metrics import BY_KEY

_FLOOR = re.compile(r"^(?:(?P<task>[\w.-]+):)?(?P<metric>\w+)\s*(?P<op>>=|<=|>|<)\s*(?P<value>-?[\d.]+)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}


@dataclass(frozen=True)
class Floor:
    """One bound on one recorded figure, for one task or for all."""

    task: str | None
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.task + ':' if self.task else ''}{self.metric}{self.op}{self.value:g}"

    def violation(self, task: str, record: Mapping[str, Any]) -> str | None:
        """Why ``record`` breaks this floor, or None (also when it does not apply)."""
        if self.task not in (None, task) or not isinstance(record.get(self.metric), (int, float)):
            return None
        figure = record[self.metric]
        if _OPS[self.op](figure, self.value):
            return None
        return f"{self.metric} {figure:.4g} breaks the floor {self} (--wb-quality-floor)"


def parse_floors(value: str) -> tuple[Floor, ...]:
    """'summary:rouge_l>=0.2, code:code_tests_passed>=1' -> Floors; bad ones name the problem."""
    floors = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        match = _FLOOR.match(item.replace(" ", ""))
        if match is None:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a floor; write [task:]metric>=value, e.g. summary:rouge_l>=0.2"
            )
        metric = match["metric"]
        if metric not in BY_KEY or BY_KEY[metric].unit == "":
            raise argparse.ArgumentTypeError(
                f"{item!r}: {metric!r} is not a recorded figure; e.g. rouge_l, code_tests_passed, "
                "math_correct, distinct_2, decode_tokens_per_s"
            )
        floors.append(Floor(match["task"], metric, match["op"], float(match["value"])))
    return tuple(floors)

"""The axes of the case matrix, declared once: what a case varies over.

One row per axis, as ``metrics.py`` is one table of record keys. Everything that names a case
reads this table instead of its own copy of ``("model", "task", "load", "level", ...)``: case
ids and labels (``cases/case.py``, ``record.py``), the study's groups and configuration labels
(``report/study.py``), compare's and the human-rating report's case keys (``report/compare.py``,
``report/human.py``), the tables' label columns and the workbook's detail sheet
(``report/tables.py``, ``report/workbook.py``), the back-fill of older records
(``report/runs.py``, ``merge.py``) and the pairwise judge's pairing key (``judging.py``).

A new axis (a concurrency level, a reasoning effort, a power cap) is one row here, the attribute
of :class:`wattbench.cases.Case` that holds its value, and what builds cases along it.

How an axis shows in a case id (the grammar is in ``wattbench.ids``): its own "-"-separated
part (model, task, load, level), or, with ``suffix_of``, "+value" after another axis's part,
only when the value is not the axis's default (a system prompt: ``qa+engineered``), so the ids
of the default configuration stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from wattbench.ids import id_part


@dataclass(frozen=True)
class Axis:
    """One axis of the case matrix."""

    key: str
    """Its record key (and name)."""
    attribute: str
    """Where a Case holds its value (a dotted attribute path, e.g. ``model.name``)."""
    description: str
    suffix_of: str | None = None
    """The axis whose id part this one follows as "+value" (see the module doc); None: its own part."""
    default: str | None = None
    """Its value in records older than the axis (back-filled on reading); None: every record has it."""
    configuration: bool = False
    """Whether the report's configuration label ('L0+engineered') names a value other than the
    default. The level is the label's base."""
    spelling: str = ""
    """The fallback of :func:`wattbench.ids.id_part` for an empty value: how the id spells it."""

    def value(self, case: Any) -> str:
        """This axis's value for ``case`` (a wattbench.cases.Case)."""
        return str(attrgetter(self.attribute)(case))


AXES: tuple[Axis, ...] = (
    Axis("model", "model.name", "the model's name, as its backend resolved it"),
    Axis("task", "task", "the task (qa, summary, ... or a user's own)", spelling="task"),
    Axis("load", "load", "the input load (short, medium, long) or the item of a user's set"),
    Axis("level", "level", "the prompt level: L0 bare, L1 clarified, L2 guided, L3 examples, P padded"),
    Axis("system_prompt", "system_name", "the system prompt's name (--wb-system-prompts)",
         suffix_of="task", default="default", configuration=True, spelling="system"),
)
"""Every axis, in the order records and reports list them."""

BY_KEY: Mapping[str, Axis] = {axis.key: axis for axis in AXES}
KEYS: tuple[str, ...] = tuple(axis.key for axis in AXES)
"""The record keys of the axes: what makes two cases of one run different."""


def labels(case: Any) -> dict[str, str]:
    """Each axis's record key -> its value for ``case``."""
    return {axis.key: axis.value(case) for axis in AXES}


def case_id(case: Any, without: tuple[str, ...] = ()) -> str:
    """The case id of ``case`` (see the module doc); ``without`` leaves those axes out (a prompt
    group's id, model-task-load, has no level)."""
    parts: dict[str, str] = {}
    for axis in AXES:
        if axis.key in without:
            continue
        if axis.suffix_of is None:
            # The model's name is its id spelling already (it may hold "-"); loads and levels are
            # built as id parts; a task is any name (知识问答) and is spelled here.
            parts[axis.key] = id_part(axis.value(case), axis.spelling) if axis.spelling else axis.value(case)
    for axis in AXES:
        if axis.key not in without and axis.suffix_of in parts and axis.value(case) != axis.default:
            parts[axis.suffix_of] += f"+{id_part(axis.value(case), axis.spelling or axis.key)}"
    return "-".join(parts.values())


def backfill(record: MutableMapping[str, Any]) -> None:
    """Give a record older than an axis that axis's default value."""
    for axis in AXES:
        if axis.default is not None:
            record.setdefault(axis.key, axis.default)


def configuration(row: Mapping[str, Any]) -> str:
    """The report's configuration label of a row: its level, then "+value" of every configuration
    axis whose value is not the default ('L0', 'L0+engineered')."""
    label = str(row["level"])
    for axis in AXES:
        if axis.configuration and row.get(axis.key, axis.default) != axis.default:
            label += f"+{row[axis.key]}"
    return label


def pairing_key(case: Any) -> tuple[str, ...]:
    """The values of every axis but the model: pairwise judging compares models only within it."""
    return tuple(axis.value(case) for axis in AXES if axis.key != "model")

"""The axes of the case matrix, declared once: what a case varies over.

One row per axis, as ``metrics.py`` is one table of record keys. Everything that names a case
reads this table instead of its own copy of ``("model", "task", "load", "level", ...)``: case
ids and labels (``cases/case.py``, ``records/record.py``), the study's groups and configuration labels
(``report/study.py``), compare's and the human-rating report's case keys (``report/compare.py``,
``report/human.py``), the tables' label columns and the workbook's detail sheet
(``report/tables.py``, ``report/workbook.py``), the back-fill of older records
(``report/runs.py``, ``scale/merge.py``) and the pairwise judge's pairing key (``judge/phase.py``).

A new axis (a concurrency level, a reasoning effort, a power cap, a user's own) is one row with
an ``option``: the option's comma list of values is its option, every case runs at each value
(``Case.variant`` holds it), the record carries it under its key, reports group and label by
it, and ``Sampling.knobs`` hands it to the backend. What acts on it is the one piece of code
that reads it there (a backend, a workload). A conftest adds a row with
``wattbench.options.add_axis`` in its ``pytest_addoption``.

How an axis shows in a case id (the grammar is in ``wattbench.ids``): its own "-"-separated
part (model, task, load, level), or, with ``suffix_of``, "+value" after another axis's part,
only when the value is not the axis's default (a system prompt: ``qa+engineered``; a toy axis
with prefix ``t``: ``L0+thot``), so the ids of the default configuration stay as they were.
"""

from __future__ import annotations

import dataclasses
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
    prefix: str = ""
    """What a "+value" id part starts with, so ``-k`` can select it (``c`` -> ``L0+c4``)."""
    option: str = ""
    """The --wb option (without --wb-) whose comma list of values every case runs at; "" for
    the axes a case source sets (model, task, load, level, system prompt)."""
    whole: bool = False
    """Whether each value must be a whole number of at least 1 (a count of streams, watts, MHz)."""
    choices: tuple[str, ...] = ()
    """The values it may take; () for any."""

    def value(self, case: Any) -> str:
        """This axis's value for ``case`` (a wattbench.cases.Case)."""
        if self.attribute == VARIANT:
            return str(getattr(case, "variant", {}).get(self.key, self.default))
        return str(attrgetter(self.attribute)(case))


REASONING = ("default", "off", "on", "low", "medium", "high")
"""The reasoning states --wb-reasoning names; each backend maps them (docs/settings.md, "Reasoning")."""

VARIANT = "variant"
"""The attribute of an axis whose values an option lists: the case's ``variant`` mapping."""


_AXES: list[Axis] = [
    Axis("model", "model.name", "the model's name, as its backend resolved it"),
    Axis("task", "task", "the task (qa, summary, ... or a user's own)", spelling="task"),
    Axis("load", "load", "the input load (short, medium, long) or the item of a user's set"),
    Axis("level", "level", "the prompt level: L0 bare, L1 clarified, L2 guided, L3 examples, P padded"),
    Axis("system_prompt", "system_name", "the system prompt's name (--wb-system-prompts)",
         suffix_of="task", default="default", configuration=True, spelling="system"),
    Axis("concurrency", VARIANT, "closed-loop streams the server is kept busy with (--wb-concurrency)",
         suffix_of="level", default="none", configuration=True, prefix="c", option="concurrency", whole=True),
    Axis("reasoning", VARIANT, "the reasoning state asked of the model (--wb-reasoning): default (nothing "
         "asked), off, on, low, medium or high", suffix_of="level", default="default", configuration=True,
         prefix="r", option="reasoning", choices=REASONING),
    Axis("gpu_power_limit", VARIANT, "the power limit asked of every GPU of the run's device set, in W "
         "(--wb-gpu-power-limit; wattbench.knobs.gpuaxes): none leaves the limit the GPU had",
         suffix_of="level", default="none", configuration=True, prefix="pl", option="gpu-power-limit",
         whole=True),
    Axis("gpu_clocks", VARIANT, "the SM clock every GPU of the run's device set is locked at, in MHz "
         "(--wb-gpu-clocks; wattbench.knobs.gpuaxes): none leaves clocks unlocked",
         suffix_of="level", default="none", configuration=True, prefix="sm", option="gpu-clocks", whole=True),
]


def register(axis: Axis) -> None:
    """Add an axis (a conftest's: ``wattbench.options.add_axis`` registers it and gives it its
    option, in the conftest's ``pytest_addoption``). Its record key is defined with
    wattbench.metrics.register. An axis that names no ``suffix_of`` shows as "+value" after the
    level and labels the report's configurations.

    Raises ValueError when its key is another axis's, or it has no option or no default.
    """
    from wattbench.metrics import Metric
    from wattbench.metrics import register as define

    if axis.suffix_of is None:  # a value of its own shows as "+value" after the level: L0+hot
        axis = dataclasses.replace(axis, suffix_of="level", configuration=True)
    if axis.key in record_keys():
        if by_key()[axis.key] == axis:
            return  # the same conftest, loaded again (pytester runs in one process)
        raise ValueError(f"axis {axis.key!r} is already defined: {by_key()[axis.key].description}")
    if not axis.option or axis.default is None or axis.attribute != VARIANT:
        raise ValueError(f"axis {axis.key!r}: a new axis needs an option, a default and attribute 'variant'")
    define(Metric(axis.key, "", axis.description))
    _AXES.append(axis)


def all_axes() -> tuple[Axis, ...]:
    """Every axis, in the order records and reports list them."""
    return tuple(_AXES)


def by_key() -> Mapping[str, Axis]:
    """Each axis by its record key."""
    return {axis.key: axis for axis in _AXES}


def record_keys() -> tuple[str, ...]:
    """The record keys of the axes: what makes two cases of one run different."""
    return tuple(axis.key for axis in _AXES)


def optional() -> tuple[Axis, ...]:
    """The axes whose values an option lists (every case runs at each)."""
    return tuple(axis for axis in _AXES if axis.option)


def labels(case: Any) -> dict[str, str]:
    """Each axis's record key -> its value for ``case``."""
    return {axis.key: axis.value(case) for axis in _AXES}


def case_id(case: Any, without: tuple[str, ...] = ()) -> str:
    """The case id of ``case`` (see the module doc); ``without`` leaves those axes out (a prompt
    group's id, model-task-load, has no level)."""
    return row_id({axis.key: axis.value(case) for axis in _AXES if axis.key not in without})


def row_id(values: Mapping[str, Any]) -> str:
    """The case id of the axes' values in ``values`` (a record, a report row); an axis missing
    there is left out, or at its default when it is a "+value" one."""
    parts: dict[str, str] = {}
    for axis in _AXES:
        if axis.suffix_of is None and axis.key in values:
            value = str(values[axis.key])
            # The model's name is its id spelling already (it may hold "-"); loads and levels are
            # built as id parts; a task is any name (知识问答) and is spelled here.
            parts[axis.key] = id_part(value, axis.spelling) if axis.spelling else value
    for axis in _AXES:
        value = values.get(axis.key, axis.default)
        if axis.suffix_of in parts and value is not None and str(value) != axis.default:
            parts[axis.suffix_of] += f"+{axis.prefix}{id_part(str(value), axis.spelling or axis.key)}"
    return "-".join(parts.values())


def backfill(record: MutableMapping[str, Any]) -> None:
    """Give a record older than an axis that axis's default value."""
    for axis in _AXES:
        if axis.default is not None:
            record.setdefault(axis.key, axis.default)


def configuration(row: Mapping[str, Any]) -> str:
    """The report's configuration label of a row: its level, then "+value" of every configuration
    axis whose value is not the default, after the axis's id prefix ('L0', 'L0+engineered',
    'L0+c4')."""
    label = str(row["level"])
    for axis in _AXES:
        if axis.configuration and row.get(axis.key, axis.default) != axis.default:
            label += f"+{axis.prefix}{row[axis.key]}"
    return label


def pairing_key(case: Any) -> tuple[str, ...]:
    """The values of every axis but the model: pairwise judging compares models only within it."""
    return tuple(axis.value(case) for axis in _AXES if axis.key != "model")

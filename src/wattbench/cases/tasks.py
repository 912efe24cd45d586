"""Task sets: JSON files of tasks, each with one item per input load and its level material.

A task file (fixtures/tasks/<name>.json) looks like::

    {"task": "qa", "title": "Knowledge QA",
     "levels": {"L1": "clarification", "L2": "guidance",
                "L3": [{"input": "example request", "output": "example answer"}]},
     "items": {"short": {"instruction": "...", "input": "...", "reference": "..."},
               "medium": {...}, "long": {...}}}

An item's ``reference`` may be a list of acceptable answers (``["北京", "Beijing"]``): the first
is the reference every scorer uses, and the short-answer scorer accepts any of them.
Item keys other than ``instruction``, ``input`` and ``reference`` (``entry_point``, ``tests``,
``setup``, ``turns``: follow-up user messages of a multi-turn item, ...) are kept in
``Item.extra`` for scorers and the case builder. The directory may also hold
``padding.txt``: irrelevant paragraphs (blank-line separated) for level P.

Without --wb-task-dir the built-in set is read from the package (wattbench.data), so the plugin
runs from any folder. The repository's fixtures/tasks/ is where those files are edited; the
package holds a byte-for-byte copy, which tests/test_any_folder.py checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench.cases.case import reference_list
from wattbench.cases.kinds import kind_of
from wattbench.cases.textfile import read_text
from wattbench.errors import ConfigError
from wattbench.metrics import BY_KEY

PADDING_FILE = "padding.txt"


@dataclass(frozen=True)
class Example:
    """A worked example shown at level L3."""

    input: str
    output: str


@dataclass(frozen=True)
class Item:
    """One request of a task at one input load."""

    instruction: str
    input: str = ""
    reference: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()
    """Other acceptable answers: a reference list's later entries."""


@dataclass(frozen=True)
class Task:
    """A task: what it asks at each load, and the material that builds levels L1-L3."""

    name: str
    title: str
    clarification: str
    guidance: str
    examples: tuple[Example, ...]
    items: Mapping[str, Item]
    source: Path
    kind: str = "general"
    """The task's kind (wattbench.cases.kinds): the file's own "kind", else from its name."""
    metric: str | None = None
    """The file's primary quality metric, where it names one ("metric")."""


def _text(data: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError(f"{where}: field {key!r} must be a non-empty string, got {value!r}")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def parse_task(data: Any, source: Path) -> Task:
    """A Task from the decoded JSON of ``source``; ConfigError names the bad field."""
    top = _object(data, str(source))
    name = _text(top, "task", str(source))
    levels = _object(top.get("levels"), f"{source}: field 'levels'")
    raw_examples = levels.get("L3")
    if not isinstance(raw_examples, list) or not raw_examples:
        raise ConfigError(f"{source}: field 'levels.L3' must be a non-empty list of examples")
    examples = []
    for index, raw in enumerate(raw_examples):
        where = f"{source}: levels.L3[{index}]"
        example = _object(raw, where)
        examples.append(Example(_text(example, "input", where), _text(example, "output", where)))
    items: dict[str, Item] = {}
    for load, raw in _object(top.get("items"), f"{source}: field 'items'").items():
        where = f"{source}: items.{load}"
        item = _object(raw, where)
        reference = item.get("reference")
        references = () if reference is None else reference_list(reference)
        if references is None:
            raise ConfigError(
                f"{where}: field 'reference' must be a string or a list of acceptable answers "
                f"(strings), got {reference!r}"
            )
        turns = item.get("turns", [])
        if not isinstance(turns, list) or not all(isinstance(t, str) and t.strip() for t in turns):
            raise ConfigError(f"{where}: field 'turns' must be a list of follow-up user messages (strings)")
        items[load] = Item(
            instruction=_text(item, "instruction", where),
            input=_text(item, "input", where, required=False),
            reference=references[0] if references else None,
            alternatives=references[1:],
            extra={k: v for k, v in item.items() if k not in ("instruction", "input", "reference")},
        )
    try:
        kind = kind_of(name, top.get("kind"))
    except ValueError as exc:
        raise ConfigError(f"{source}: field 'kind': {exc}") from None
    metric = top.get("metric")
    if metric is not None and metric not in BY_KEY:
        raise ConfigError(f"{source}: field 'metric' must be a metric key such as rouge_l, got {metric!r}")
    return Task(
        kind=kind,
        metric=metric,
        name=name,
        title=str(top.get("title") or name),
        clarification=_text(levels, "L1", f"{source}: levels"),
        guidance=_text(levels, "L2", f"{source}: levels"),
        examples=tuple(examples),
        items=items,
        source=source,
    )


def load_task_dir(directory: Path) -> dict[str, Task]:
    """Every task file in ``directory``, by task name."""
    if not directory.is_dir():
        raise ConfigError(
            f"task directory {str(directory)!r} does not exist; point --wb-task-dir "
            "(ini wb_task_dir) at a folder of task .json files"
        )
    tasks: dict[str, Task] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(read_text(path, "task file"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
        task = parse_task(data, path)
        if task.name in tasks:
            raise ConfigError(f"{path}: task {task.name!r} is also defined in {tasks[task.name].source}")
        tasks[task.name] = task
    return tasks


def load_padding(directory: Path) -> tuple[str, ...]:
    """The padding paragraphs of ``directory``/padding.txt."""
    path = directory / PADDING_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: level P needs this file of irrelevant paragraphs (no such file)")
    text = read_text(path, "padding file")
    paragraphs = tuple(p.strip() for p in text.split("\n\n") if p.strip())
    if not paragraphs:
        raise ConfigError(f"{path}: holds no paragraph; level P needs padding text")
    return paragraphs

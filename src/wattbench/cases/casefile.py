"""JSON test-case files: the shape people already use for one-off prompt sets.

A file holds a list of entries::

    [{"model": "all", "prompt": "Explain DNS in two sentences.", "task_type": "qa",
      "reference_text": "DNS maps names to addresses ...", "max_tokens": 200, "temperature": 0.7}]

``model`` is a name, a list of names, or "all" (every model of the run). ``reference_text`` may
be a list of acceptable answers (``["北京", "Beijing"]``): the first is the reference every scorer
uses, and the short-answer scorer accepts any of them. ``reference_text``,
``max_tokens`` (default 200) and ``temperature`` (default 0.7) are optional. Each entry
becomes one case per model, with id ``model-<task_type>-<file stem>-e<entry number>``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.cases.case import reference_list
from wattbench.cases.kinds import kind_of
from wattbench.cases.textfile import read_text
from wattbench.errors import CaseFileError, ConfigError
from wattbench.ids import id_part
from wattbench.metrics import BY_KEY

DEFAULT_MAX_TOKENS = 200
DEFAULT_TEMPERATURE = 0.7
FIELDS = ("model", "prompt", "task_type", "reference_text", "max_tokens", "temperature", "kind", "metric")
# Keys people's files often carry that mean nothing to us but are not typos.
TOLERATED = ("id", "category", "notes", "tags", "description")


@dataclass(frozen=True)
class CaseEntry:
    """One entry of a test-case file."""

    models: tuple[str, ...]
    prompt: str
    task_type: str
    reference_text: str | None
    max_tokens: int
    temperature: float
    index: int
    source: Path
    kind: str = "general"
    """The task's kind (wattbench.cases.kinds): the entry's own "kind", else from task_type."""
    metric: str | None = None
    """The entry's primary quality metric, where it names one ("metric")."""
    alternatives: tuple[str, ...] = ()
    """Other acceptable answers: a ``reference_text`` list's later entries."""

    @property
    def load(self) -> str:
        """The id part that stands where built-in cases have their load: the file's stem."""
        return id_part(self.source.stem.lower(), "cases")

    @property
    def level(self) -> str:
        """The id part that stands where built-in cases have their level: the entry number."""
        return f"e{self.index}"


def _parse_entry(raw: Any, index: int, path: Path) -> CaseEntry:
    where = str(path)
    if not isinstance(raw, dict):
        raise CaseFileError(where, f"must be an object, got {type(raw).__name__}", index)
    for key in raw:
        if key not in FIELDS and key not in TOLERATED:
            close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.75)
            if close:
                raise CaseFileError(where, f"unknown field; did you mean {close[0]!r}?", index, key)
    model = raw.get("model")
    if isinstance(model, str) and model.strip():
        models: tuple[str, ...] = (model.strip(),)
    elif isinstance(model, list) and model and all(isinstance(m, str) and m.strip() for m in model):
        models = tuple(m.strip() for m in model)
    else:
        raise CaseFileError(
            where, f'must be a model name, a list of names, or "all"; got {model!r}', index, "model"
        )
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise CaseFileError(where, f"must be a non-empty string, got {prompt!r}", index, "prompt")
    task_type = raw.get("task_type")
    if not isinstance(task_type, str) or not re.fullmatch(r"\w+", task_type):  # letters of any script
        raise CaseFileError(
            where, f"must be a word of letters, digits or _ (e.g. qa, code, 知识问答), got {task_type!r}",
            index, "task_type",
        )
    reference = raw.get("reference_text")
    references = () if reference is None else reference_list(reference)
    if references is None:
        raise CaseFileError(
            where, f"must be a string or a list of acceptable answers (strings), got {reference!r}",
            index, "reference_text",
        )
    max_tokens = raw.get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise CaseFileError(where, f"must be a whole number >= 1, got {max_tokens!r}", index, "max_tokens")
    temperature = raw.get("temperature", DEFAULT_TEMPERATURE)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
        0.0 <= temperature <= 2.0
    ):
        raise CaseFileError(
            where, f"must be a number from 0 to 2, got {temperature!r}", index, "temperature"
        )
    declared = raw.get("kind")
    if declared is not None and not isinstance(declared, str):
        raise CaseFileError(where, f"must be a task kind such as qa or code, got {declared!r}", index, "kind")
    try:
        kind = kind_of(task_type, declared)
    except ValueError as exc:
        raise CaseFileError(where, str(exc), index, "kind") from None
    metric = raw.get("metric")
    if metric is not None and (not isinstance(metric, str) or metric not in BY_KEY):
        raise CaseFileError(where, f"must be a metric key such as rouge_l, got {metric!r}", index, "metric")
    return CaseEntry(
        kind=kind,
        metric=metric,
        models=models,
        prompt=prompt,
        task_type=task_type.strip().lower(),
        reference_text=references[0] if references else None,
        alternatives=references[1:],
        max_tokens=max_tokens,
        temperature=float(temperature),
        index=index,
        source=path,
    )


def parse_case_file(path: Path) -> list[CaseEntry]:
    """Every entry of a JSON test-case file; CaseFileError names the entry and field at fault."""
    try:
        text = read_text(path, "test-case file")
    except ConfigError as exc:
        raise CaseFileError(str(path), str(exc).removeprefix(f"{path}: ") + "; check --wb-cases") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseFileError(
            str(path), f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    if not isinstance(data, list):
        raise CaseFileError(str(path), f"must hold a JSON list of entries, got {type(data).__name__}")
    if not data:
        raise CaseFileError(str(path), "holds no entries")
    return [_parse_entry(raw, index, path) for index, raw in enumerate(data)]

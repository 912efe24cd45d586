"""The run's whole case set: every source its options name, under every system prompt."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.backends.modelfile import model_name
from wattbench.backends.protocol import Backend, ModelRef, Sampling
from wattbench.cases.case import Case, PromptGroup
from wattbench.cases.casefile import parse_case_file
from wattbench.cases.humaneval import load_problems
from wattbench.cases.prompttable import load_prompt_table
from wattbench.cases.questions import load_questions
from wattbench.cases.sources import (
    from_entries,
    from_problems,
    from_questions,
    from_table,
    matrix,
    with_system_prompts,
    with_variants,
)
from wattbench.cases.tasks import Task, load_padding, load_task_dir
from wattbench.cases.textfile import read_text
from wattbench.errors import ConfigError, ModelError


@dataclass(frozen=True)
class CaseOptions:
    """What the run's case set is built from (``Settings.case_options()``); each field is the
    setting of the same name."""

    models: tuple[str, ...]  # --wb-model specs, each resolved by the backend
    discover: bool  # add the models found where people keep them (backends/discovery.py)
    tasks: tuple[str, ...]  # task names of task_dir, or ("all",)
    task_dir: Path | None
    loads: tuple[str, ...]
    levels: tuple[str, ...]
    case_files: tuple[Path, ...]
    question_files: tuple[Path, ...]
    humaneval_files: tuple[Path, ...]
    prompt_tables: tuple[Path, ...]
    system_prompts: tuple[str, ...]  # names in system_prompt_file; "default": none
    system_prompt_file: Path
    sampling: Sampling
    axis_values: Mapping[str, tuple[str, ...]]  # axis key -> the values every case runs at (wattbench.axes)


@dataclass
class CaseSet:
    """The run's cases and level groups, by id, and the models that could not be resolved."""

    cases: list[Case]
    groups: list[PromptGroup]
    unresolved: dict[str, ModelError]  # ModelRef.location -> why it resolves to no model
    models: list[ModelRef]  # the run's models (--wb-model), in order
    discovered: dict[str, str] = field(default_factory=dict)
    """Models found where people keep them (backends/discovery.py), not named by --wb-model:
    name -> where. Their cases are collected, so -k selects them; a run without -k or -m leaves
    them out (plugin)."""

    def __post_init__(self) -> None:
        self.by_id = {case.id: case for case in self.cases}
        self.group_by_id = {group.id: group for group in self.groups}
        # Every model a case runs on, by name: the run's, and those only a case file names.
        self.model_by_name = {ref.name: ref for ref in [*self.models, *(c.model for c in self.cases)]}


def build_cases(options: CaseOptions, backend: Backend) -> CaseSet:
    """Every case of the run; ConfigError names the file, option or id at fault."""
    s = options
    unresolved: dict[str, ModelError] = {}

    def resolve(spec: str) -> list[ModelRef]:
        """Models for ``spec``; an unknown one becomes a model whose cases fail with the reason."""
        try:
            return backend.resolve(spec)
        except ModelError as exc:
            ref = ModelRef(name=model_name(Path(spec)), location=f"unresolved:{spec}")
            unresolved[ref.location] = exc
            return [ref]

    models: list[ModelRef] = []
    for spec in s.models:  # a --wb-model that names nothing stops the run here, not 200 cases later
        try:
            models.extend(backend.resolve(spec))
        except ModelError as exc:
            raise ConfigError(f"--wb-model {spec}: {exc}") from None
    models = list(dict.fromkeys(models))
    discovered: dict[str, str] = {}
    if s.discover:
        inner = getattr(backend, "inner", backend)  # under a worker-process wrapper
        found: list[tuple[ModelRef, str]] = getattr(inner, "discovered", list)()
        named = {m.name for m in models}
        for ref, where in found:
            if ref.name not in named:
                models.append(ref)
                discovered[ref.name] = where

    # The task folder and its padding are read once, and only when a source needs them.
    @functools.cache
    def available() -> dict[str, Task]:
        return load_task_dir(s.task_dir) if s.task_dir else {}

    @functools.cache
    def padding() -> tuple[str, ...]:
        return load_padding(s.task_dir) if s.task_dir else ()

    parts: list[tuple[list[Case], list[PromptGroup]]] = []
    if s.tasks and s.task_dir is not None:
        names = list(available()) if "all" in [t.lower() for t in s.tasks] else list(s.tasks)
        missing = [n for n in names if n not in available()]
        if missing:
            raise ConfigError(
                f"unknown task {missing[0]!r} (--wb-tasks / wb_tasks); tasks in "
                f"{s.task_dir}: {', '.join(available()) or 'none'}"
            )
        chosen = [available()[n] for n in names]
        if chosen:
            parts.append(matrix(models, chosen, s.loads, s.levels, padding(), s.sampling))
    parts += [
        from_questions(models, load_questions(path), s.levels, padding(), s.sampling)
        for path in s.question_files
    ]
    parts += [
        from_problems(models, load_problems(path), available().get("code"), s.levels, padding(), s.sampling)
        for path in s.humaneval_files
    ]
    parts += [from_table(models, load_prompt_table(path), s.levels, s.sampling) for path in s.prompt_tables]
    cases = [case for part_cases, _ in parts for case in part_cases]
    groups = [group for _, part_groups in parts for group in part_groups]
    for path in s.case_files:
        cases.extend(from_entries(parse_case_file(path), models, resolve, s.sampling))
    if s.system_prompts != ("default",):
        cases, groups = with_system_prompts(
            cases, groups, system_prompts(s.system_prompts, s.system_prompt_file)
        )
    cases = with_variants(cases, s.axis_values)
    _check_unique(cases)
    return CaseSet(cases, groups, unresolved, models, discovered)


def _check_unique(cases: Sequence[Case]) -> None:
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise ConfigError(
                f"two cases share the id {case.id!r}; give the models or case files distinct names"
            )
        seen.add(case.id)


def system_prompts(names: Sequence[str], path: Path) -> dict[str, str | None]:
    """name -> text for --wb-system-prompts; 'default' is no system prompt."""
    known: dict[str, str] = {}
    if path.is_file():
        try:
            known = json.loads(read_text(path, "system prompt file"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not JSON: {exc.msg}") from None
        if not isinstance(known, dict) or not all(isinstance(v, str) for v in known.values()):
            raise ConfigError(f"{path}: must be an object of name -> prompt text")
    prompts: dict[str, str | None] = {}
    for name in names:
        if name == "default":
            prompts[name] = None
        elif name in known:
            prompts[name] = known[name]
        else:
            raise ConfigError(
                f"unknown system prompt {name!r} (--wb-system-prompts); {path} "
                f"defines: {', '.join(known) or 'none'}; 'default' means none"
            )
    return prompts

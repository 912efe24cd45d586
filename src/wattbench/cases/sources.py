"""Case sources: the (model, task, load, level) matrix, question files, HumanEval problems,
prompt tables and test-case file entries, each turned into cases and level groups."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from wattbench import axes
from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases.case import Case, PromptGroup
from wattbench.cases.casefile import CaseEntry
from wattbench.cases.humaneval import INSTRUCTION as HUMANEVAL_INSTRUCTION
from wattbench.cases.humaneval import Problem
from wattbench.cases.levels import build_levels
from wattbench.cases.prompttable import PromptRow
from wattbench.cases.questions import CLARIFICATION, EXAMPLES, GUIDANCE, Question
from wattbench.cases.tasks import Example, Item, Task
from wattbench.errors import ModelNotFoundError

GENERIC = (CLARIFICATION, GUIDANCE, EXAMPLES)  # level material for sets that bring none


def level_group(
    model: ModelRef, task: str, load: str, item: Item, material: tuple[str, str, Sequence[Example]],
    padding: Sequence[str], levels: Sequence[str], key: str,
) -> PromptGroup:
    """The chosen levels of one item's prompt, built from (clarification, guidance, examples)."""
    clarification, guidance, examples = material
    prompts = build_levels(item, clarification, guidance, examples, padding, key=key)
    return PromptGroup(model, task, load, {level: prompts[level] for level in levels}, question=prompts["L0"])


def matrix(
    models: Sequence[ModelRef],
    tasks: Sequence[Task],
    loads: Sequence[str],
    levels: Sequence[str],
    padding: Sequence[str],
    sampling: Sampling,
) -> tuple[list[Case], list[PromptGroup]]:
    """Every built-in case, model-major, and the level groups for the growth check."""
    cases: list[Case] = []
    groups: list[PromptGroup] = []
    for model in models:
        for task in tasks:
            for load in loads:
                item = task.items.get(load)
                if item is None:
                    continue
                material = (task.clarification, task.guidance, task.examples)
                key = f"{task.name}/{load}"
                group = level_group(model, task.name, load, item, material, padding, levels, key)
                groups.append(group)
                for level, prompt in group.prompts.items():
                    case = Case(model, task.name, load, level, prompt, sampling, item.reference, item.extra,
                                kind=task.kind, metric=task.metric, question=group.question,
                                alternatives=item.alternatives)
                    cases.append(case)
                    cases.extend(later_turns(case, item.extra.get("turns", ())))
    return cases, groups


def later_turns(
    first: Case, turns: Sequence[str], references: Sequence[str] = (), mark: str = ".t"
) -> list[Case]:
    """A case per follow-up user turn (load 'short.t2', ...), each carrying the conversation
    before it; ``references`` are the follow-ups' reference answers where known."""
    cases: list[Case] = []
    previous = first
    for index, text in enumerate(turns):
        previous = replace(
            first, load=f"{first.load}{mark}{index + 2}", prompt=text, question=text,
            reference=references[index] if index < len(references) else None, extra={}, alternatives=(),
            previous=previous.id,
        )
        cases.append(previous)
    return cases


def from_questions(
    models: Sequence[ModelRef],
    questions: Sequence[Question],
    levels: Sequence[str],
    padding: Sequence[str],
    sampling: Sampling,
) -> tuple[list[Case], list[PromptGroup]]:
    """Cases of MT-Bench-style questions: each level of turn 1, then each later turn."""
    cases: list[Case] = []
    groups: list[PromptGroup] = []
    for model in models:
        for q in questions:
            item = Item(instruction=q.turns[0])
            group = level_group(model, q.category, f"q{q.id}", item, GENERIC, padding, levels, f"q{q.id}")
            groups.append(group)
            for level, prompt in group.prompts.items():
                reference = q.references[0] if q.references else None
                first = Case(model, q.category, f"q{q.id}", level, prompt, sampling, reference,
                             question=group.question)
                cases.append(first)
                cases.extend(later_turns(first, q.turns[1:], q.references[1:], mark="t"))
    return cases, groups


def from_problems(
    models: Sequence[ModelRef],
    problems: Sequence[Problem],
    code_task: Task | None,
    levels: Sequence[str],
    padding: Sequence[str],
    sampling: Sampling,
) -> tuple[list[Case], list[PromptGroup]]:
    """Code cases of HumanEval-shape problems, at every level (the code task's level material)."""
    material = (
        (code_task.clarification, code_task.guidance, code_task.examples) if code_task else GENERIC
    )
    cases: list[Case] = []
    groups: list[PromptGroup] = []
    for model in models:
        for problem in problems:
            item = Item(instruction=HUMANEVAL_INSTRUCTION, input=problem.request)
            group = level_group(model, "code", problem.load, item, material, padding, levels, problem.task_id)
            groups.append(group)
            extra = {"entry_point": problem.entry_point, "tests": problem.tests, "setup": problem.prompt}
            cases.extend(
                Case(model, "code", problem.load, level, prompt, sampling, None, extra,
                     question=group.question)
                for level, prompt in group.prompts.items()
            )
    return cases, groups


def from_table(
    models: Sequence[ModelRef], rows: Sequence[PromptRow], levels: Sequence[str], sampling: Sampling
) -> tuple[list[Case], list[PromptGroup]]:
    """Cases of a prompt table's rows: the row's own variant at each chosen level."""
    cases: list[Case] = []
    groups: list[PromptGroup] = []
    for model in models:
        for row in rows:
            chosen = {level: row.prompts[level] for level in levels}
            groups.append(PromptGroup(model, row.task, row.id, chosen))
            cases.extend(
                Case(model, row.task, row.id, level, prompt, sampling, row.reference,
                     question=row.prompts["L0"], alternatives=row.alternatives)
                for level, prompt in chosen.items()
            )
    return cases, groups


def with_system_prompts(
    cases: Sequence[Case], groups: Sequence[PromptGroup], prompts: Mapping[str, str | None]
) -> tuple[list[Case], list[PromptGroup]]:
    """Every case and group once per system prompt, side by side (see Case.id)."""
    out_cases: list[Case] = []
    out_groups: list[PromptGroup] = []
    for name, text in prompts.items():
        renamed = {c.id: replace(c, system=text, system_name=name).id for c in cases}
        out_cases.extend(
            replace(c, system=text, system_name=name, previous=renamed.get(c.previous or ""))
            for c in cases
        )
        out_groups.extend(replace(g, system=text, system_name=name) for g in groups)
    return out_cases, out_groups


def with_variants(cases: Sequence[Case], values: Mapping[str, Sequence[str]]) -> list[Case]:
    """Every case once per combination of the values of the axes an option lists (axis key ->
    values, wattbench.axes), side by side; its sampling's ``knobs`` carry them to the backend."""
    out = list(cases)
    for key, chosen in values.items():
        if tuple(chosen) == (axes.by_key()[key].default,):
            continue  # the default alone: the cases, and their ids, stay as they were
        expanded: list[Case] = []
        for value in chosen:
            moved = [_at(c, key, value) for c in out]
            renamed = {c.id: m.id for c, m in zip(out, moved)}
            expanded += [replace(m, previous=renamed.get(m.previous or "", m.previous)) for m in moved]
        out = expanded
    return out


def _at(case: Case, key: str, value: str) -> Case:
    variant = {**case.variant, key: value}
    return replace(case, variant=variant, sampling=replace(case.sampling, knobs=variant))


def from_entries(
    entries: Sequence[CaseEntry],
    run_models: Sequence[ModelRef],
    resolve: Callable[[str], list[ModelRef]],
    sampling: Sampling,
) -> list[Case]:
    """Cases for test-case file entries; 'all' means every model of the run."""
    by_name = {ref.name: ref for ref in run_models}
    cases: list[Case] = []
    for entry in entries:
        refs: list[ModelRef] = []
        for spec in entry.models:
            if spec.lower() == "all":
                refs.extend(run_models)
            elif spec in by_name:
                refs.append(by_name[spec])
            else:
                try:
                    refs.extend(resolve(spec))
                except ModelNotFoundError as exc:
                    raise ModelNotFoundError(
                        f"{entry.source}: entry {entry.index}, field 'model': {exc}"
                    ) from None
        entry_sampling = replace(
            sampling, max_tokens=entry.max_tokens, temperature=entry.temperature
        )
        for ref in dict.fromkeys(refs):
            cases.append(
                Case(ref, entry.task_type, entry.load, entry.level, entry.prompt,
                     entry_sampling, entry.reference_text, kind=entry.kind, metric=entry.metric,
                     alternatives=entry.alternatives)
            )
    return cases

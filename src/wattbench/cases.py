"""Cases: the (model, task, load, level) matrix, plus entries of test-case files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wattbench.backends.protocol import Message, ModelRef
from wattbench.casefile import CaseEntry
from wattbench.errors import ModelNotFoundError
from wattbench.humaneval import INSTRUCTION as HUMANEVAL_INSTRUCTION
from wattbench.humaneval import Problem
from wattbench.levels import build_levels
from wattbench.prompttable import PromptRow
from wattbench.questions import CLARIFICATION, EXAMPLES, GUIDANCE, Question
from wattbench.settings import Sampling
from wattbench.tasks import Example, Item, Task

GENERIC = (CLARIFICATION, GUIDANCE, EXAMPLES)  # level material for sets that bring none

CODE_TASKS = frozenset({"code"})


def task_label(task: str, system_name: str) -> str:
    """The task as case ids show it: 'qa', or 'qa+engineered' under a named system prompt."""
    return task if system_name == "default" else f"{task}+{system_name}"


def user_chat(prompt: str, system: str | None = None) -> tuple[Message, ...]:
    """The chat a model receives for a prompt: the system prompt if any, one user message."""
    user: Message = {"role": "user", "content": prompt}
    return ({"role": "system", "content": system}, user) if system else (user,)


@dataclass(frozen=True)
class Case:
    """One benchmark case: a prompt for one model, with the sampling it runs under."""

    model: ModelRef
    task: str
    load: str
    level: str
    prompt: str
    sampling: Sampling
    reference: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    previous: str | None = None
    """For a later turn of a conversation: the id of the case of the turn before it."""
    system: str | None = None
    """The system prompt; None leaves the model's own default."""
    system_name: str = "default"

    @property
    def id(self) -> str:
        """model-task-load-level: the pytest id, so -k selects on any of the four. Under a
        system prompt other than the default, the task part reads 'task+name'."""
        return f"{self.model.name}-{task_label(self.task, self.system_name)}-{self.load}-{self.level}"

    @property
    def messages(self) -> tuple[Message, ...]:
        """This turn's chat: the system prompt (first turn only) and the user message; a later
        turn is preceded by the conversation so far."""
        return user_chat(self.prompt, self.system if self.previous is None else None)

    @property
    def is_code(self) -> bool:
        """Whether the answer must contain code that compiles."""
        return self.task in CODE_TASKS


@dataclass(frozen=True)
class PromptGroup:
    """The level variants of one (model, task, load), for the token-growth invariant."""

    model: ModelRef
    task: str
    load: str
    prompts: Mapping[str, str]  # level -> prompt, in level order
    system: str | None = None
    system_name: str = "default"

    @property
    def id(self) -> str:
        """model-task-load."""
        return f"{self.model.name}-{task_label(self.task, self.system_name)}-{self.load}"


def level_group(
    model: ModelRef, task: str, load: str, item: Item, material: tuple[str, str, Sequence[Example]],
    padding: Sequence[str], levels: Sequence[str], key: str,
) -> PromptGroup:
    """The chosen levels of one item's prompt, built from (clarification, guidance, examples)."""
    clarification, guidance, examples = material
    prompts = build_levels(item, clarification, guidance, examples, padding, key=key)
    return PromptGroup(model, task, load, {level: prompts[level] for level in levels})


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
                    case = Case(model, task.name, load, level, prompt, sampling, item.reference, item.extra)
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
            first, load=f"{first.load}{mark}{index + 2}", prompt=text,
            reference=references[index] if index < len(references) else None, extra={},
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
                first = Case(model, q.category, f"q{q.id}", level, prompt, sampling, reference)
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
                Case(model, "code", problem.load, level, prompt, sampling, None, extra)
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
                Case(model, row.task, row.id, level, prompt, sampling, row.reference)
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
                     entry_sampling, entry.reference_text)
            )
    return cases

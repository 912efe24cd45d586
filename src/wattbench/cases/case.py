"""A case: one prompt for one model at one (task, load, level), and the level groups of cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from wattbench import axes
from wattbench.backends.protocol import Message, ModelRef, Sampling
from wattbench.cases.kinds import kind_of


def user_chat(prompt: str, system: str | None = None) -> tuple[Message, ...]:
    """The chat a model receives for a prompt: the system prompt if any, one user message."""
    user: Message = {"role": "user", "content": prompt}
    return ({"role": "system", "content": system}, user) if system else (user,)


def reference_list(value: object) -> tuple[str, ...] | None:
    """A reference field's acceptable answers: a string is one, a non-empty list of strings is
    each of them in order; None for anything else (the caller names the field at fault)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    return None


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
    kind: str = ""
    """The task's kind (wattbench.cases.kinds); "" means: from the task's name."""
    metric: str | None = None
    """The primary quality metric its file names, else None: the kind's own."""
    question: str | None = None
    """The request without level material (the item's L0 prompt), as a person rating the
    answer should see it; None: the prompt itself."""
    chat: tuple[Message, ...] = ()
    """A whole chat to send instead of ``prompt`` (a user's own test); ``prompt`` is then its
    last user message, for the scorers and the judge."""
    alternatives: tuple[str, ...] = ()
    """Other acceptable answers besides ``reference`` (a reference list's later entries, e.g.
    ``["北京", "Beijing"]``): the short-answer scorer accepts any of them."""
    variant: Mapping[str, str] = field(default_factory=dict)
    """The case's values of the axes an option lists (wattbench.axes): axis key -> value; an
    axis missing here is at its default."""

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", kind_of(self.task))

    @property
    def id(self) -> str:
        """model-task-load-level: the pytest id, so -k selects on any of the four. Under a
        system prompt other than the default, the task part reads 'task+name'."""
        return axes.case_id(self)

    @property
    def messages(self) -> tuple[Message, ...]:
        """This turn's chat: the system prompt (first turn only) and the user message; a later
        turn is preceded by the conversation so far."""
        if self.chat:
            return self.chat
        return user_chat(self.prompt, self.system if self.previous is None else None)

    def run_sampling(self, run: int) -> Sampling:
        """The sampling of this case's run ``run`` (0-based): the case's, with seed + run, so
        runs differ and a rerun of run ``run`` repeats it."""
        return replace(self.sampling, seed=self.sampling.seed + run)

    @property
    def references(self) -> tuple[str, ...]:
        """Every acceptable reference answer: ``reference`` first, then ``alternatives``."""
        return (self.reference, *self.alternatives) if self.reference else ()

    @property
    def is_code(self) -> bool:
        """Whether the answer must contain code that compiles."""
        return self.kind == "code"


@dataclass(frozen=True)
class PromptGroup:
    """The level variants of one (model, task, load), for the token-growth invariant."""

    model: ModelRef
    task: str
    load: str
    prompts: Mapping[str, str]  # level -> prompt, in level order
    question: str | None = None  # the bare request (L0), whatever levels are chosen
    system: str | None = None
    system_name: str = "default"

    @property
    def id(self) -> str:
        """model-task-load."""
        return axes.case_id(self, without=("level",))

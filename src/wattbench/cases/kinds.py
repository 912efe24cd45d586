"""Task kinds: the one table that says what a task is, whatever its file calls it.

A task's *name* is whatever its file says (``qa``, ``knowledge_qa``, MT-Bench's ``coding``); its
*kind* is one of :data:`KINDS`, and the kind decides which scorers apply (each scorer declares its
kinds) and which metric is the task's primary quality in the report. A task file or case entry
may declare ``"kind"`` (and ``"metric"``) itself; otherwise :func:`kind_of` maps the name through
:data:`ALIASES`, and a name it does not know is ``general``: reference-scored where a reference
exists, else counted in the run summary as unscored.

To add a kind: one line in KINDS (and aliases for the names files use for it), then list the
kind in the ``kinds`` of each scorer that applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """A kind of task and the metric that stands for its quality (a wattbench.metrics key)."""

    name: str
    primary: str
    about: str


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("qa", "rouge_l", "knowledge questions with a reference answer"),
        Kind("summary", "rouge_l", "summaries of a given text"),
        Kind("code", "code_tests_passed", "code that must compile and pass unit tests"),
        Kind("math", "math_correct", "problems whose answer is one number or expression"),
        Kind("creative", "creative_quality", "open writing: diversity gated by fluency"),
        Kind("roleplay", "creative_quality", "staying in a character's voice"),
        Kind("reasoning", "answer_correct", "puzzles whose final line names the answer"),
        Kind("extraction", "extraction_field_accuracy", "a JSON object of fields from a text"),
        Kind("humanities", "rouge_l", "open questions of history, ethics, society"),
        Kind("general", "rouge_l", "anything else: scored against its reference where it has one"),
    )
}

# Names that files in the field give to these kinds (lower case, '-' and ' ' read as '_'):
# the seeds' test-case files, MT-Bench's eight categories, and common spellings.
ALIASES: dict[str, str] = {
    "knowledge_qa": "qa",
    "question_answering": "qa",
    "open_qa": "qa",
    "closed_qa": "qa",
    "summarization": "summary",
    "summarisation": "summary",
    "summarize": "summary",
    "code_generation": "code",
    "coding": "code",
    "programming": "code",
    "stem": "math",
    "arithmetic": "math",
    "creative_writing": "creative",
    "writing": "creative",
    "role_play": "roleplay",
    "logic": "reasoning",
    "logical_reasoning": "reasoning",
    "information_extraction": "extraction",
}


def normal(name: str) -> str:
    """A task or kind name as the table spells it: lower case, '-' and spaces as '_'."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def kind_of(task: str, declared: str | None = None) -> str:
    """The kind of a task named ``task``; ``declared`` (a file's own "kind") wins.

    Raises ValueError for a declared kind that is not in KINDS (the caller names the file).
    """
    if declared is not None:
        kind = ALIASES.get(normal(declared), normal(declared))
        if kind not in KINDS:
            raise ValueError(f"unknown kind {declared!r}; choose from {', '.join(KINDS)}")
        return kind
    name = normal(task)
    return name if name in KINDS else ALIASES.get(name, "general")


def primary_metric(kind: str) -> str:
    """The metric key that stands for a kind's quality (rouge_l for one not in the table)."""
    return KINDS[kind].primary if kind in KINDS else KINDS["general"].primary

"""MT-Bench-style question files: one JSON object a line, ``question_id``, ``category``, ``turns``.

Each question becomes a case per level (L0-L3, P) for its first turn, with the task set to its
category; every later turn becomes a case of its own whose chat carries the conversation so
far (the earlier turns and the model's own answers to them). Case ids read
``model-<category>-q<id>-<level>`` and ``model-<category>-q<id>t2-<level>``.

Reference answers, where a file in ``reference_answer/`` beside the questions holds them (as in
FastChat's layout: ``question_id`` and ``choices[0].turns``), become the cases' references.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.cases.jsonlines import read_objects
from wattbench.cases.tasks import Example
from wattbench.errors import CaseFileError

# Level material for questions that bring none of their own: general, category-neutral.
CLARIFICATION = (
    "Answer the question completely and accurately. If it asks for a particular format, length, "
    "style or number of items, follow that exactly."
)
GUIDANCE = (
    "1. Read the whole question and list every requirement it states.\n"
    "2. Work out the substance of the answer first; for calculations or reasoning, go step by step.\n"
    "3. Write the answer so that it meets each requirement, in the order the question asks.\n"
    "4. Check the answer against the list before you finish, and remove anything not asked for."
)
EXAMPLES = (
    Example("What is 15% of 240? Give just the number.", "36"),
    Example(
        "Write a two-line poem about autumn that rhymes.",
        "The maple lets its red leaves fall,\nand autumn whispers over all.",
    ),
)


@dataclass(frozen=True)
class Question:
    """One question: its id, category, user turns, and reference answers per turn if known."""

    id: int
    category: str
    turns: tuple[str, ...]
    references: tuple[str, ...] = ()


def _references(path: Path) -> dict[int, tuple[str, ...]]:
    """question_id -> reference answer per turn, from reference_answer/*.jsonl beside ``path``."""
    found: dict[int, tuple[str, ...]] = {}
    for file in sorted((path.parent / "reference_answer").glob("*.jsonl")):
        for number, data in read_objects(file, "reference answer"):
            try:
                found.setdefault(int(data["question_id"]), tuple(data["choices"][0]["turns"]))
            except (KeyError, IndexError, TypeError, ValueError):
                raise CaseFileError(
                    str(file), "needs question_id and choices[0].turns (MT-Bench's reference format)",
                    number,
                ) from None
    return found


def _field(data: dict[str, Any], name: str, kind: type, path: Path, line: int) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CaseFileError(str(path), f"needs {name!r} as {kind.__name__}", line, name) from None
    return value


def load_questions(path: Path) -> list[Question]:
    """Every question of an MT-Bench-style file; a malformed line names the line and field."""
    references = _references(path)
    questions: list[Question] = []
    for number, data in read_objects(path, "question"):
        qid = _field(data, "question_id", int, path, number)
        category = _field(data, "category", str, path, number)
        turns = _field(data, "turns", list, path, number)
        if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise CaseFileError(str(path), "'turns' must be a list of non-empty strings", number, "turns")
        questions.append(Question(qid, category.lower(), tuple(turns), references.get(qid, ())))
    if not questions:
        raise CaseFileError(str(path), "holds no question")
    return questions


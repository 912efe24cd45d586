"""HumanEval-shape code problems: JSON lines with ``task_id``, ``prompt``, ``entry_point``, ``test``.

Each problem becomes a code case per level, with the code task's level material. The answer's
code runs in the sandbox after the problem's prompt (its imports and helpers; the stub it
redefines is harmless) and before the problem's ``test``, then ``check(<entry_point>)``, which
is how HumanEval's own harness runs a completion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wattbench.cases.jsonlines import read_objects
from wattbench.errors import CaseFileError
from wattbench.ids import id_part

INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function in one Python code block."
)


@dataclass(frozen=True)
class Problem:
    """One problem: its id (also its case-id load), the stub, the function name and the tests."""

    task_id: str
    prompt: str
    entry_point: str
    test: str

    @property
    def load(self) -> str:
        """'HumanEval/12' -> 'humaneval12': case ids split on '-', so no '-' or '/' here."""
        return id_part(self.task_id.lower().replace("/", ""), "problem")

    @property
    def tests(self) -> str:
        """The problem's test code followed by the call HumanEval's harness makes."""
        return f"{self.test}\n\ncheck({self.entry_point})\n"

    @property
    def request(self) -> str:
        """The stub as the model sees it."""
        return f"```python\n{self.prompt.rstrip()}\n```"


def load_problems(path: Path) -> list[Problem]:
    """Every problem of a HumanEval-shape JSONL file; a malformed line names the line and field."""
    problems: list[Problem] = []
    for number, data in read_objects(path, "problem"):
        values = []
        for name in ("task_id", "prompt", "entry_point", "test"):
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                raise CaseFileError(str(path), f"needs {name!r} as a non-empty string", number, name)
            values.append(value)
        problems.append(Problem(*values))
    if not problems:
        raise CaseFileError(str(path), "holds no problem")
    return problems

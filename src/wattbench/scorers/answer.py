"""Short-answer tasks (reasoning): the final answer line names the reference answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wattbench.cases import Case
from wattbench.reasoning import answer_only

KINDS = frozenset({"reasoning"})
_ANSWER_LINE = re.compile(r"^\W*(?:final\s+)?answer\W*[:=-]\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def final_line(text: str) -> str:
    """The last 'Answer: ...' line's value, else the last non-empty line."""
    stated = _ANSWER_LINE.findall(text)
    if stated:
        return str(stated[-1]).strip()
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class AnswerScorer:
    """answer_correct: 1 when the final answer line holds the reference as a whole word, else 0."""

    name = "answer"
    kinds = KINDS

    def applies(self, case: Case) -> bool:
        """Short-answer tasks with a reference."""
        return case.kind in self.kinds and bool(case.reference)

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """Whether the final line (thinking removed) names the reference answer."""
        pattern = rf"\b{re.escape((case.reference or '').strip())}\b"
        found = re.search(pattern, final_line(answer_only(text)), re.IGNORECASE)
        return {"answer_correct": float(found is not None)}

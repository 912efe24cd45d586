"""What a scorer is: it knows which cases it applies to, and turns an answer into figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from wattbench.cases import Case


class Scorer(Protocol):
    """Scores one answer of one case; every figure is a wattbench.metrics key."""

    name: str
    kinds: frozenset[str]
    """The task kinds (wattbench.cases.kinds) it applies to."""

    def applies(self, case: Case) -> bool:
        """Whether this scorer has what it needs for ``case`` (a reference, tests, ...)."""
        ...

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """The figures for ``text``, the model's answer to ``case``."""
        ...

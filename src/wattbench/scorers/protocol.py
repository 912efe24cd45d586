"""What a scorer is: it knows which cases it applies to, and turns an answer into figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class ScorerOptions:
    """What scorers may need from the run's settings."""

    bertscore_model: Path | None = None
    bertscore_layers: int = 17  # roberta-large's layer in bert-score's own table
    bartscore_model: Path | None = None
    unsafe_code: bool = False  # where bubblewrap cannot run: the weak guard, instead of no tests
    fluency_model: str = "default"  # creative fluency's reference GGUF: default, off or a path

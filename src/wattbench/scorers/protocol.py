"""What a scorer is: it knows which cases it applies to, and turns an answer into figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from wattbench.cases import Case
from wattbench.option import pick

T = TypeVar("T")


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
    """What the run's scorers are made from: each scorer's own options object (``own``: one per
    options class the registry names; ``get(ItsOptions)`` answers it, or its defaults)."""

    own: tuple[object, ...] = ()

    def get(self, cls: type[T]) -> T:
        """This run's object of the options class ``cls`` (a scorer's own), else its defaults."""
        return pick(self.own, cls)

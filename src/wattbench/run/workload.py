"""A unit of measured work: what the runner's window wraps (a generation, concurrent streams, ...).

The runner (``wattbench.run.runner``) owns everything every kind of work shares: pytest-benchmark's
rounds, the energy window and the xdist sharing log, the machine's keys and the append of each
run's record. A workload owns the work itself and what its figures mean: it runs one unit, may
run it again (unrecorded) while the window is too short for the energy source to resolve, and
turns the window's energy into per-unit figures by dividing by what it produced (generations and
tokens, requests and tokens, training steps and samples).

The anchors are zeus's ``ZeusMonitor.begin_window`` / ``end_window`` (its docstring wraps a
``training()`` call) and pytest-benchmark's ``pedantic``, which is generic over its target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wattbench.run.energy import Measured


class Workload(Protocol):
    """One case's kind of work, run once per measured run.

    Per run the runner calls, in order: ``prepare`` (untimed, before the window opens), ``unit``
    (the timed call), ``again`` while the window is still too short to resolve (only when
    ``owns_window`` is False), then ``record`` with the closed window.

    A workload whose window is not the unit's whole span (the steady state of N concurrent
    streams) sets ``owns_window``: it then opens and closes its window itself, in ``unit``, and
    the runner passes ``record`` None.
    """

    series: str
    """The name of the case's time-series files: its case id."""
    owns_window: bool

    def prepare(self, run: int) -> None:
        """Get run ``run`` (0-based) ready, outside the window and the timing."""

    def unit(self, run: int) -> None:
        """The timed unit of work of run ``run``. Raises GenerationError when it fails."""

    def again(self, run: int) -> None:
        """Repeat run ``run``'s unit, unrecorded, to lengthen a window too short to resolve."""

    def record(self, run: int, measured: Measured | None, machine: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run ``run``'s records (one for a generation; one per request of a load point): their
        own figures, the window's energy divided by what the units produced, the machine's keys.
        Raises GenerationError when the run produced nothing to record."""

    def discard(self) -> None:
        """Drop whatever a failed run left open (an energy window the workload owns)."""

"""--wb-contended: what a run measured while other processes used the machine becomes.

``keep`` (the default): its records stay, marked ``contended``; the report uses a configuration's
clean records where it has them and marks one that has only contended ones.

``rerun`` (or ``rerun:N``): MLPerf's rules re-run an invalid result rather than average it in.
A contended run is measured again, up to N times (2 by default), each time once the machine is
quiet: system CPU use under the contention threshold for QUIET_S seconds in a row, waited for
at most WAIT_S seconds. The re-measurement follows at once, with the model still loaded, rather
than at the end of the run: a reload and warm-up would cost more than the wait, and the case's
pytest outcome and benchmark entry then hold the clean measurement. The earlier records stay in
results.jsonl marked ``superseded_by_rerun`` (the report and a resume skip them); a run with no
quiet moment within the wait keeps its contended record, and the run waits no more after that
(a machine busy for a minute is busy: 44 contended runs must not cost 44 minutes of waiting). A
resume with ``rerun`` measures the runs kept contended again. pytest-benchmark's own timing table
keeps its first timing (it times rounds, not our re-measurements).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from wattbench.monitors.gauges import CONTENDED_OTHER_CPU_PCT

DEFAULT_RERUNS = 2
WAIT_S = 60.0  # the longest wait for a quiet machine before one re-measurement
QUIET_S = 3.0  # the machine must stay quiet this long: a pause between two bursts is not quiet


@dataclass
class ContendedPolicy:
    """How many times a contended run is measured again (0: never), and what happened."""

    reruns: int = 0
    wait_s: float = WAIT_S
    outcomes: Counter[str] = field(default_factory=Counter)  # measured again, clean, still, no quiet

    @property
    def text(self) -> str:
        """The option's value, as given."""
        return f"rerun:{self.reruns}" if self.reruns else "keep"

    def quiet_before_rerun(
        self, contended: bool, again: int, quiet: Callable[[float], float | None]
    ) -> float | None:
        """Seconds waited for a quiet machine before a contended run (measured ``again`` times
        already) is measured once more; None when it is not: clean, out of reruns, or the
        machine stayed busy through a wait (then, and ever after this run, it is counted)."""
        if not contended or again >= self.reruns:
            return None
        # A machine that stayed busy through one whole wait is busy: no more waiting this run.
        waited = None if self.outcomes["no_quiet"] else quiet(self.wait_s)
        if waited is None:
            self.outcomes["no_quiet"] += 1
        return waited

    def summary_lines(self) -> list[str]:
        """What the re-measurements did, for the run's summary (empty when none was needed)."""
        counts = self.outcomes
        if not self.reruns or not (counts["rerun"] or counts["no_quiet"]):
            return []
        line = (f"contended: {counts['rerun']} run(s) measured again once the machine was quiet "
                f"(--wb-contended {self.text}): {counts['clean']} clean now, "
                f"{counts['still']} still contended")
        if counts["no_quiet"]:
            line += (f"; {counts['no_quiet']} kept contended: the machine was not quiet for "
                     f"{QUIET_S:g} s within {self.wait_s:g} s once, so the run waited no more")
        return [line]


def parse_contended(value: str) -> ContendedPolicy:
    """``keep``, ``rerun`` or ``rerun:N`` (N >= 1) as a ContendedPolicy."""
    text = value.strip().lower()
    if text == "keep":
        return ContendedPolicy()
    if text == "rerun":
        return ContendedPolicy(DEFAULT_RERUNS)
    if text.startswith("rerun:") and text[6:].isdigit() and int(text[6:]) >= 1:
        return ContendedPolicy(int(text[6:]))
    raise argparse.ArgumentTypeError(f"{value!r}: give keep, rerun, or rerun:N with N a whole number >= 1")


def wait_for_quiet(
    wait_s: float = WAIT_S, threshold_pct: float = CONTENDED_OTHER_CPU_PCT, quiet_s: float = QUIET_S,
    cpu_percent: Callable[[float], float] = lambda interval: float(psutil.cpu_percent(interval)),
    clock: Callable[[], float] = time.monotonic,
) -> float | None:
    """Seconds waited until the system's CPU use (psutil, all CPUs, %) stayed at or under
    ``threshold_pct`` for ``quiet_s`` seconds in a row; None when that did not happen within
    ``wait_s``. Between runs this process is idle, so the system's use is the others'."""
    start = clock()
    quiet_since: float | None = None
    while True:
        busy = cpu_percent(0.5)  # blocks for the interval: the wait itself
        now = clock()
        if busy > threshold_pct:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now - 0.5
        if quiet_since is not None and now - quiet_since >= quiet_s:
            return now - start
        if now - start >= wait_s:
            return None

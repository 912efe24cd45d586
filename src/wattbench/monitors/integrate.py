"""Energy from readings: counter deltas with wrap-around, and power integrated over time.

Every energy source reduces to one cumulative figure in joules per channel, kept by an
Accumulator that the sampler feeds at each poll. A window's energy is then the difference of
two cumulative figures, whatever the source.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence

CHANGES_KEPT = 64  # a counter's latest change times, from which its cadence is learned (validity.py)


def counter_delta(before: float, after: float, wrap: float | None) -> float:
    """Increase of a cumulative counter from ``before`` to ``after`` (same unit as both).

    A counter that wraps at ``wrap`` (RAPL's max_energy_range_uj) and reads lower than before
    went round once; reads must come often enough that it never goes round twice. A counter
    without a wrap range never goes down: the caller must not call this when it did (see
    Accumulator: such a drop makes the window's figure unknown).
    """
    if after >= before:
        return after - before
    if wrap is not None and wrap > 0:
        return (wrap - before) + after
    raise ValueError(f"a counter without a wrap range went down ({before} -> {after})")


def trapezoid(samples: Sequence[tuple[float, float]]) -> float:
    """Integral of (time s, power W) samples in J, by the trapezoid rule; spacing may be uneven."""
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(samples):
        total += (p0 + p1) / 2.0 * (t1 - t0)
    return total


class Accumulator:
    """Cumulative joules of one channel, fed one reading at a time.

    ``kind`` is 'counter' (readings are a cumulative counter in J, wrapping at ``wrap_j``) or
    'power' (readings are instantaneous power in W, integrated by the trapezoid rule).
    """

    def __init__(self, kind: str, wrap_j: float | None = None) -> None:
        if kind not in ("counter", "power"):
            raise ValueError(f"unknown accumulator kind {kind!r}")
        self.kind = kind
        self.wrap_j = wrap_j
        self.joules = 0.0
        self.updates = 0  # counter: how often its value changed; power: samples taken
        self.faults = 0  # counter readings that cannot be true: a window holding one has no figure
        self.last_fault = ""
        self.change_times: deque[float] = deque(maxlen=CHANGES_KEPT)  # counter: when its value changed
        self._last: tuple[float, float] | None = None  # (time s, reading)
        self._before_drop: float | None = None  # the last reading before a drop, until the next rise

    def feed(self, t: float, value: float) -> None:
        """Take the reading ``value`` made at monotonic time ``t`` (s)."""
        last = self._last
        self._last = (t, value)
        if last is None:
            self.updates += self.kind == "power"
            return
        if self.kind == "counter":
            if value < last[1] and not self.wrap_j:
                # Not a wrap (none is declared) and not to be trusted as a reset: Intel's counter
                # fell from 22.5 MJ to 200 J on an idle GPU (intel/compute-runtime#938), amdsmi's
                # runs backwards under concurrent reads (ROCm/amdsmi#115). Nothing is added.
                self.faults += 1
                self.last_fault = f"its counter dropped from {last[1]:.3f} J to {value:.3f} J"
                if self._before_drop is None:
                    self._before_drop = last[1]
                return
            base = last[1]
            if self._before_drop is not None and value != last[1]:
                # The first rise after a drop: back at or above the last true reading, the low
                # readings were a glitch and counting resumes from the true one; below it, the
                # counter restarted low (Intel's) and counts on from there.
                if value >= self._before_drop:
                    base = self._before_drop
                self._before_drop = None
            delta = counter_delta(base, value, self.wrap_j)
            self.joules += delta
            if delta != 0:
                self.updates += 1
                self.change_times.append(t)
        else:
            self.joules += trapezoid((last, (t, value)))
            self.updates += 1

"""Energy from readings: counter deltas with wrap-around, and power integrated over time.

Every energy source reduces to one cumulative figure in joules per channel, kept by an
Accumulator that the sampler feeds at each poll. A window's energy is then the difference of
two cumulative figures, whatever the source.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence


def counter_delta(before: float, after: float, wrap: float | None) -> float:
    """Increase of a cumulative counter from ``before`` to ``after`` (same unit as both).

    A counter that wraps at ``wrap`` (RAPL's max_energy_range_uj) and reads lower than before
    went round once; reads must come often enough that it never goes round twice. A counter
    without a wrap range that goes down was reset (driver reload): the increase since the
    reset is ``after``.
    """
    if after >= before:
        return after - before
    if wrap is not None and wrap > 0:
        return (wrap - before) + after
    return after


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
        self._last: tuple[float, float] | None = None  # (time s, reading)

    def feed(self, t: float, value: float) -> None:
        """Take the reading ``value`` made at monotonic time ``t`` (s)."""
        last = self._last
        self._last = (t, value)
        if last is None:
            self.updates += self.kind == "power"
            return
        if self.kind == "counter":
            delta = counter_delta(last[1], value, self.wrap_j)
            self.joules += delta
            self.updates += delta != 0
        else:
            self.joules += trapezoid((last, (t, value)))
            self.updates += 1

"""The CPU estimate: TDP x CPU utilisation. Used only where nothing can be measured.

This is a model, not a measurement: a CPU at 100% may draw well under or over its TDP, and
nothing outside the CPU package (memory, board, GPU) is counted. Every record it produces says
``energy_method = estimated``.

Energy is kept as a counter, ``tdp_w x busy CPU seconds / number of CPUs``, read from
/proc/stat (machine-wide, every process: the same scope a power meter would see). Where there
is no /proc/stat, this process's own CPU time (os.times) stands in, and the description says so.
"""

from __future__ import annotations

import os
from pathlib import Path

from wattbench.monitors.procfs import PROC, clock_ticks_per_s, read_cpu_times
from wattbench.monitors.protocol import Channel, Poll

DEFAULT_TDP_W = 65.0
CHANNEL = Channel(id="cpu", domain="cpu", kind="counter")


class EstimateSource:
    """Estimated CPU energy in J from utilisation and a thermal design power in W."""

    name = "estimate"
    method = "estimated"
    channels = (CHANNEL,)

    def __init__(self, tdp_w: float = DEFAULT_TDP_W, proc: Path = PROC) -> None:
        if tdp_w <= 0:
            raise ValueError(f"CPU TDP must be positive watts, not {tdp_w}")
        self.tdp_w = tdp_w
        self._stat = proc / "stat"
        self._ticks = clock_ticks_per_s()
        self.resolution_s = 1.0 / self._ticks
        if self._stat.exists():
            cpus = read_cpu_times(self._stat).cpus
            scope = f"all {cpus} CPUs, /proc/stat"
        else:
            cpus = os.cpu_count() or 1
            scope = "this process only, os.times"
        self._cpus = cpus
        self.description = (
            f"estimate: {tdp_w:g} W TDP x CPU utilisation ({scope}); not a measurement"
        )

    def busy_cpu_s(self) -> float:
        """CPU seconds spent busy so far, summed over CPUs."""
        if self._stat.exists():
            return read_cpu_times(self._stat).busy / self._ticks
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def poll(self) -> Poll:
        """Estimated cumulative CPU energy in J."""
        return Poll({CHANNEL.id: self.tdp_w * self.busy_cpu_s() / self._cpus})

    def close(self) -> None:
        """Nothing to release."""


def open_estimate(tdp_w: float = DEFAULT_TDP_W, proc: Path = PROC) -> EstimateSource:
    """The estimate source; it works on every machine."""
    return EstimateSource(tdp_w, proc)

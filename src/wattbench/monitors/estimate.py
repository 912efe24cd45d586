"""The CPU estimate: TDP x the benchmark's CPU share. Used only where nothing can be measured.

This is a model, not a measurement: a CPU at 100% may draw well under or over its TDP, and
nothing outside the CPU package (memory, board, GPU) is counted. Every record it produces says
``energy_method = estimated``.

Energy is kept as a counter, ``tdp_w x CPU seconds of the benchmark's own process tree /
logical CPUs`` (psutil, every OS it supports): the work of other processes on the machine is
not charged to the case. How busy those were is recorded beside it (``other_cpu_util_avg_pct``,
``contended``).
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from wattbench.monitors.gauges import TreeReader, own_tree
from wattbench.monitors.protocol import Channel, Poll, SourceOptions
from wattbench.option import bounded_float, setting

DEFAULT_TDP_W = 65.0
CHANNEL = Channel(id="cpu", domain="cpu", kind="counter")
RESOLUTION_S = 0.01  # CPU time advances in clock ticks of 10 ms


class EstimateSource:
    """Estimated CPU energy in J from the own process tree's CPU time and a TDP in W."""

    name = "estimate"
    method = "estimated"
    channels = (CHANNEL,)
    resolution_s = RESOLUTION_S

    def __init__(
        self, tdp_w: float = DEFAULT_TDP_W, tree: TreeReader | None = None, cpus: int | None = None
    ) -> None:
        if tdp_w <= 0:
            raise ValueError(f"CPU TDP must be positive watts, not {tdp_w}")
        self.tdp_w = tdp_w
        self._tree = tree if tree is not None else own_tree()
        self._cpus = cpus or psutil.cpu_count() or 1
        self.description = (
            f"estimate: {tdp_w:g} W TDP x CPU utilisation of this process tree ({self._cpus} "
            "logical CPUs, psutil); not a measurement"
        )

    def poll(self) -> Poll:
        """Estimated cumulative CPU energy in J."""
        return Poll({CHANNEL.id: self.tdp_w * self._tree.cpu_s() / self._cpus})

    def close(self) -> None:
        """Nothing to release."""


def open_estimate(tdp_w: float = DEFAULT_TDP_W, tree: TreeReader | None = None) -> EstimateSource:
    """The estimate source; it works on every machine psutil supports."""
    return EstimateSource(tdp_w, tree)


@dataclass(frozen=True)
class EstimateOptions:
    """The estimate's setting: the CPU's TDP (W), which the process tree's CPU share is charged at."""

    cpu_tdp_w: float = setting("cpu-tdp", bounded_float(1.0, 5000.0), "CPU TDP in W for the estimate "
                               "(default: env CPU_TDP_W, else 65)", env="CPU_TDP_W", unset=DEFAULT_TDP_W)


def from_options(options: SourceOptions) -> EstimateSource:
    """The estimate at the run's --wb-cpu-tdp (monitors/__init__.py's registry opens it so)."""
    return open_estimate(options.get(EstimateOptions).cpu_tdp_w)

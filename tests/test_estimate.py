"""The CPU estimate and the psutil gauges: a fake process tree and machine, and the real ones."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest

from wattbench.monitors.estimate import EstimateSource, open_estimate
from wattbench.monitors.figures import energy_figures, resource_figures
from wattbench.monitors.gauges import MachineCpu, ProcessTree, SystemGauges, machine_cpu
from wattbench.monitors.meter import Meter


class FakeTree:
    """A process tree whose CPU seconds, memory and pids the test sets (the TreeReader protocol)."""

    def __init__(self) -> None:
        self.cpu = 10.0
        self.rss = 300.0

    def cpu_s(self) -> float:
        return self.cpu

    def rss_mb(self) -> float:
        return self.rss

    def pids(self) -> frozenset[int]:
        return frozenset({1234})


def ticking(step: float) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += step


def test_the_estimate_charges_the_own_tree_not_the_machine() -> None:
    tree = FakeTree()
    machine = [MachineCpu(busy_s=100.0, total_s=200.0)]
    clock = ticking(1.0)
    now = [0.0]

    def tick() -> float:
        now[0] = next(clock)
        return now[0]

    gauges = SystemGauges(
        tree, machine=lambda: machine[0], memory_mb=lambda: 4000.0, cpus=2, clock=lambda: now[0]
    )
    source = EstimateSource(100.0, tree, cpus=2)
    assert source.method == "estimated" and "not a measurement" in source.description
    meter = Meter([source], system=gauges, clock=tick)
    window = meter.begin()
    # One second on two CPUs: the own tree used 0.5 CPU-s, other processes 1.2 CPU-s.
    tree.cpu += 0.5
    machine[0] = MachineCpu(busy_s=101.7, total_s=202.0)
    now[0] += 1.0
    reading = meter.end(window)
    figures = energy_figures(meter, reading, [(10, 30)], None)
    assert figures["energy_j"] == pytest.approx(100.0 * 0.5 / 2)  # 25 J: the own tree's share only
    assert (figures["energy_source"], figures["energy_method"]) == ("estimate", "estimated")
    resources = resource_figures(reading)
    assert resources["cpu_util_avg_pct"] == pytest.approx(85.0)
    assert resources["process_cpu_util_avg_pct"] == pytest.approx(25.0)
    assert resources["other_cpu_util_avg_pct"] == pytest.approx(60.0)
    assert resources["contended"] is True
    assert resources["rss_peak_mb"] == 300.0 and resources["system_mem_peak_mb"] == 4000.0


def test_the_tree_counts_a_reaped_child_and_never_goes_back() -> None:
    tree = ProcessTree(refresh_s=0.0)
    before = tree.cpu_s()
    child = psutil.Popen(["python3", "-c", "x = 0\nfor i in range(3_000_000): x += i"])
    assert child.pid in tree.pids()
    child.wait()  # reaped: its time moves into this process's children times
    after = tree.cpu_s()
    assert after - before > 0.05  # the child's loop takes a good tenth of a second or more
    assert tree.cpu_s() >= after
    assert tree.rss_mb() > 10


def test_machine_cpu_time_from_psutil_is_consistent() -> None:
    first = machine_cpu()
    assert 0 <= first.busy_s <= first.total_s
    time.sleep(0.05)
    second = machine_cpu()
    # psutil's times are sums of floats: equal readings can differ in the last bit.
    assert second.total_s >= first.total_s - 1e-6 and second.busy_s >= first.busy_s - 1e-6


def test_the_estimate_runs_on_this_machine() -> None:
    meter = Meter([open_estimate(65.0)], sample_hz=50)
    meter.start()
    try:
        window = meter.begin()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # keep a CPU busy in this process
            sum(range(1000))
        reading = meter.end(window)
    finally:
        meter.close()
    figures = energy_figures(meter, reading, [(1, 1)], None)
    cpus = psutil.cpu_count() or 1
    # This process kept one CPU busy for 0.5 s (less when another helper shares the core).
    assert 0.3 * 65 * 0.5 / cpus < figures["energy_j"] <= 65 * 0.6
    resources = resource_figures(reading)
    # 25 at 50 Hz on a quiet machine; the busy loop holds the GIL, and a loaded CI machine
    # starves the sampler thread further: the figure, not the rate, is what this checks.
    assert resources["samples_count"] >= 3
    assert resources["process_cpu_util_avg_pct"] > 20 / cpus
    assert resources["rss_peak_mb"] > 10


def test_a_tdp_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        open_estimate(0.0)

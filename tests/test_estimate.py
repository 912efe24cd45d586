"""The CPU estimate and the system gauges: fake /proc trees, and the real /proc of this machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wattbench.monitors.estimate import open_estimate
from wattbench.monitors.figures import energy_figures, resource_figures
from wattbench.monitors.meter import Meter
from wattbench.monitors.procfs import SystemGauges, clock_ticks_per_s, read_cpu_times

# user nice system idle iowait irq softirq steal guest guest_nice
STAT = """cpu  {busy} 0 0 {idle} 0 0 0 0 0 0
cpu0 0 0 0 0 0 0 0 0 0 0
cpu1 0 0 0 0 0 0 0 0 0 0
intr 12345
"""


def _proc(tmp_path: Path, busy: int, idle: int) -> Path:
    (tmp_path / "self").mkdir(exist_ok=True)
    (tmp_path / "stat").write_text(STAT.format(busy=busy, idle=idle))
    (tmp_path / "self" / "statm").write_text("5000 2560 300 10 0 900 0\n")
    (tmp_path / "meminfo").write_text("MemTotal:       16384000 kB\nMemAvailable:   12288000 kB\n")
    return tmp_path


def test_proc_stat_parsing_leaves_guest_time_out(tmp_path: Path) -> None:
    # guest time is already inside user time: counting it again would overstate busy time.
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 40 0\ncpu0 1 1 1 1 1 1 1 1\n")
    times = read_cpu_times(stat)
    assert (times.busy, times.total, times.cpus) == (150, 1000, 1)


def test_the_estimate_is_tdp_times_busy_share_of_all_cpus(tmp_path: Path) -> None:
    proc = _proc(tmp_path, busy=100, idle=100)
    source = open_estimate(100.0, proc)
    assert source.method == "estimated" and "not a measurement" in source.description
    clock = iter([0.0, 1.0])
    meter = Meter([source], system=SystemGauges(proc), clock=lambda: next(clock))
    window = meter.begin()
    hz = clock_ticks_per_s()
    # One second on two CPUs: one busy, one idle -> 50% utilisation -> 50 W for 1 s.
    _proc(tmp_path, busy=100 + hz, idle=100 + hz)
    reading = meter.end(window)
    figures = energy_figures(meter, reading, [(10, 30)], None)
    assert figures["energy_j"] == pytest.approx(50.0)
    assert figures["cpu_energy_j"] == pytest.approx(50.0)
    assert (figures["energy_source"], figures["energy_method"]) == ("estimate", "estimated")
    resources = resource_figures(reading)
    assert resources["cpu_util_avg_pct"] == pytest.approx(50.0)
    assert resources["system_mem_peak_mb"] == pytest.approx(4000.0)


def test_the_estimate_runs_on_this_machine() -> None:
    meter = Meter([open_estimate(65.0)], sample_hz=50)
    meter.start()
    try:
        window = meter.begin()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # keep a CPU busy
            sum(range(1000))
        reading = meter.end(window)
    finally:
        meter.close()
    figures = energy_figures(meter, reading, [(1, 1)], None)
    # One of the machine's CPUs was busy for 0.5 s: at least a share of 65 W x 0.5 s.
    cpus = read_cpu_times(Path("/proc/stat")).cpus
    assert 0.5 * 65 * 0.5 / cpus < figures["energy_j"] <= 65 * 0.6
    resources = resource_figures(reading)
    assert resources["samples_count"] >= 10
    assert resources["process_cpu_util_avg_pct"] > 20 / cpus
    assert resources["rss_peak_mb"] > 10


def test_a_tdp_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        open_estimate(0.0)

"""Energy counters that lie (../shared/cases/counters.md): a counter that drops, one that stalls
while its device works, one that updates in bursts. Each window holding one has no figure and a
warning naming the source and the fault, or (a stall, where the device's own power was sampled
across the window) its power integrated instead, labelled so; never a figure "measured" from it.
And the update cadence the sampler learns for each counter (monitors/validity.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pynvml
import pytest
from fakenvml import FakeGpu, FakeNvml

from wattbench.monitors.figures import energy_figures
from wattbench.monitors.meter import Meter
from wattbench.monitors.nvml import open_nvml
from wattbench.monitors.protocol import Channel, Poll
from wattbench.run.energy import EnergyMonitor
from wattbench.settings import Settings

TICK_S = 0.1  # 10 Hz, as the sampler polls


def _ticks() -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += TICK_S


def _window(gpu: FakeGpu, steps_mj: list[int | None]) -> dict[str, object]:
    """A 1.2 s window over ``gpu``: at each poll its counter moves by the step (None: set to
    200 J, the drop), then the figures of the window."""
    source = open_nvml(nvml=FakeNvml([gpu]))
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for step in steps_mj:
        if step is None:
            gpu.energy_mj = 200_000
        else:
            gpu.energy_mj = (gpu.energy_mj or 0) + step
        meter.poll()
    return energy_figures(meter, meter.end(window), [(100, 150)], None)


def test_a_counter_that_drops_mid_window_gives_no_figure_naming_the_drop() -> None:
    # The input: 22,543,283,000 mJ -> +125,000 mJ -> 200,000 mJ -> +125,000 mJ per tick.
    gpu = FakeGpu(energy_mj=22_543_283_000, power_mw=250_000, util_pct=90)
    figures = _window(gpu, [125_000, None, *[125_000] * 9])
    assert figures["energy_j"] is None and figures["gpu_energy_j"] is None  # was 450.0 "measured"
    assert figures["energy_components_j"] == {"nvml:gpu0": None}
    warning = str(figures["energy_warning"])
    assert "nvml:gpu0" in warning and "dropped from 22543408.000 J to 200.000 J" in warning


class _Readings:
    """A counter with no power reading (as RAPL), whose readings a test lists in advance."""

    name = "ctr"
    method = "measured"
    resolution_s = 0.001
    description = "a listed counter"
    channels = (Channel("cpu", "cpu", "counter"),)

    def __init__(self, readings: list[float]) -> None:
        self.readings = iter(readings)

    def poll(self) -> Poll:
        return Poll({"cpu": next(self.readings)})

    def close(self) -> None:
        """Nothing to release."""


def test_a_reading_that_glitches_backward_once_adds_no_huge_figure_to_the_next_window() -> None:
    # amdsmi's counter read backwards under concurrent reads (ROCm/amdsmi#115): one low reading,
    # then the true ones again. The window holding the glitch has no figure; the rise back is
    # not energy: the next window measures only what the counter truly gained.
    before, glitch, after = [1000.0, 1010.0], [5.0], [1020.0 + 10 * i for i in range(12)]
    ticks = _ticks()
    meter = Meter([_Readings(before + glitch + after)], clock=lambda: next(ticks))
    meter.poll()
    first = meter.begin()  # 1010 J
    meter.poll()  # 5 J: the glitch
    figures = energy_figures(meter, meter.end(first), [(10, 20)], None)  # 1020 J
    assert figures["energy_j"] is None and "dropped from 1010.000 J to 5.000 J" in figures["energy_warning"]
    second = meter.begin()
    for _ in range(9):
        meter.poll()
    figures = energy_figures(meter, meter.end(second), [(10, 20)], None)
    assert figures["energy_j"] == pytest.approx(100.0)  # 1030 -> 1130 J, never 1000 J of rise from 5 J


def test_a_glitch_at_a_window_s_opening_reading_is_not_counted_as_its_energy() -> None:
    ticks = _ticks()
    readings = [1000.0, 5.0, *(1010.0 + 10 * i for i in range(12))]
    meter = Meter([_Readings(readings)], clock=lambda: next(ticks))
    meter.poll()
    window = meter.begin()  # opens on the glitch
    for _ in range(10):
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["energy_j"] == pytest.approx(110.0)  # 1000 -> 1110 J, the true gain


def test_a_counter_that_stalls_while_the_gpu_draws_power_integrates_its_power_instead() -> None:
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000, util_pct=90)
    figures = _window(gpu, [0] * 12)
    # 14 polls 0.1 s apart (the window's two edges included): 250 W over 1.3 s, never 0 J measured.
    assert figures["energy_j"] == pytest.approx(325.0) and figures["gpu_energy_j"] == pytest.approx(325.0)
    assert figures["energy_method"] == "integrated"
    warning = str(figures["energy_warning"])
    assert "nvml:gpu0 integrated from its power reading (gpu_power_w)" in warning
    assert "its counter stalled" in warning and "250.0 W" in warning
    assert "min-window" not in warning  # a longer window would not help


def test_a_stalled_counter_whose_power_samples_have_a_gap_gives_no_figure() -> None:
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000, util_pct=90)
    source = open_nvml(nvml=FakeNvml([gpu]))
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for tick in range(12):  # the power reading fails for 0.7 s in the middle of the window
        gpu.power_error = pynvml.NVML_ERROR_UNKNOWN if 2 <= tick < 9 else None
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(100, 150)], None)
    assert figures["energy_j"] is None and figures["energy_components_j"] == {"nvml:gpu0": None}
    warning = str(figures["energy_warning"])
    assert "its counter stalled" in warning and "do not cover the window" in warning


def test_on_two_gpus_only_the_stalled_counter_is_integrated_from_its_own_power() -> None:
    busy = FakeGpu(energy_mj=1_000_000, power_mw=300_000, util_pct=90)
    stuck = FakeGpu(uuid="GPU-1", energy_mj=5_000_000, power_mw=200_000, util_pct=90)
    source = open_nvml(nvml=FakeNvml([busy, stuck]))
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(12):
        busy.energy_mj = (busy.energy_mj or 0) + 30_000  # 300 W over 0.1 s
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(100, 150)], None)
    components = figures["energy_components_j"]
    assert components["nvml:gpu0"] == pytest.approx(12 * 30.0)  # its counter, measured
    assert components["nvml:gpu1"] == pytest.approx(200.0 * 1.3)  # 200 W over the window
    assert figures["energy_j"] == pytest.approx(360.0 + 260.0)
    assert figures["energy_method"] == "integrated"
    assert "nvml:gpu1 integrated from its power reading (gpu1_power_w)" in figures["energy_warning"]
    assert "nvml:gpu0" not in figures["energy_warning"]


class _TwoCounters:
    """A conftest's source: two counters and only their summed power (no power per device)."""

    name = "pair"
    method = "measured"
    resolution_s = 0.1
    description = "two counters, one summed power reading"
    power_gauge = "pair_power_w"
    channels = (Channel("a", "gpu", "counter"), Channel("b", "gpu", "counter"))

    def __init__(self) -> None:
        self.a = self.b = 10.0

    def poll(self) -> Poll:
        self.a += 10.0  # 100 W; b never moves
        return Poll({"a": self.a, "b": self.b}, {"pair_power_w": 200.0})

    def close(self) -> None:
        """Nothing to release."""


def test_a_stalled_counter_whose_power_covers_other_devices_too_gives_no_figure() -> None:
    ticks = _ticks()
    meter = Meter([_TwoCounters()], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(12):
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["energy_j"] is None and figures["energy_components_j"]["pair:b"] is None
    assert "cannot stand in for this one" in figures["energy_warning"]


# -- the cadence each counter is learned at (monitors/validity.py, rule 4) --


class _SlowCounter:
    """A counter that updates once every ``every`` polls, by ``joules`` each time."""

    name = "slow"
    method = "measured"
    resolution_s = 0.001  # what it declares; the sampler learns otherwise
    description = "a counter that updates every second"
    channels = (Channel("gpu0", "gpu", "counter"),)

    def __init__(self, every: int = 10, joules: float = 100.0, power_w: float | None = None) -> None:
        self.every, self.step, self.power_w = every, joules, power_w
        self.polls = 0
        self.joules = 1000.0
        if power_w is not None:
            self.power_gauge = "gpu_power_w"

    def poll(self) -> Poll:
        self.polls += 1
        if self.polls % self.every == 0:
            self.joules += self.step
        gauges = {} if self.power_w is None else {"gpu_power_w": self.power_w}
        return Poll({"gpu0": self.joules}, gauges)

    def close(self) -> None:
        """Nothing to release."""


def _sampled(source: object, polls: int) -> Meter:
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))  # type: ignore[list-item]
    for _ in range(polls):
        meter.poll()
    return meter


def test_the_sampler_learns_a_slow_counter_s_cadence_and_short_windows_are_extended(
    tmp_path: Path,
) -> None:
    source = _SlowCounter(every=10)  # one change a second, seen by a 10 Hz sampler
    meter = _sampled(source, 80)
    assert meter.cadence_s("slow:gpu0") == pytest.approx(1.0)
    assert meter.min_window_s() == pytest.approx(2.0)  # two cadences: one update always inside
    options = Settings(run_dir=tmp_path, energy=("off",), energy_min_window_s=1.0).energy_options()
    monitor = EnergyMonitor(options)
    monitor.meter = meter
    window = meter.begin()
    for _ in range(14):
        meter.poll()
    assert monitor.needs_more(window)  # 1.5 s: long enough for --wb-energy-min-window, not the counter
    for _ in range(6):
        meter.poll()
    assert not monitor.needs_more(window)
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["energy_cadence_s"] == pytest.approx(1.0)
    assert "under 10x the 1 s resolution" in figures["energy_warning"]


def test_a_counter_as_fast_as_the_sampler_keeps_its_declared_resolution() -> None:
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000, util_pct=90)
    ticks = _ticks()
    meter = Meter([open_nvml(nvml=FakeNvml([gpu]))], clock=lambda: next(ticks))
    for _ in range(20):
        gpu.energy_mj = (gpu.energy_mj or 0) + 25_000
        meter.poll()
    assert meter.cadence_s("nvml:gpu0") == pytest.approx(0.1)
    assert meter.min_window_s() == 0.0  # the sampler cannot tell it from its own interval


def test_a_slow_counter_between_updates_is_not_called_stalled() -> None:
    source = _SlowCounter(every=10, power_w=100.0)
    meter = _sampled(source, 61)  # the last change came one poll ago
    window = meter.begin()
    for _ in range(10):  # 1.1 s without a change: shorter than two 1 s cadences
        source.every = 10**6
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["energy_j"] == 0.0 and "stalled" not in figures["energy_warning"]
    assert "did not change" in figures["energy_warning"]


def test_a_counter_that_moves_in_bursts_gives_no_figure() -> None:
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000, util_pct=90)
    figures = _window(gpu, [0] * 11 + [1_200_000])  # 1.2 kJ in one update: 1 kW from a 250 W GPU
    assert figures["energy_j"] is None
    assert "nvml:gpu0: its counter jumped" in str(figures["energy_warning"])


@pytest.mark.parametrize("step_mj", [25_000, 30_000, 20_000])  # 250 W, 300 W, 200 W over 0.1 s
def test_a_true_counter_is_measured(step_mj: int) -> None:
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000, util_pct=90)
    figures = _window(gpu, [step_mj] * 12)
    assert figures["energy_j"] == pytest.approx(12 * step_mj / 1000)
    assert figures["energy_method"] == "measured" and "energy_warning" not in figures


def test_an_idle_gpu_s_short_window_keeps_the_resolution_warning() -> None:
    # Under CHECK_MIN_S the meter cannot tell a stall from a counter between updates.
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000)
    figures = _window(gpu, [0, 0])
    assert figures["energy_j"] == 0.0 and "min-window" in str(figures["energy_warning"])


def test_a_span_of_an_integrated_window_integrates_the_power_over_the_span() -> None:
    # A load point keeps only its steady span of the window (WindowReading.between).
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000, util_pct=90)
    ticks = _ticks()
    meter = Meter([open_nvml(nvml=FakeNvml([gpu]))], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(12):
        meter.poll()
    reading = meter.end(window)
    assert reading.integrated and reading.joules["nvml:gpu0"] == pytest.approx(325.0)
    span = reading.between(0.25, 0.75)
    assert span.joules["nvml:gpu0"] == pytest.approx(125.0) and "nvml:gpu0" in span.integrated

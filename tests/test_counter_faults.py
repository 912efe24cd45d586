"""Energy counters that lie (../shared/cases/counters.md): a counter that drops, one that stalls
while its device works, one that updates in bursts. Each window holding one has no figure and a
warning naming the source and the fault; never a figure "measured" from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakenvml import FakeGpu, FakeNvml

from wattbench.monitors.figures import energy_figures
from wattbench.monitors.meter import Meter
from wattbench.monitors.nvml import open_nvml

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


def test_a_counter_that_stalls_while_the_gpu_draws_power_gives_no_figure() -> None:
    gpu = FakeGpu(energy_mj=1_000_000, power_mw=250_000, util_pct=90)
    figures = _window(gpu, [0] * 12)
    assert figures["energy_j"] is None
    warning = str(figures["energy_warning"])
    assert "nvml:gpu0: its counter stalled" in warning and "250.0 W" in warning
    assert "min-window" not in warning  # a longer window would not help


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

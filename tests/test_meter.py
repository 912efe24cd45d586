"""The meter, the idle baseline and the record figures, over sources that implement the protocol."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from wattbench.errors import EnergySourceError
from wattbench.monitors import SourceOptions, open_sources
from wattbench.monitors.figures import energy_figures
from wattbench.monitors.idle import Idle, IdleError, drift_is_real, measure_idle
from wattbench.monitors.meter import Meter
from wattbench.monitors.protocol import Channel, Poll


class PowerSource:
    """A source with one power channel whose watts the test sets."""

    name = "fake"
    method = "integrated"
    resolution_s = 0.001
    description = "fake power"

    def __init__(self, watts: float = 10.0, fail: bool = False) -> None:
        self.channels = (Channel("board", "board", "power"),)
        self.watts = watts
        self.fail = fail
        self.closed = False

    def poll(self) -> Poll:
        if self.fail:
            raise OSError("sensor gone")
        return Poll({"board": self.watts})

    def close(self) -> None:
        self.closed = True


class CounterSource(PowerSource):
    name = "counter"
    method = "measured"
    resolution_s = 0.1

    def __init__(self) -> None:
        super().__init__()
        self.channels = (Channel("gpu0", "gpu", "counter"),)
        self.joules = 100.0

    def poll(self) -> Poll:
        return Poll({"gpu0": self.joules})


def ticking(step: float) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += step


def test_idle_baseline_and_net_energy() -> None:
    source = PowerSource(watts=20.0)
    ticks = ticking(0.25)
    meter = Meter([source], clock=lambda: next(ticks))
    idle = measure_idle(meter, 1.0, sleep=lambda s: None)
    assert idle.power_w == pytest.approx(20.0) and idle.sd_w == pytest.approx(0.0)
    assert idle.chunks_count == 10 and idle.channels_w == {"fake:board": pytest.approx(20.0)}
    window = meter.begin()
    source.watts = 60.0
    for _ in range(3):
        meter.poll()
    reading = meter.end(window)  # 1 s: 20 -> 60 W over the first 0.25 s, then 60 W
    gross = (20 + 60) / 2 * 0.25 + 60 * 0.75
    figures = energy_figures(meter, reading, [(8, 20), (8, 20)], idle)  # two generations
    assert figures["energy_j"] == pytest.approx(gross / 2)
    assert figures["energy_net_j"] == pytest.approx((gross - 20.0 * 1.0) / 2)
    assert figures["energy_per_token_j"] == pytest.approx(gross / 16)
    assert figures["energy_net_per_token_j"] == pytest.approx((gross - 20.0) / 16)
    assert figures["idle_power_w"] == pytest.approx(20.0)
    assert figures["energy_window_generations_count"] == 2


def test_drift_must_exceed_both_the_threshold_and_the_noise() -> None:
    steady = Idle(power_w=100.0, sd_w=1.0, duration_s=10, chunks_count=10, channels_w={})
    hotter = Idle(power_w=120.0, sd_w=1.0, duration_s=10, chunks_count=10, channels_w={})
    jittery = Idle(power_w=1.0, sd_w=3.0, duration_s=10, chunks_count=10, channels_w={})
    jittery_after = Idle(power_w=0.2, sd_w=0.5, duration_s=10, chunks_count=10, channels_w={})
    assert drift_is_real(steady, hotter, 10.0)
    assert not drift_is_real(steady, steady, 10.0)
    assert not drift_is_real(jittery, jittery_after, 10.0)  # -80%, but inside the noise


def test_a_counter_that_never_moved_is_flagged_not_reported_as_a_silent_zero() -> None:
    source = CounterSource()
    ticks = ticking(0.02)
    meter = Meter([source], clock=lambda: next(ticks))
    reading = meter.end(meter.begin())
    figures = energy_figures(meter, reading, [(4, 10)], None)
    assert figures["energy_j"] == 0.0
    assert "did not change" in figures["energy_warning"]
    source.joules = 101.0
    window = meter.begin()
    source.joules = 102.0
    figures = energy_figures(meter, meter.end(window), [(4, 10)], None)
    assert "under 10x the 0.1 s resolution" in figures["energy_warning"]


def test_a_long_enough_window_carries_no_warning() -> None:
    source = CounterSource()
    ticks = ticking(2.0)
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    source.joules += 50
    figures = energy_figures(meter, meter.end(window), [(4, 10)], None)
    assert "energy_warning" not in figures and figures["energy_j"] == 50


def test_the_sampler_polls_in_the_background_and_survives_a_failing_source() -> None:
    good, bad = PowerSource(), PowerSource(fail=True)
    bad.name = "bad"
    meter = Meter([good, bad], sample_hz=50)
    meter.start()
    try:
        window = meter.begin()
        time.sleep(0.3)
        reading = meter.end(window)
    finally:
        meter.close()
    assert len(reading.samples) >= 8
    assert reading.joules["fake:board"] == pytest.approx(10.0 * reading.duration_s)
    assert "sensor gone" in meter.errors["bad"]
    assert good.closed and bad.closed


def test_no_samples_are_kept_outside_windows() -> None:
    meter = Meter([PowerSource()])
    for _ in range(100):
        meter.poll()
    window = meter.begin()
    meter.poll()
    assert len(meter.end(window).samples) == 3


def test_auto_selection_on_this_machine_falls_back_to_the_labelled_estimate() -> None:
    selection = open_sources(("auto",), SourceOptions())
    names = [s.name for s in selection.sources]
    if names != ["estimate"]:
        pytest.skip(f"this machine measures energy: {names}")
    notes = [note.split(":")[0] for note in selection.notes]
    assert notes == ["NVML", "amdsmi", "RAPL", "Jetson", "powermetrics"]
    assert selection.sources[0].method == "estimated"


def test_a_source_asked_for_by_name_must_work() -> None:
    if open_sources(("auto",), SourceOptions()).sources[0].name != "estimate":
        pytest.skip("this machine measures energy")
    with pytest.raises(EnergySourceError, match="RAPL"):
        open_sources(("estimate", "rapl"), SourceOptions())
    assert open_sources(("off",), SourceOptions()).sources == []


def test_a_negative_net_energy_is_never_silent() -> None:
    source = PowerSource(watts=50.0)
    ticks = ticking(0.25)
    meter = Meter([source], clock=lambda: next(ticks))
    idle = measure_idle(meter, 1.0, sleep=lambda s: None)  # 50 W "idle": something else ran
    source.watts = 20.0
    window = meter.begin()
    meter.poll()
    figures = energy_figures(meter, meter.end(window), [(5, 10)], idle)
    assert figures["energy_net_j"] < 0
    assert "net energy is negative" in figures["energy_warning"]
    assert "idle baseline (50.00 W) is above this window's mean power" in figures["energy_warning"]


def test_an_idle_baseline_above_half_the_tdp_is_flagged() -> None:
    source = PowerSource(watts=58.0)
    source.channels = (Channel("package-0", "cpu", "power"),)
    source.poll = lambda: Poll({"package-0": source.watts})  # type: ignore[method-assign]
    ticks = ticking(0.25)
    meter = Meter([source], clock=lambda: next(ticks))
    idle = measure_idle(meter, 1.0, sleep=lambda s: None, cpu_tdp_w=65.0)
    assert idle.warning is not None and "idle CPU power 58.0 W is above half the 65 W TDP" in idle.warning
    quiet = measure_idle(meter, 1.0, sleep=lambda s: None, cpu_tdp_w=200.0)
    assert quiet.warning is None or "TDP" not in quiet.warning


def test_a_source_that_always_fails_leaves_a_record_without_energy() -> None:
    bad = PowerSource(fail=True)
    ticks = ticking(0.5)
    meter = Meter([bad], clock=lambda: next(ticks))
    reading = meter.end(meter.begin())
    assert reading.failed == {"fake:board": "OSError: sensor gone"}
    figures = energy_figures(meter, reading, [(4, 10)], None)
    assert figures["energy_j"] is None and figures["board_energy_j"] is None
    assert "no figure for fake:board: its reading failed in this window (OSError: sensor gone)" in (
        figures["energy_warning"]
    )
    with pytest.raises(IdleError, match="every idle chunk had a channel that failed"):
        measure_idle(meter, 0.2, sleep=lambda s: None)

"""The energy maths: counter deltas across wrap-around, and power integrated over uneven time."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbench.monitors.integrate import Accumulator, counter_delta, trapezoid

WRAP = 262143.328850  # J: a real RAPL max_energy_range_uj (262143328850 uJ) in joules

steps = st.lists(st.floats(min_value=0, max_value=WRAP * 0.99, allow_nan=False), min_size=1, max_size=50)


@given(start=st.floats(min_value=0, max_value=WRAP, exclude_max=True), increments=steps)
def test_a_wrapping_counter_adds_up_to_the_true_energy(start: float, increments: list[float]) -> None:
    # The hardware counter holds (true energy mod WRAP); each step is under one full wrap.
    acc = Accumulator("counter", wrap_j=WRAP)
    true = start
    acc.feed(0.0, start % WRAP)
    for t, step in enumerate(increments, 1):
        true += step
        acc.feed(float(t), true % WRAP)
    assert acc.joules == pytest.approx(true - start, rel=1e-9, abs=1e-6)


def test_a_wrap_is_counted_once_from_the_range() -> None:
    assert counter_delta(WRAP - 10.0, 5.0, WRAP) == pytest.approx(15.0)
    assert counter_delta(100.0, 150.0, WRAP) == 50.0


def test_a_counter_without_a_range_that_goes_down_adds_nothing_and_is_a_fault() -> None:
    # Never a wrap, never a figure from the post-drop value (../shared/cases/counters.md).
    with pytest.raises(ValueError, match="went down"):
        counter_delta(5_000.0, 12.0, None)
    acc = Accumulator("counter")
    for t, value in enumerate([22_543_283.0, 22_543_408.0, 200.0, 325.0]):
        acc.feed(float(t), value)
    assert acc.joules == pytest.approx(250.0)  # the two true steps, nothing for the drop
    assert acc.faults == 1 and acc.last_fault == "its counter dropped from 22543408.000 J to 200.000 J"


def test_counter_updates_count_changes_only() -> None:
    acc = Accumulator("counter")
    for t, value in enumerate([1.0, 1.0, 1.5, 1.5, 1.5, 2.0]):
        acc.feed(float(t), value)
    assert acc.updates == 2 and acc.joules == 1.0


times = st.lists(
    st.floats(min_value=1e-4, max_value=10, allow_nan=False), min_size=1, max_size=40
).map(lambda gaps: list(itertools.accumulate(gaps)))


@given(times=times, watts=st.floats(min_value=0, max_value=1000, allow_nan=False))
def test_constant_power_integrates_to_power_times_time(times: list[float], watts: float) -> None:
    samples = [(t, watts) for t in [0.0, *times]]
    assert trapezoid(samples) == pytest.approx(watts * times[-1], rel=1e-9, abs=1e-9)


ramp = st.floats(min_value=0, max_value=100)


@given(times=times, slope=ramp, offset=st.floats(min_value=0, max_value=500))
def test_a_linear_ramp_is_integrated_exactly_on_uneven_samples(
    times: list[float], slope: float, offset: float
) -> None:
    samples = [(t, offset + slope * t) for t in [0.0, *times]]
    end = times[-1]
    assert trapezoid(samples) == pytest.approx(offset * end + slope * end**2 / 2, rel=1e-9, abs=1e-9)


@given(
    times=times,
    watts=st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=41, max_size=41),
    cut=st.integers(min_value=0, max_value=40),
)
def test_power_integration_is_additive_and_never_negative(
    times: list[float], watts: list[float], cut: int
) -> None:
    samples = list(zip([0.0, *times], watts))
    cut = min(cut, len(samples) - 1)
    whole = trapezoid(samples)
    assert whole >= 0
    parts = trapezoid(samples[: cut + 1]) + trapezoid(samples[cut:])
    assert whole == pytest.approx(parts, rel=1e-9, abs=1e-9)
    acc = Accumulator("power")
    for t, w in samples:
        acc.feed(t, w)
    assert acc.joules == pytest.approx(whole, rel=1e-9, abs=1e-9)
    assert acc.updates == len(samples)

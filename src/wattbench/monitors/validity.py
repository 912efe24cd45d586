"""Counter validity: whether a counter's figure for a window can be true, for every counter source.

NVML, RAPL, amdsmi, the estimate and a conftest's source all pass through these rules: the meter
applies them (monitors/meter.py), no source applies its own. Each rule, and where it comes from:

1. *drop*: a counter without a declared wrap range reads lower than before. The window has no
   figure, and the fault names the drop. Intel's counter fell from 22.5 MJ to 200 J on an idle
   GPU and a tool reported 3.69 TW (intel/compute-runtime#938, intel/xpumanager#130); amdsmi's
   runs backwards under concurrent reads (ROCm/amdsmi#115). It needs consecutive readings, so it
   is applied as they arrive (``integrate.Accumulator.feed``); RAPL's declared wrap at
   ``max_energy_range_uj`` is still a wrap.
2. *stall*: a counter does not move over a window of at least CHECK_MIN_S (and at least
   TOO_SHORT_CADENCES of its learned cadence) while its device's power reading averages
   STALL_MIN_W or more (macOS froze its CPU energy channel at 0 W under load: vladkens/macmon#76,
   exelban/stats#3336). Never 0 J measured. Where the source reads that device's own power
   (``channel_power_gauges``, or ``power_gauge`` when the source has one counter) and the
   samples cover the window (MIN_POWER_SAMPLES or more, no gap over MAX_GAP_INTERVALS sampler
   intervals), the window integrates that power instead, labelled ``integrated`` with the
   reason; otherwise it has no figure, with the reason.
3. *burst*: over a window of at least CHECK_MIN_S the counter's mean power exceeds BURST_FACTOR
   x the highest power reading plus BURST_SLACK_W: updates held back and released at once
   (Apple M5's energy updates in bursts, one window reading 0 and the next double:
   lablup/all-smi#410). No figure.
4. *cadence*: each counter's update cadence is learned during the run, from the intervals
   between its value changes as the sampler sees them (the median of the last ones). A window
   shorter than TOO_SHORT_CADENCES cadences is *too short*: the runner repeats the generation
   inside it (the --wb-energy-min-window rule), and the resolution warning counts the cadence.
   A cadence the sampler cannot tell from its own interval (at most CADENCE_SEEN_FACTOR times
   it) says only that the counter is at least that fast: the source's declared resolution
   stands. The estimate's counter (the benchmark's own CPU time) has no update cadence: its
   pauses are idleness, and it is left out.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wattbench.monitors.integrate import trapezoid
from wattbench.monitors.protocol import EnergySource

if TYPE_CHECKING:  # a type only: the meter imports this module
    from wattbench.monitors.meter import Sample, WindowReading

CHECK_MIN_S = 1.0
"""A window at least this long is checked against the source's power reading: long against any
counter's update interval (NVML 20-100 ms, RAPL 1 ms), so a counter that did not move, or moved
far more than the power allows, is not chance."""
STALL_MIN_W = 1.0  # a power reading above this says the device works: its counter must move
BURST_FACTOR = 3.0  # a counter's mean power above this many times the highest power reading...
BURST_SLACK_W = 5.0  # ...plus this, is a burst of updates held back, not energy of this window
CADENCE_MIN_GAPS = 4  # intervals between changes needed before a counter's cadence is known
CADENCE_SEEN_FACTOR = 1.5  # a cadence at most this x the sampler's interval is the sampler's own
TOO_SHORT_CADENCES = 2.0
"""A window must last this many update cadences of every counted counter: over one cadence the
phase decides whether it sees zero updates (0 J) or one (twice the energy); over two, at least
one update always falls inside it."""
CADENCE_WINDOW_CAP_S = 60.0  # the cadence never asks for windows longer than this
MIN_POWER_SAMPLES = 5  # power samples a stalled counter's window needs to be integrated instead
MAX_GAP_INTERVALS = 4.0  # ...with no gap between them longer than this many sampler intervals


def learned_cadence(change_times: Sequence[float]) -> float | None:
    """Median seconds between a counter's value changes (monotonic times as the sampler saw
    them), or None before CADENCE_MIN_GAPS intervals were seen."""
    gaps = [b - a for a, b in itertools.pairwise(change_times)]
    return statistics.median(gaps) if len(gaps) >= CADENCE_MIN_GAPS else None


def slow_cadence(cadence_s: float | None, interval_s: float) -> float | None:
    """The cadence where it is slower than the sampler can see (above CADENCE_SEEN_FACTOR x its
    ``interval_s``); None where unknown or as fast as the sampler."""
    if cadence_s is None or cadence_s <= CADENCE_SEEN_FACTOR * interval_s:
        return None
    return cadence_s


def too_short_s(cadence_s: float | None) -> float:
    """The shortest window (s) a counter of slow cadence ``cadence_s`` allows; 0 without one."""
    if cadence_s is None:
        return 0.0
    return min(TOO_SHORT_CADENCES * cadence_s, CADENCE_WINDOW_CAP_S)


@dataclass(frozen=True)
class Integrated:
    """A counter channel whose window figure is its device's power integrated instead."""

    gauge: str  # the gauge key of that device's power (W) in Poll.gauges
    reason: str  # why the counter's own figure was not used


@dataclass(frozen=True)
class Verdict:
    """What the window-end rules found: channels with no figure, and channels integrated."""

    failed: dict[str, str] = field(default_factory=dict)  # channel key -> why there is no figure
    integrated: dict[str, Integrated] = field(default_factory=dict)


def channel_gauges(source: EnergySource) -> dict[str, str]:
    """Counter channel id -> the gauge key holding that channel's own device power (W): the
    source's ``channel_power_gauges``, else its ``power_gauge`` when it has one counter."""
    own: Mapping[str, str] = getattr(source, "channel_power_gauges", None) or {}
    whole = getattr(source, "power_gauge", None)
    counters = [c.id for c in source.channels if c.kind == "counter"]
    gauges = {cid: own[cid] for cid in counters if cid in own}
    if whole and len(counters) == 1 and counters[0] not in gauges:
        gauges[counters[0]] = whole
    return gauges


def power_points(
    samples: Sequence[Sample], gauge: str, interval_s: float | None
) -> list[tuple[float, float]] | None:
    """(t, W) of ``gauge`` across the samples, held flat to the window's edges; None when they
    do not cover it: fewer than MIN_POWER_SAMPLES, or a gap (edges included) longer than
    MAX_GAP_INTERVALS sampler intervals (``interval_s``; None: any sample at all covers it)."""
    if not samples:
        return None
    points = [(s.t, float(s.gauges[gauge])) for s in samples if gauge in s.gauges]
    if not points or (interval_s is not None and len(points) < MIN_POWER_SAMPLES):
        return None
    start, end = samples[0].t, samples[-1].t
    times = [start, *(t for t, _w in points), end]
    longest = None if interval_s is None else MAX_GAP_INTERVALS * interval_s
    if longest is not None and max(b - a for a, b in itertools.pairwise(times)) > longest:
        return None
    if points[0][0] > start:
        points.insert(0, (start, points[0][1]))
    if points[-1][0] < end:
        points.append((end, points[-1][1]))
    return points


def power_joules(samples: Sequence[Sample], gauge: str, interval_s: float | None) -> float | None:
    """Energy (J) of ``gauge``'s power integrated over the samples; None where they do not cover
    the window (power_points)."""
    points = power_points(samples, gauge, interval_s)
    return None if points is None else trapezoid(points)


def check_window(
    sources: Sequence[EnergySource],
    reading: WindowReading,
    cadences: Mapping[str, float | None],
    interval_s: float,
) -> Verdict:
    """Rules 2 and 3 (and the cadence's part in them) over one closed window; ``cadences`` holds
    each counter channel's slow cadence (s) or None, ``interval_s`` is the sampler's interval."""
    verdict = Verdict()
    if reading.duration_s < CHECK_MIN_S:
        return verdict
    for source in sources:
        whole = getattr(source, "power_gauge", None)
        own = channel_gauges(source)
        counters = [f"{source.name}:{c.id}" for c in source.channels if c.kind == "counter"]
        counters = [key for key in counters if key not in reading.failed]
        together: list[str] = []  # counters checked against the source's summed power
        for key in counters:
            cid = key.split(":", 1)[1]
            gauge = own.get(cid)
            if gauge is None:
                together.append(key)
                continue
            _check(verdict, reading, [key], gauge, cadences, interval_s, integrate=True)
        if together and whole:
            _check(verdict, reading, together, whole, cadences, interval_s, integrate=False)
    return verdict


def _check(
    verdict: Verdict, reading: WindowReading, keys: list[str], gauge: str,
    cadences: Mapping[str, float | None], interval_s: float, integrate: bool,
) -> None:
    """Stall and burst of ``keys`` against the power in ``gauge`` (their one device's where
    ``integrate``, else the sum over the source's devices)."""
    powers = [s.gauges[gauge] for s in reading.samples if gauge in s.gauges]
    if len(powers) < 3:
        return
    mean_w, top_w = sum(powers) / len(powers), max(powers)
    joules = sum(reading.joules[key] for key in keys)
    counter_w = joules / reading.duration_s
    for key in keys:
        if reading.updates[key] == 0 and mean_w >= STALL_MIN_W:
            long_enough = too_short_s(cadences.get(key))
            if reading.duration_s < long_enough:
                continue  # a slow counter may hold still this long: the window is too short
            why = (
                f"its counter stalled: no change over {reading.duration_s:.2f} s while the "
                f"device's power reading averaged {mean_w:.1f} W (a stalled counter is not 0 J)"
            )
            if integrate and power_points(reading.samples, gauge, interval_s) is not None:
                verdict.integrated[key] = Integrated(gauge, why)
            elif integrate:
                verdict.failed[key] = (
                    f"{why}; its power samples do not cover the window well enough to integrate "
                    f"instead (fewer than {MIN_POWER_SAMPLES}, or a gap over "
                    f"{MAX_GAP_INTERVALS:g} sampler intervals)"
                )
            else:
                verdict.failed[key] = (
                    f"{why}; the source's power reading covers all its devices, so it cannot stand "
                    "in for this one"
                )
        elif counter_w > BURST_FACTOR * top_w + BURST_SLACK_W:
            verdict.failed[key] = (
                f"its counter jumped: {joules:.1f} J over {reading.duration_s:.2f} s is "
                f"{counter_w:.0f} W, while the device's power reading never exceeded {top_w:.0f} W "
                "(updates held back and released in a burst)"
            )

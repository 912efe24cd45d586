"""The idle baseline: the machine's power with the model loaded and nothing generating.

Measured for a few seconds before the first case (and, if asked, after the last), in chunks, so
it comes with a spread. A case's net energy is its gross energy minus idle power x its window.
None of Zeus, codecarbon, optimum-benchmark or AI Energy Score subtracts idle power; wattbench
reports both figures, with the idle one beside them.

MLPerf's power rules and Zeus both assume a quiet machine; wattbench checks it. The baseline is
flagged (``Idle.warning``, copied into every record as ``idle_warning`` and printed at the end of
the run) when, while it was measured:
- other processes used more than CONTENDED_OTHER_CPU_PCT of all CPUs, or ran on a measured GPU;
- the CPU channels' idle power was above half the CPU's TDP (--wb-cpu-tdp): an idle CPU package
  draws far less, so something was running.
Chunks in which a counted channel failed to read are left out; if every chunk failed there is no
baseline (IdleError).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from wattbench.monitors.gauges import CONTENDED_OTHER_CPU_PCT
from wattbench.monitors.meter import Meter, WindowReading

IDLE_TDP_SHARE = 0.5  # idle CPU power above this share of the TDP means the machine is not idle


class IdleError(Exception):
    """No idle baseline could be measured (every chunk had a channel that failed to read)."""


@dataclass(frozen=True)
class Idle:
    """Idle power (W) of the counted channels: mean, spread over chunks, and per channel."""

    power_w: float
    sd_w: float
    duration_s: float
    chunks_count: int
    channels_w: dict[str, float]
    other_cpu_util_avg_pct: float | None = None
    gpu_other_processes_count: int | None = None
    warning: str | None = None  # why the machine was not idle; None when it was

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def total_joules(meter: Meter, reading: WindowReading) -> float:
    """Energy (J) of the channels that count towards the total (no joule counted twice)."""
    return sum(j for key, j in reading.joules.items() if meter.channels[key][1].in_total)


def _gauge_mean(readings: list[WindowReading], gauge: str) -> float | None:
    """Time-weighted mean of an interval gauge over the chunks (each chunk's first sample
    describes time before it, and is left out)."""
    weighted = [
        (b.gauges[gauge], b.t - a.t)
        for r in readings
        for a, b in zip(r.samples, r.samples[1:])
        if gauge in b.gauges
    ]
    span = sum(dt for _, dt in weighted)
    if not weighted:
        return None
    return sum(v * dt for v, dt in weighted) / span if span else weighted[-1][0]


def measure_idle(
    meter: Meter, seconds: float, sleep: Callable[[float], None] = time.sleep,
    cpu_tdp_w: float | None = None,
) -> Idle:
    """Idle power over ``seconds``, in up to ten chunks of at least 0.1 s each.

    Raises IdleError when no chunk could be read; ``cpu_tdp_w`` (W) enables the TDP check.
    """
    chunks = max(2, min(10, int(seconds / 0.1)))
    readings = []
    for _ in range(chunks):
        window = meter.begin()
        sleep(seconds / chunks)
        readings.append(meter.end(window))
    counted = {k for k, (_s, c) in meter.channels.items() if c.in_total}
    good = [r for r in readings if not counted & r.failed.keys()]
    if not good:
        errors = sorted({e for r in readings for e in r.failed.values()})
        raise IdleError(f"every idle chunk had a channel that failed to read ({'; '.join(errors)})")
    powers = [total_joules(meter, r) / r.duration_s for r in good if r.duration_s > 0]
    duration = sum(r.duration_s for r in good)
    channels_w = {
        key: sum(r.joules[key] for r in good) / duration if duration else 0.0
        for key in meter.channels
    }
    other_cpu = _gauge_mean(readings, "other_cpu_util_pct")
    gpu_others = [
        int(s.gauges["gpu_other_processes_count"])
        for r in readings for s in r.samples if "gpu_other_processes_count" in s.gauges
    ]
    gpu_other = max(gpu_others) if gpu_others else None
    reasons = []
    if other_cpu is not None and other_cpu > CONTENDED_OTHER_CPU_PCT:
        reasons.append(
            f"other processes used {other_cpu:.0f}% of all CPUs while it was measured "
            f"(threshold {CONTENDED_OTHER_CPU_PCT:g}%)"
        )
    if gpu_other:
        reasons.append(f"{gpu_other} other process(es) ran on the measured GPUs")
    cpu_w = sum(w for key, w in channels_w.items() if meter.channels[key][1].domain == "cpu")
    if cpu_tdp_w and cpu_w > IDLE_TDP_SHARE * cpu_tdp_w:
        reasons.append(
            f"idle CPU power {cpu_w:.1f} W is above half the {cpu_tdp_w:g} W TDP"
        )
    return Idle(
        power_w=statistics.fmean(powers) if powers else 0.0,
        sd_w=statistics.stdev(powers) if len(powers) > 1 else 0.0,
        duration_s=duration,
        chunks_count=len(good),
        channels_w=channels_w,
        other_cpu_util_avg_pct=other_cpu,
        gpu_other_processes_count=gpu_other,
        warning=(
            "the machine was not idle during the idle baseline: " + "; ".join(reasons)
            + ": net energies are too low; stop the other load and run again"
        ) if reasons else None,
    )


def drift_is_real(before: Idle, after: Idle, threshold_pct: float) -> bool:
    """Whether idle power moved more than ``threshold_pct`` AND more than its own noise.

    Noise is two standard errors of the difference of the two means (chunks as samples), so
    a jittery low idle figure (a few watts of estimate) does not raise a false alarm.
    """
    drift = drift_pct(before, after)
    if drift is None or abs(drift) <= threshold_pct:
        return False
    noise = math.sqrt(
        before.sd_w**2 / max(before.chunks_count, 1) + after.sd_w**2 / max(after.chunks_count, 1)
    )
    return abs(after.power_w - before.power_w) > 2 * noise


def drift_pct(before: Idle, after: Idle) -> float | None:
    """Change of idle power from before the first case to after the last, in %."""
    if before.power_w <= 0:
        return None
    return 100.0 * (after.power_w - before.power_w) / before.power_w

"""The idle baseline: the machine's power with the model loaded and nothing generating.

Measured for a few seconds before the first case (and, if asked, after the last), in chunks, so
it comes with a spread. A case's net energy is its gross energy minus idle power x its window.
None of Zeus, codecarbon, optimum-benchmark or AI Energy Score subtracts idle power; wattbench
reports both figures, with the idle one beside them.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from wattbench.monitors.meter import Meter, WindowReading


@dataclass(frozen=True)
class Idle:
    """Idle power (W) of the counted channels: mean, spread over chunks, and per channel."""

    power_w: float
    sd_w: float
    duration_s: float
    chunks_count: int
    channels_w: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def total_joules(meter: Meter, reading: WindowReading) -> float:
    """Energy (J) of the channels that count towards the total (no joule counted twice)."""
    return sum(j for key, j in reading.joules.items() if meter.channels[key][1].in_total)


def measure_idle(meter: Meter, seconds: float, sleep: Callable[[float], None] = time.sleep) -> Idle:
    """Idle power over ``seconds``, in up to ten chunks of at least 0.1 s each."""
    chunks = max(2, min(10, int(seconds / 0.1)))
    readings = []
    for _ in range(chunks):
        window = meter.begin()
        sleep(seconds / chunks)
        readings.append(meter.end(window))
    powers = [total_joules(meter, r) / r.duration_s for r in readings if r.duration_s > 0]
    duration = sum(r.duration_s for r in readings)
    channels_w = {
        key: sum(r.joules[key] for r in readings) / duration if duration else 0.0
        for key in meter.channels
    }
    return Idle(
        power_w=statistics.fmean(powers) if powers else 0.0,
        sd_w=statistics.stdev(powers) if len(powers) > 1 else 0.0,
        duration_s=duration,
        chunks_count=len(readings),
        channels_w=channels_w,
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

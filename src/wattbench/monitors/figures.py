"""Record figures from a closed window: energy (gross, net, per token) and resource peaks.

A window may hold several generations of the same case (repeated until the window is long
enough for the source to resolve, see --wb-energy-min-window); energy is then divided by their
number, and energy per token uses the tokens of all of them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wattbench.monitors.idle import Idle, total_joules
from wattbench.monitors.meter import Meter, Sample, WindowReading
from wattbench.monitors.protocol import METHODS

DOMAIN_KEYS = {
    "gpu": "gpu_energy_j",
    "cpu": "cpu_energy_j",
    "dram": "dram_energy_j",
    "board": "board_energy_j",
}

# gauge -> (key of its time-weighted average, key of its peak) in the record
GAUGES: dict[str, tuple[str | None, str | None]] = {
    "cpu_util_pct": ("cpu_util_avg_pct", "cpu_util_peak_pct"),
    "process_cpu_util_pct": ("process_cpu_util_avg_pct", None),
    "rss_mb": (None, "rss_peak_mb"),
    "system_mem_mb": (None, "system_mem_peak_mb"),
    "gpu_util_pct": ("gpu_util_avg_pct", "gpu_util_peak_pct"),
    "gpu_mem_mb": (None, "gpu_mem_peak_mb"),
    "gpu_temp_c": (None, "gpu_temp_peak_c"),
    "gpu_power_w": ("gpu_power_avg_w", "gpu_power_peak_w"),
}


def source_label(meter: Meter) -> tuple[str, str]:
    """(energy_source, energy_method): the sources' names and the weakest method among them."""
    names = "+".join(s.name for s in meter.sources)
    method = max((s.method for s in meter.sources), key=METHODS.index)
    return names, method


def energy_figures(
    meter: Meter,
    reading: WindowReading,
    tokens: Sequence[tuple[int, int]],
    idle: Idle | None,
) -> dict[str, Any]:
    """Energy keys for one case run; ``tokens`` holds (completion, total) per generation."""
    if not meter.sources:
        return {}
    generations = len(tokens)
    gross = total_joules(meter, reading)
    completion = sum(c for c, _ in tokens)
    total_tokens = sum(t for _, t in tokens)
    source, method = source_label(meter)
    figures: dict[str, Any] = {
        "energy_j": gross / generations,
        "energy_per_token_j": gross / completion if completion else None,
        "energy_per_total_token_j": gross / total_tokens if total_tokens else None,
        "energy_source": source,
        "energy_method": method,
        "energy_window_s": reading.duration_s,
        "energy_window_generations_count": generations,
        "energy_components_j": {key: j / generations for key, j in reading.joules.items()},
    }
    for domain, key in DOMAIN_KEYS.items():
        parts = [j for k, j in reading.joules.items() if meter.channels[k][1].domain == domain]
        if parts:
            figures[key] = sum(parts) / generations
    counters = [reading.updates[k] for k, (_s, c) in meter.channels.items() if c.kind == "counter"]
    samples = [reading.updates[k] for k, (_s, c) in meter.channels.items() if c.kind == "power"]
    figures["energy_updates_count"] = min(counters + samples)
    if idle is not None:
        net = (gross - idle.power_w * reading.duration_s) / generations
        figures.update(
            idle_power_w=idle.power_w,
            idle_power_sd_w=idle.sd_w,
            energy_net_j=net,
            energy_net_per_token_j=net * generations / completion if completion else None,
        )
    warning = _resolution_warning(meter, reading)
    if warning:
        figures["energy_warning"] = warning
    return figures


def _resolution_warning(meter: Meter, reading: WindowReading) -> str | None:
    """Why the window's energy may be unreliable, or None."""
    if any(reading.updates[k] == 0 for k, (_s, c) in meter.channels.items() if c.kind == "counter"):
        return (
            f"a counter did not change during the {reading.duration_s:.3f} s window: its energy "
            "reads 0 J; raise --wb-energy-min-window"
        )
    # A sampled power source resolves no finer than the sampler's interval.
    resolution = max(
        max(s.resolution_s, meter.interval_s if s.method == "integrated" else 0.0) for s in meter.sources
    )
    if reading.duration_s < 10 * resolution:
        bound = 200 * resolution / reading.duration_s if reading.duration_s else float("inf")
        return (
            f"window {reading.duration_s:.3f} s is under 10x the {resolution:g} s resolution: energy "
            f"may be off by up to ~{bound:.0f}%; raise --wb-energy-min-window"
        )
    return None


def resource_figures(reading: WindowReading) -> dict[str, Any]:
    """Peaks and time-weighted averages of the gauges over the window's samples."""
    # The opening sample's interval-averaged gauges (utilisation) describe time before the
    # window, so only the samples after it count; each weighs the interval it closes.
    pairs = list(zip(reading.samples, reading.samples[1:]))
    figures: dict[str, Any] = {"samples_count": len(reading.samples)}
    for gauge, (avg_key, peak_key) in GAUGES.items():
        weighted = [(b.gauges[gauge], b.t - a.t) for a, b in pairs if gauge in b.gauges]
        if not weighted:
            continue
        if peak_key:
            figures[peak_key] = max(v for v, _ in weighted)
        if avg_key:
            span = sum(dt for _, dt in weighted)
            figures[avg_key] = (
                sum(v * dt for v, dt in weighted) / span if span else weighted[-1][0]
            )
    return figures


def write_series(path: Path, samples: Sequence[Sample]) -> None:
    """The window's samples as CSV: time from the window's start, gauges, cumulative J per channel."""
    if not samples:
        return
    gauges = sorted({g for s in samples for g in s.gauges})
    channels = sorted(samples[0].joules)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", *gauges, *(f"{c}_j" for c in channels)])
        t0, j0 = samples[0].t, samples[0].joules
        for s in samples:
            writer.writerow(
                [f"{s.t - t0:.4f}", *(s.gauges.get(g, "") for g in gauges),
                 *(f"{s.joules[c] - j0[c]:.6f}" for c in channels)]
            )

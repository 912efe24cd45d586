"""Record figures from a closed window: energy (gross, net, per token) and resource peaks.

A window may hold several generations of the same case (repeated until the window is long
enough for the source to resolve, see --wb-energy-min-window); energy is then divided by their
number, and energy per token uses the tokens of all of them.

Fault rules (each one leaves the record, never the run):
- A channel whose read failed in the window has no figure: its component and its domain key
  are None, and so is every total it is part of (energy_j, per token, net); ``energy_warning``
  names the channel and the device's error. The other channels keep their figures.
- A counter whose figure cannot be true (monitors/validity.py) is a failed channel as above; a
  stalled counter whose device's power was sampled across the window is integrated instead:
  ``energy_method`` says ``integrated`` and ``energy_warning`` says why.
- A negative net energy is reported as it is, with ``energy_warning`` saying why it cannot be
  right (the idle baseline was higher than the window's mean power).
- ``energy_boundary`` names what the figures counted (monitors/boundary.py); --wb-pue multiplies
  every energy figure and says so there. --wb-grid-intensity adds carbon (wattbench.monitors.carbon).
- Contention: ``contended`` is True when other processes used more than
  CONTENDED_OTHER_CPU_PCT of all CPUs over the window, or ran on a measured GPU.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.monitors.boundary import boundary
from wattbench.monitors.carbon import CarbonOptions, carbon_figures
from wattbench.monitors.gauges import CONTENDED_OTHER_CPU_PCT
from wattbench.monitors.idle import Idle, total_joules
from wattbench.monitors.meter import Meter, Sample, WindowReading
from wattbench.monitors.protocol import METHODS

DOMAIN_KEYS = {
    "gpu": "gpu_energy_j",
    "cpu": "cpu_energy_j",
    "dram": "dram_energy_j",
    "board": "board_energy_j",
    "ane": "ane_energy_j",
}

# gauge -> (key of its time-weighted average, key of its peak) in the record
GAUGES: dict[str, tuple[str | None, str | None]] = {
    "cpu_util_pct": ("cpu_util_avg_pct", "cpu_util_peak_pct"),
    "process_cpu_util_pct": ("process_cpu_util_avg_pct", None),
    "other_cpu_util_pct": ("other_cpu_util_avg_pct", None),
    "gpu_other_processes_count": (None, "gpu_other_processes_count"),
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


@dataclass(frozen=True)
class WindowEnergy:
    """A closed window's energy as a whole, before a workload divides it by its units of work.

    ``gross_j`` sums the counted channels (None when one of them failed to read); ``net_j`` is
    gross minus idle power times the window (None without a baseline or a gross figure);
    ``components_j`` is per channel, ``domains_j`` per record key of a domain (``gpu_energy_j``
    ...), None where a channel failed. ``labels`` are the figures no division touches: the
    source, method, window length, counter updates, idle power and ``energy_warning``.
    """

    gross_j: float | None
    net_j: float | None
    components_j: dict[str, float | None]
    domains_j: dict[str, float | None]
    labels: dict[str, Any]
    carbon: CarbonOptions | None = None  # --wb-grid-intensity, --wb-embodied-carbon

    def per_unit(self, units: int, completion_tokens: int, total_tokens: int | None) -> dict[str, Any]:
        """The record's energy keys for ``units`` units of work in the window (generations,
        requests; >= 1) that produced ``completion_tokens`` (and ``total_tokens`` counting the
        prompts, None where unknown): energy_j and its parts per unit, per token over all.
        """
        def per(joules: float | None, count: int | None) -> float | None:
            return None if joules is None or not count else joules / count

        figures: dict[str, Any] = {
            "energy_j": per(self.gross_j, units),
            "energy_per_token_j": per(self.gross_j, completion_tokens),
            "energy_per_total_token_j": per(self.gross_j, total_tokens),
            **self.labels,
            "energy_window_generations_count": units,
            "energy_components_j": {k: per(j, units) for k, j in self.components_j.items()},
        }
        figures.update({k: per(j, units) for k, j in self.domains_j.items()})
        if "idle_power_w" in self.labels:
            figures["energy_net_j"] = per(self.net_j, units)
            figures["energy_net_per_token_j"] = per(self.net_j, completion_tokens)
        if self.carbon is not None and self.carbon.wanted:
            seconds = self.labels.get("energy_window_s")
            figures.update(carbon_figures(figures, None if seconds is None else seconds / units, self.carbon))
        return figures


def energy_figures(
    meter: Meter,
    reading: WindowReading,
    tokens: Sequence[tuple[int, int | None]],
    idle: Idle | None,
    pue: float | None = None,
    carbon: CarbonOptions | None = None,
) -> dict[str, Any]:
    """Energy keys for a window of generations; ``tokens`` holds (completion, total) per
    generation (total None where the prompt's tokens are unknown). A figure that could not be
    obtained is None, and ``energy_warning`` says why."""
    if not meter.channels:
        return {}
    totals = [t for _, t in tokens]
    total_tokens = None if None in totals else sum(t for t in totals if t is not None)
    energy = window_energy(meter, reading, idle, pue, carbon)
    return energy.per_unit(len(tokens), sum(c for c, _ in tokens), total_tokens)


def window_boundary(meter: Meter, pue: float | None = None) -> str:
    """energy_boundary of the meter's counted channels (monitors/boundary.py)."""
    return boundary((c.domain for _s, c in meter.channels.values() if c.in_total), pue)


def window_energy(
    meter: Meter, reading: WindowReading, idle: Idle | None, pue: float | None = None,
    carbon: CarbonOptions | None = None,
) -> WindowEnergy:
    """The whole window's energy over the meter's channels, netted against ``idle`` when given,
    times ``pue`` (a facility's power usage effectiveness) when given."""
    failed = reading.failed
    counted_failed = [k for k in failed if meter.channels[k][1].in_total]
    gross = None if counted_failed else total_joules(meter, reading)
    source, method = source_label(meter)
    if method == "measured" and any(meter.channels[k][1].in_total for k in reading.integrated):
        method = "integrated"  # a stalled counter's power stands in for it (validity.py)
    labels: dict[str, Any] = {
        "energy_source": source,
        "energy_method": method,
        "energy_boundary": window_boundary(meter, pue),
        "energy_window_s": reading.duration_s,
    }
    cadences = [  # hardware counters' (validity.py, rule 4): the estimate has no update cadence
        c for key, (src, channel) in meter.channels.items()
        if channel.kind == "counter" and channel.in_total and src.method != "estimated"
        and (c := meter.cadence_s(key)) is not None
    ]
    if cadences:
        labels["energy_cadence_s"] = max(cadences)
    domains: dict[str, float | None] = {}
    for domain, key in DOMAIN_KEYS.items():
        parts = [k for k in reading.joules if meter.channels[k][1].domain == domain]
        if parts:
            broken = any(k in failed for k in parts)
            domains[key] = None if broken else sum(reading.joules[k] for k in parts)
    read = [reading.updates[k] for k in meter.channels if k not in failed]
    labels["energy_updates_count"] = min(read) if read else None
    warnings = [
        f"no figure for {key}: {error}" if error.startswith("its counter ")  # read, but not true
        else f"no figure for {key}: its reading failed in this window ({error})"
        for key, error in sorted(failed.items())
    ]
    warnings += [
        f"{key} integrated from its power reading ({instead.gauge}) over the window: {instead.reason}"
        for key, instead in sorted(reading.integrated.items())
    ]
    net = None
    if idle is not None:
        net = None if gross is None else gross - idle.power_w * reading.duration_s
        labels.update(idle_power_w=idle.power_w, idle_power_sd_w=idle.sd_w)
        if idle.warning:
            labels["idle_warning"] = idle.warning
        if net is not None and net < 0 and gross is not None:
            mean_w = gross / reading.duration_s if reading.duration_s else float("nan")
            warnings.append(
                f"net energy is negative ({net:.4g} J): the idle baseline ({idle.power_w:.2f} W) is "
                f"above this window's mean power ({mean_w:.2f} W), so the baseline was taken under "
                "other load or the machine's load changed since; the net figure is not usable"
            )
    resolution = _resolution_warning(meter, reading)
    if resolution:
        warnings.append(resolution)
    if warnings:
        labels["energy_warning"] = "; ".join(warnings)
    components = {key: None if key in failed else j for key, j in reading.joules.items()}
    if pue is not None:  # the facility's overhead on every figure; the boundary says so
        def times(joules: float | None) -> float | None:
            return None if joules is None else joules * pue

        gross, net = times(gross), times(net)
        components = {key: times(j) for key, j in components.items()}
        domains = {key: times(j) for key, j in domains.items()}
    return WindowEnergy(gross, net, components, domains, labels, carbon)


def _resolution_warning(meter: Meter, reading: WindowReading) -> str | None:
    """Why the window's energy may be unreliable, or None."""
    if any(
        reading.updates[k] == 0
        for k, (_s, c) in meter.channels.items()
        if c.kind == "counter" and k not in reading.failed and k not in reading.integrated
    ):
        return (
            f"a counter did not change during the {reading.duration_s:.3f} s window: its energy "
            "reads 0 J; raise --wb-energy-min-window"
        )
    # A sampled power source resolves no finer than the sampler's interval, and a counter no
    # finer than the cadence the sampler learned for it (validity.py, rule 4).
    resolution = max(
        max(s.resolution_s, meter.interval_s if s.method == "integrated" else 0.0)
        for s in meter.sources if s.channels
    )
    if reading.integrated:
        resolution = max(resolution, meter.interval_s)
    resolution = max([resolution, *(c for c in meter.slow_cadences().values() if c is not None)])
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
    contended = contention(figures)
    if contended is not None:
        figures["contended"] = contended
    return figures


def contention(figures: dict[str, Any]) -> bool | None:
    """Whether other processes used the machine during the window; None when nothing says.

    True when ``other_cpu_util_avg_pct`` is above CONTENDED_OTHER_CPU_PCT, or when
    ``gpu_other_processes_count`` is above 0.
    """
    cpu = figures.get("other_cpu_util_avg_pct")
    gpu = figures.get("gpu_other_processes_count")
    if cpu is None and gpu is None:
        return None
    return bool((cpu is not None and cpu > CONTENDED_OTHER_CPU_PCT) or (gpu is not None and gpu > 0))


def contention_text(figures: dict[str, Any]) -> str:
    """What contended the window, in words."""
    parts = []
    cpu = figures.get("other_cpu_util_avg_pct")
    if cpu is not None and cpu > CONTENDED_OTHER_CPU_PCT:
        parts.append(f"other processes used {cpu:.0f}% of all CPUs (threshold {CONTENDED_OTHER_CPU_PCT:g}%)")
    gpu = figures.get("gpu_other_processes_count")
    if gpu:
        parts.append(f"{gpu:.0f} other process(es) ran on the measured GPUs")
    return " and ".join(parts)


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

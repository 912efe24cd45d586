"""The run's energy and resource monitoring: sources, meter, idle baseline, per-case windows.

One EnergyMonitor lives in the WattbenchSession. Its sampler thread starts with the first case
(a --collect-only run starts nothing), after the idle baseline is measured in the state between
cases: model loaded and warmed up, nothing generating.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wattbench.monitors import SourceOptions, open_sources
from wattbench.monitors.figures import energy_figures, resource_figures, source_label, write_series
from wattbench.monitors.idle import Idle, drift_is_real, drift_pct, measure_idle
from wattbench.monitors.meter import Meter, Window
from wattbench.settings import Settings

BASELINE_FILE = "baseline.json"
DRIFT_WARN_PCT = 10.0  # idle power that moves more than this between before and after is reported


class EnergyMonitor:
    """Energy windows around generations, and the idle baseline they are netted against."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        selection = open_sources(
            settings.energy,
            SourceOptions(gpus=settings.gpus, cpu_tdp_w=settings.cpu_tdp_w, sample_hz=settings.sample_hz),
        )
        self.notes = selection.notes
        self.meter = Meter(selection.sources, settings.sample_hz)
        self.idle_before: Idle | None = None
        self.idle_after: Idle | None = None
        self._baseline_path = settings.run_dir / BASELINE_FILE

    def describe(self) -> list[str]:
        """Lines for the run header: each source and what auto-selection left out, and why."""
        lines = [f"energy: {s.description}" for s in self.meter.sources] or ["energy: off"]
        lines += [f"energy: not used: {note}" for note in self.notes]
        return lines

    # -- baseline ------------------------------------------------------------------------
    def start(self) -> None:
        """Start sampling; measure idle power first (once), unless --wb-idle-time is 0."""
        if self.meter.running:
            return
        self.meter.start()
        if self.settings.idle_s > 0 and self.meter.sources:
            self.idle_before = measure_idle(self.meter, self.settings.idle_s)
            self._write_baseline()

    def finish(self) -> None:
        """After the last case: measure idle again when --wb-idle-after is on."""
        if (
            self.settings.idle_after and self.meter.running and self.idle_after is None
            and self.settings.idle_s > 0 and self.meter.sources
        ):
            self.idle_after = measure_idle(self.meter, self.settings.idle_s)
            self._write_baseline()

    def drift_pct(self) -> float | None:
        """Idle power after the last case relative to before the first, in %."""
        if self.idle_before is None or self.idle_after is None:
            return None
        return drift_pct(self.idle_before, self.idle_after)

    def drift_warning(self) -> str | None:
        """A sentence when idle power drifted more than DRIFT_WARN_PCT (and its noise) during the run."""
        before, after, drift = self.idle_before, self.idle_after, self.drift_pct()
        if before is None or after is None or drift is None:
            return None
        if not drift_is_real(before, after, DRIFT_WARN_PCT):
            return None
        return (
            f"idle power drifted {drift:+.1f}% during the run ({before.power_w:.2f} W "
            f"before, {after.power_w:.2f} W after): net energies are less certain; "
            "check for other load, thermal throttling or clocks changing"
        )

    def summary(self) -> dict[str, Any]:
        """The run's energy set-up and idle baseline, for baseline.json and the benchmark JSON."""
        source, method = source_label(self.meter) if self.meter.sources else ("off", "")
        return {
            "energy_source": source,
            "energy_method": method,
            "sources": [s.description for s in self.meter.sources],
            "not_used": self.notes,
            "sample_hz": self.settings.sample_hz,
            "idle_before": None if self.idle_before is None else self.idle_before.as_dict(),
            "idle_after": None if self.idle_after is None else self.idle_after.as_dict(),
            "idle_drift_pct": self.drift_pct(),
            "idle_drift_warning": self.drift_warning(),
            "poll_errors": dict(self.meter.errors),
        }

    def _write_baseline(self) -> None:
        self._baseline_path.parent.mkdir(parents=True, exist_ok=True)
        self._baseline_path.write_text(json.dumps(self.summary(), indent=2) + "\n")

    # -- windows -------------------------------------------------------------------------
    def begin(self) -> Window:
        """Open the energy window of one run (the timed generation and any repeats)."""
        return self.meter.begin()

    def needs_more(self, window: Window) -> bool:
        """Whether the window is still shorter than --wb-energy-min-window."""
        return bool(self.meter.sources) and self.meter.elapsed(window) < self.settings.energy_min_window_s

    def end(self, window: Window, tokens: Sequence[tuple[int, int]], series: str) -> dict[str, Any]:
        """Close the window; its energy and resource figures for the record.

        ``tokens``: (completion, total) tokens of each generation in the window. ``series``
        names the CSV file of the window's samples when --wb-timeseries is on.
        """
        reading = self.meter.end(window)
        figures = {
            **energy_figures(self.meter, reading, tokens, self.idle_before),
            **resource_figures(reading),
        }
        if self.settings.timeseries:
            path = self.settings.run_dir / "timeseries" / f"{series}.csv"
            write_series(path, reading.samples)
            figures["timeseries_file"] = str(Path("timeseries") / path.name)
        return figures

    def discard(self, window: Window) -> None:
        """Drop a window whose run failed."""
        self.meter.discard(window)

    def close(self) -> None:
        """Stop the sampler and release the sources."""
        self.meter.close()

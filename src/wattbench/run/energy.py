"""The run's energy and resource monitoring: sources, meter, idle baseline, per-case windows.

One EnergyMonitor lives in the WattbenchSession. Its sampler thread starts with the first case
(a --collect-only run starts nothing), after the idle baseline is measured in the state between
cases: model loaded and warmed up, nothing generating.

An energy failure never loses a record: ``end`` always returns what was measured, with
``energy_warning`` saying what was not. The monitor counts, for the run summary
(``summary_lines``), the windows in which a channel failed, the contended windows and the
negative net energies.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench.monitors import MakeSource, SourceOptions, open_sources
from wattbench.monitors.carbon import CarbonOptions
from wattbench.monitors.estimate import EstimateOptions
from wattbench.monitors.figures import (
    WindowEnergy,
    contention_text,
    resource_figures,
    source_label,
    window_boundary,
    window_energy,
    write_series,
)
from wattbench.monitors.gauges import CONTENDED_OTHER_CPU_PCT, ProcessTree, listening_pid, own_tree
from wattbench.monitors.idle import Idle, IdleError, drift_is_real, drift_pct, measure_idle, total_joules
from wattbench.monitors.meter import Meter, Window

BASELINE_FILE = "baseline.json"
DRIFT_WARN_PCT = 10.0  # idle power that moves more than this between before and after is reported


LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


@dataclass(frozen=True)
class EnergyOptions:
    """What the monitor is built from (``Settings.energy_options()``)."""

    names: tuple[str, ...]  # --wb-energy: "auto", "off", or source names (monitors/__init__.py)
    sources: SourceOptions  # what the sources open with: --wb-sample-hz and each source's own options
    server_url: str | None  # the server a server backend talks to; None for an in-process engine
    run_dir: Path  # where baseline.json and timeseries/ go
    idle_s: float  # --wb-idle-time, seconds; 0: no idle baseline
    idle_after: bool  # --wb-idle-after
    worker: str | None  # the pytest-xdist worker's id (gw0, ...); None in a plain run
    min_window_s: float  # --wb-energy-min-window, seconds
    timeseries: bool  # --wb-timeseries
    pue: float | None  # --wb-pue (monitors/boundary.py)
    carbon: CarbonOptions  # --wb-grid-intensity, --wb-embodied-carbon

    @property
    def sample_hz(self) -> float:
        """The sampler's rate, in Hz."""
        return self.sources.sample_hz


def adopt_local_server(url: str | None, tree: ProcessTree) -> str | None:
    """Count the server at ``url`` as part of the benchmark's process tree when it runs on this
    machine; a note saying what was done, or None for an in-process engine (``url`` None).

    The estimate charges the benchmark's own process tree, and the contention check counts
    every other process: a local server doing the benchmark's work must be inside the tree.
    """
    if url is None:
        return None
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    host = parsed.hostname or ""
    if host not in LOOPBACK:
        return (
            f"the server at {host} is not on this machine: its energy and CPU are not measured "
            "here; only this client's are"
        )
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    pid = listening_pid(port)
    if pid is None:
        return (
            f"the server on port {port} is on this machine but its process could not be found "
            "(psutil.net_connections needs root on macOS, and for another user's process on "
            "Linux): the estimate charges only this process, and the server's work counts as "
            "other processes (contended)"
        )
    try:
        process = tree.adopt(pid)
        name = process.name()
    except Exception as exc:  # psutil.Error: the process went away or is not ours to read
        return f"the server's process {pid} on port {port} could not be read ({exc})"
    return f"the local server's process tree (pid {pid}, {name}, port {port}) counts as the benchmark's own"


@dataclass(frozen=True)
class Measured:
    """A closed window: its energy, whole (None when no source measures), and the figures that
    hold for the window as it is (resource peaks, contention, its time-series file)."""

    energy: WindowEnergy | None
    figures: dict[str, Any] = field(default_factory=dict)

    def per_unit(self, units: int, completion_tokens: int, total_tokens: int | None) -> dict[str, Any]:
        """The record's figures for a window that held ``units`` units of work producing these
        tokens (see :meth:`WindowEnergy.per_unit`)."""
        if self.energy is None:
            return dict(self.figures)
        return {**self.figures, **self.energy.per_unit(units, completion_tokens, total_tokens)}


def _xdist_run() -> str | None:
    """The id pytest-xdist gives every worker of one run (None outside xdist)."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID")


class EnergyMonitor:
    """Energy windows around generations, and the idle baseline they are netted against."""

    def __init__(self, options: EnergyOptions, make_source: MakeSource | None = None) -> None:
        self.options = options
        selection = open_sources(options.names, options.sources, make_source)
        self.notes = selection.notes
        self.server_note = adopt_local_server(options.server_url, own_tree())
        self.meter = Meter(selection.sources, options.sample_hz)
        self.idle_before: Idle | None = None
        self.idle_after: Idle | None = None
        self.idle_errors: list[str] = []
        self._baseline_path = options.run_dir / BASELINE_FILE
        self.windows_count = 0
        self.failed_windows: Counter[str] = Counter()  # channel -> windows without its figure
        self.failed_errors: dict[str, str] = {}  # channel -> its last error
        self.integrated_windows: Counter[str] = Counter()  # channel -> windows its power stood in
        self.integrated_reasons: dict[str, str] = {}  # channel -> why, the last time
        self.contended_windows = 0
        self.negative_net_windows = 0
        self.figure_errors: list[str] = []  # figures that raised (a bug): the record stays

    def describe(self) -> list[str]:
        """Lines for the run header: each source and what auto-selection left out, and why."""
        lines = [f"energy: {s.description}" for s in self.meter.sources] or ["energy: off"]
        if self.meter.channels:
            lines.append(f"energy: boundary {self.boundary()} (every record's energy_boundary)")
        lines += [f"energy: not used: {note}" for note in self.notes]
        if self.server_note:
            lines.append(f"energy: {self.server_note}")
        return lines

    def summary_lines(self) -> list[str]:
        """WARNING lines for the end of the run: failed channels, contention, the baseline.

        Empty when every window was read, uncontended and netted against a quiet baseline.
        """
        lines = []
        for label, idle in (("before", self.idle_before), ("after", self.idle_after)):
            if idle is not None and idle.warning:
                lines.append(f"idle baseline {label}: {idle.warning}")
        lines += [f"idle baseline: not measured: {error}" for error in self.idle_errors]
        for channel, count in sorted(self.failed_windows.items()):
            lines.append(
                f"energy: {count} of {self.windows_count} windows have no figure for {channel}: "
                f"its reading failed ({self.failed_errors[channel]})"
            )
        for channel, count in sorted(self.integrated_windows.items()):
            lines.append(
                f"energy: {count} of {self.windows_count} windows integrated {channel}'s power "
                f"instead of its counter ({self.integrated_reasons[channel]})"
            )
        if self.contended_windows:
            lines.append(
                f"contended: {self.contended_windows} of {self.windows_count} windows ran while "
                f"other processes used more than {CONTENDED_OTHER_CPU_PCT:g}% of all CPUs or ran "
                "on a measured GPU (records say contended = true); their time and machine-wide "
                "energy include that load"
            )
        if self.negative_net_windows:
            lines.append(
                f"energy: {self.negative_net_windows} of {self.windows_count} windows have a "
                "negative net energy: the idle baseline is higher than their mean power"
            )
        lines += [f"energy: figures failed for a window: {error}" for error in self.figure_errors]
        hidden = {pid for s in self.meter.sources for pid in getattr(s, "hidden_pids", ())}
        if hidden:
            lines.append(
                f"NVML listed {len(hidden)} GPU process(es) this process cannot see (another pid "
                "namespace, e.g. a container): they are not counted as other processes"
            )
        return lines

    # -- baseline ------------------------------------------------------------------------
    def start(self) -> None:
        """Start sampling; measure idle power first (once), unless --wb-idle-time is 0."""
        if self.meter.running:
            return
        self.meter.start()
        if self.options.idle_s > 0 and self.meter.sources:
            if self.options.worker is not None:
                self._shared_baseline()
                return
            self.idle_before = self._measure_idle()
            self._write_baseline()

    def _shared_baseline(self) -> None:
        """pytest-xdist: idle is measured once for every worker. The first worker to reach its
        first case measures it under a lock while the others wait for it at theirs (so none
        generates meanwhile); they all net against the same baseline.json."""
        import filelock

        with filelock.FileLock(str(self._baseline_path) + ".lock"):
            saved = self._read_baseline()
            if saved is not None:
                self.idle_before = saved
                return
            self.idle_before = self._measure_idle()
            self._write_baseline()

    def _read_baseline(self) -> Idle | None:
        """The idle baseline another worker of this xdist run measured, if any (a file left by
        an earlier run of the folder has another run id, and is measured anew)."""
        try:
            saved = json.loads(self._baseline_path.read_text(encoding="utf-8"))
            data = saved.get("idle_before") if saved.get("xdist_run") == _xdist_run() else None
        except (OSError, ValueError, AttributeError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            return Idle(**data)
        except TypeError:
            return None

    def _measure_idle(self) -> Idle | None:
        try:
            tdp_w = self.options.sources.get(EstimateOptions).cpu_tdp_w
            return measure_idle(self.meter, self.options.idle_s, cpu_tdp_w=tdp_w)
        except IdleError as exc:
            self.idle_errors.append(str(exc))
            return None

    def finish(self) -> None:
        """After the last case: measure idle again when --wb-idle-after is on."""
        if (
            self.options.idle_after and self.meter.running and self.idle_after is None
            and self.options.idle_s > 0 and self.meter.sources
        ):
            self.idle_after = self._measure_idle()
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

    def boundary(self) -> str:
        """energy_boundary of this run's figures (monitors/boundary.py)."""
        return window_boundary(self.meter, self.options.pue)

    def summary(self) -> dict[str, Any]:
        """The run's energy set-up and idle baseline, for baseline.json and the benchmark JSON."""
        source, method = source_label(self.meter) if self.meter.sources else ("off", "")
        return {
            "energy_source": source,
            "energy_method": method,
            "energy_boundary": self.boundary() if self.meter.channels else None,
            "cadence_s": {key: self.meter.cadence_s(key) for key in self.meter.channels},
            "sources": [s.description for s in self.meter.sources],
            "not_used": self.notes,
            "sample_hz": self.options.sample_hz,
            "idle_before": None if self.idle_before is None else self.idle_before.as_dict(),
            "idle_after": None if self.idle_after is None else self.idle_after.as_dict(),
            "idle_drift_pct": self.drift_pct(),
            "idle_drift_warning": self.drift_warning(),
            "idle_errors": self.idle_errors,
            "poll_errors": dict(self.meter.errors),
            "windows_count": self.windows_count,
            "failed_windows": dict(self.failed_windows),
            "integrated_windows": dict(self.integrated_windows),
            "contended_windows": self.contended_windows,
            "contended_other_cpu_threshold_pct": CONTENDED_OTHER_CPU_PCT,
            "negative_net_windows": self.negative_net_windows,
            "warnings": self.summary_lines(),
            "xdist_run": _xdist_run(),
        }

    def _write_baseline(self) -> None:
        self._baseline_path.parent.mkdir(parents=True, exist_ok=True)
        self._baseline_path.write_text(json.dumps(self.summary(), indent=2) + "\n")

    # -- windows -------------------------------------------------------------------------
    def begin(self) -> Window:
        """Open the energy window of one run (the timed generation and any repeats)."""
        return self.meter.begin()

    def needs_more(self, window: Window) -> bool:
        """Whether the window is still shorter than --wb-energy-min-window, or (unless that is 0:
        never repeat) than the counters' learned cadences allow (monitors/validity.py)."""
        if not self.meter.sources:
            return False
        shortest = self.options.min_window_s
        if shortest > 0:
            shortest = max(shortest, self.meter.min_window_s())
        return self.meter.elapsed(window) < shortest

    def end(self, window: Window, series: str, span: tuple[float, float] | None = None) -> Measured:
        """Close the window: its energy, whole, for the workload to divide, and its resource
        figures. ``series`` names the CSV file of the window's samples when --wb-timeseries is on.
        ``span`` (monotonic s) keeps only that part of the window (a steady state inside it).
        Raises ValueError when the span is not inside the window.
        """
        reading = self.meter.end(window)
        if span is not None:
            reading = reading.between(*span)
        self.windows_count += 1
        figures: dict[str, Any] = {}
        energy: WindowEnergy | None = None
        try:
            figures.update(resource_figures(reading))
            if self.meter.channels:
                energy = window_energy(
                    self.meter, reading, self.idle_before, self.options.pue, self.options.carbon
                )
        except Exception as exc:  # a bug in the figures must not lose the record
            error = f"{type(exc).__name__}: {exc}"
            self.figure_errors.append(error)
            figures["energy_warning"] = f"energy figures could not be computed ({error})"
        for channel in reading.failed:
            self.failed_windows[channel] += 1
            self.failed_errors[channel] = reading.failed[channel]
        for channel, instead in reading.integrated.items():
            self.integrated_windows[channel] += 1
            self.integrated_reasons[channel] = instead.reason
        if figures.get("contended"):
            self.contended_windows += 1
            if energy is not None and any(s.method != "estimated" for s in self.meter.sources):
                # Counters see the whole device: the other load's joules are in this window's.
                note = f"contended: {contention_text(figures)}; measured energy includes their share"
                warning = "; ".join(filter(None, [energy.labels.get("energy_warning"), note]))
                energy = dataclasses.replace(energy, labels={**energy.labels, "energy_warning": warning})
        if energy is not None and energy.net_j is not None and energy.net_j < 0:
            self.negative_net_windows += 1
        if self.options.timeseries:
            path = self.options.run_dir / "timeseries" / f"{series}.csv"
            write_series(path, reading.samples)
            figures["timeseries_file"] = str(Path("timeseries") / path.name)
        return Measured(energy, figures)

    @property
    def measures(self) -> bool:
        """Whether any energy source is measuring (or estimating) in this run."""
        return bool(self.meter.sources)

    def gross_joules(self, window: Window) -> float | None:
        """Close a window that belongs to no case (a judgement): its gross joules over the
        counted channels (times --wb-pue); None when no source measures, or a counted channel
        failed to read."""
        if not self.meter.sources:
            self.meter.discard(window)
            return None
        reading = self.meter.end(window)
        if any(self.meter.channels[key][1].in_total for key in reading.failed):
            return None  # a counted channel failed: the total is unknown, not its partial sum
        return total_joules(self.meter, reading) * (self.options.pue or 1.0)  # the run's boundary

    def discard(self, window: Window) -> None:
        """Drop a window whose run failed."""
        self.meter.discard(window)

    def close(self) -> None:
        """Stop the sampler and release the sources."""
        self.meter.close()

"""Energy sources and the meter that reads them.

Sources, best first (auto-selection keeps every one that works; the estimate only when none
does):
    nvml      NVIDIA GPUs: energy counter, else power x time          (monitors/nvml.py)
    rapl      CPU package and DRAM counters via powercap sysfs         (monitors/rapl.py)
    jetson    Jetson power rails via INA3221 sysfs or tegrastats       (monitors/jetson.py)
    estimate  own process tree's CPU share x TDP: a model, labelled    (monitors/estimate.py)

The sampler's process and machine gauges (psutil, every OS it supports) are in
monitors/gauges.py; RAPL and Jetson are Linux only and say so elsewhere.

To add a source: write a module with a class that satisfies ``protocol.EnergySource`` and an
``open_<name>(...)`` function that returns it or raises EnergySourceError saying why it cannot
be read here and how to enable it; then add it to OPENERS below (and to AUTO if it measures).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from wattbench.errors import EnergySourceError
from wattbench.monitors.protocol import EnergySource

SOURCES = ("nvml", "rapl", "jetson", "estimate")
AUTO = ("nvml", "rapl", "jetson")  # measured sources tried by 'auto', in this order


@dataclass(frozen=True)
class SourceOptions:
    """What the openers need from the settings."""

    gpus: tuple[str, ...] | None = None
    cpu_tdp_w: float = 65.0
    sample_hz: float = 10.0


def _open(name: str, options: SourceOptions) -> EnergySource:
    module = importlib.import_module(f"wattbench.monitors.{name}")
    opener: Callable[..., EnergySource] = getattr(module, f"open_{name}")
    if name == "nvml":
        return opener(options.gpus)
    if name == "estimate":
        return opener(options.cpu_tdp_w)
    if name == "jetson":
        return opener(interval_ms=max(10, round(1000 / options.sample_hz)))
    return opener()


@dataclass
class Selection:
    """The sources opened, and why each source that auto-selection tried was left out."""

    sources: list[EnergySource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def open_sources(names: tuple[str, ...], options: SourceOptions) -> Selection:
    """Open ``names`` ('auto', 'off', or sources from SOURCES).

    A source named explicitly must work: its EnergySourceError propagates. Under 'auto' each
    failure becomes a note, and the estimate is used when nothing measures.
    """
    selection = Selection()
    if names == ("off",):
        return selection
    if names == ("auto",):
        for name in AUTO:
            try:
                selection.sources.append(_open(name, options))
            except EnergySourceError as exc:
                selection.notes.append(str(exc))
        if not selection.sources:
            selection.sources.append(_open("estimate", options))
        return selection
    try:
        for name in names:
            selection.sources.append(_open(name, options))
    except EnergySourceError:
        for source in selection.sources:
            source.close()
        raise
    return selection

"""Energy sources and the meter that reads them.

Sources, best first (auto-selection keeps every one that works; the estimate only when none
does):
    nvml          NVIDIA GPUs: energy counter, else power x time       (monitors/nvml.py)
    amdsmi        AMD GPUs: energy accumulator, else power x time      (monitors/amdsmi.py)
    rapl          CPU package and DRAM counters via powercap sysfs     (monitors/rapl.py)
    jetson        Jetson power rails via INA3221 sysfs or tegrastats   (monitors/jetson.py)
    powermetrics  Apple Silicon CPU, GPU and ANE power (sudo)          (monitors/powermetrics.py)
    estimate      own process tree's CPU share x TDP: a model, labelled (monitors/estimate.py)

Whether a counter's figure can be true is decided for every source in one place
(monitors/validity.py); what a figure counted, its boundary, in monitors/boundary.py.

The sampler's process and machine gauges (psutil, every OS it supports) are in
monitors/gauges.py; RAPL and Jetson are Linux only and say so elsewhere.

To add a source: write a module with a class that satisfies ``protocol.EnergySource`` and a
``from_options(options: SourceOptions)`` function that returns it or raises EnergySourceError
saying why it cannot be read here and how to enable it; then add its Entry to SOURCES below (and
its name to AUTO if it measures). Its own settings are one frozen dataclass of
``wattbench.option.setting(...)`` fields (see ``estimate.EstimateOptions``), named in its Entry;
the opener reads them with ``options.get(ItsOptions)``. A GPU family also answers its device
names, driver and visibility variable (monitors/gpu.py).
A conftest adds one without touching this package: its ``pytest_wattbench_make_energy_source``
hook is asked first for every name, and ``--wb-energy NAME`` opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wattbench.errors import EnergySourceError
from wattbench.monitors.protocol import EnergySource, SourceOptions
from wattbench.option import Entry, load

__all__ = ["AUTO", "SOURCES", "MakeSource", "Selection", "SourceOptions", "open_sources"]

_GPU = "wattbench.monitors.gpu:GpuOptions"  # --wb-gpus: NVML's and amdsmi's
# name -> its opener (from_options) and its options class, as lazy "module:Name" paths.
SOURCES: dict[str, Entry] = {
    "nvml": Entry("wattbench.monitors.nvml:from_options", options=_GPU),
    "amdsmi": Entry("wattbench.monitors.amdsmi:from_options", options=_GPU),
    "rapl": Entry("wattbench.monitors.rapl:from_options"),
    "jetson": Entry("wattbench.monitors.jetson:from_options"),
    "powermetrics": Entry("wattbench.monitors.powermetrics:from_options"),
    "estimate": Entry("wattbench.monitors.estimate:from_options",
                      options="wattbench.monitors.estimate:EstimateOptions"),
}
AUTO = ("nvml", "amdsmi", "rapl", "jetson", "powermetrics")  # measured sources tried by 'auto', in order


MakeSource = Callable[[str, SourceOptions], "EnergySource | None"]
"""A conftest's maker (the pytest_wattbench_make_energy_source hook): the source, or None."""


def _open(name: str, options: SourceOptions, make: MakeSource | None = None) -> EnergySource:
    made = make(name, options) if make is not None else None
    if made is not None:
        return made
    if name not in SOURCES:
        raise EnergySourceError(
            f"unknown energy source {name!r}; choose auto, off, or a list of {', '.join(SOURCES)}, "
            "or define it in a conftest.py's pytest_wattbench_make_energy_source hook"
        )
    opener: Callable[[SourceOptions], EnergySource] = load(SOURCES[name].path)
    return opener(options)


@dataclass
class Selection:
    """The sources opened, and why each source that auto-selection tried was left out."""

    sources: list[EnergySource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def open_sources(names: tuple[str, ...], options: SourceOptions, make: MakeSource | None = None) -> Selection:
    """Open ``names`` ('auto', 'off', or sources from SOURCES, or a conftest's that ``make``
    answers: it is asked first for every name, so it can also stand in for a built-in one).

    A source named explicitly must work: its EnergySourceError propagates. Under 'auto' each
    failure becomes a note, and the estimate is used when nothing measures.
    """
    selection = Selection()
    if names == ("off",):
        return selection
    if names == ("auto",):
        for name in AUTO:
            try:
                selection.sources.append(_open(name, options, make))
            except EnergySourceError as exc:
                selection.notes.append(str(exc))
        if not selection.sources:
            selection.sources.append(_open("estimate", options, make))
        return selection
    # A conftest's sources open first, so a name nothing knows (a typo) is reported before a
    # built-in source fails for a reason of its own.
    opened: dict[str, EnergySource] = {}
    try:
        for name in sorted(names, key=lambda n: n in SOURCES):
            opened[name] = _open(name, options, make)
    except EnergySourceError:
        for source in opened.values():
            source.close()
        raise
    selection.sources.extend(opened[name] for name in names)
    return selection

"""What an energy source is: channels it reads at each poll, and how well it measures.

A source is polled by the meter (wattbench.monitors.meter) from its sampler thread and at the
edges of every measurement window. It returns one reading per channel: a cumulative counter in
joules, or an instantaneous power in watts. The meter turns both into cumulative joules, so a
window's energy is computed the same way whatever the hardware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from wattbench.option import pick

T = TypeVar("T")

METHODS = ("measured", "integrated", "estimated")
"""How a source obtains energy, best first: a hardware energy counter read at the window's
edges; power readings integrated over time; or a model of power that measures nothing."""


@dataclass(frozen=True)
class Channel:
    """One reading a source makes at each poll.

    ``kind`` is 'counter' (cumulative J, wrapping at ``wrap_j`` J when set) or 'power' (W).
    ``domain`` groups channels into the record's components: gpu, cpu, dram, board, rail.
    ``in_total`` is False for a channel already contained in another (a Jetson rail that the
    board's input rail includes), so the total counts every joule once.
    """

    id: str
    domain: str
    kind: str
    in_total: bool = True
    wrap_j: float | None = None


@dataclass(frozen=True)
class Poll:
    """One poll: channel id -> J (counter) or W (power), gauges such as gpu_util_pct, and errors.

    A channel missing from ``values`` and from ``errors`` was not read this time (a rail absent
    from one tegrastats line); the meter integrates across the gap. A channel in ``errors``
    (channel id -> the device's error, e.g. ``NVMLError_NotReady: ...``) failed to read: a
    window in which any of its reads failed has no figure for that channel.
    """

    values: Mapping[str, float]
    gauges: Mapping[str, float] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


class EnergySource(Protocol):
    """A source of energy readings: NVML, RAPL, Jetson rails, or the CPU estimate."""

    name: str
    """Short name used in --wb-energy and in records: nvml, rapl, jetson, estimate."""
    method: str
    """One of METHODS: measured, integrated or estimated."""
    resolution_s: float
    """Shortest interval (s) over which the source's energy changes: a window must be many
    times longer for its figure to mean anything."""
    description: str
    """One line for the run header, naming the devices and the accuracy."""
    channels: tuple[Channel, ...]
    # Optional: ``power_gauge``, the key of a gauge in Poll.gauges holding the power (W) its
    # devices draw now, and ``channel_power_gauges``, counter channel id -> the gauge key of that
    # channel's own device's power (W). The meter checks the counters against them, and a stalled
    # counter's window integrates its own device's power instead (monitors/validity.py).

    def poll(self) -> Poll:
        """Read every channel and gauge now; a channel that cannot be read goes in Poll.errors
        (raising fails every channel of the source for this poll)."""
        ...

    def close(self) -> None:
        """Release the device or the child process."""
        ...


@dataclass(frozen=True)
class SourceOptions:
    """What the openers get: the sampler's rate (Hz), and each source's own options object
    (``own``: one per options class the registry names; a source takes its own with
    ``options.get(ItsOptions)``)."""

    sample_hz: float = 10.0
    own: tuple[object, ...] = ()

    def get(self, cls: type[T]) -> T:
        """This run's object of the options class ``cls`` (a source's own), else its defaults."""
        return pick(self.own, cls)

    @property
    def interval_ms(self) -> int:
        """The sampler's period in ms, for a source that runs its own sampling tool (>= 10 ms)."""
        return max(10, round(1000 / self.sample_hz))

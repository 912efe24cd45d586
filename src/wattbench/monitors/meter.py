"""The meter: polls every energy source and the system gauges, and measures windows.

A background sampler thread polls at ``sample_hz`` (default 10 Hz): often enough to integrate
power, to catch RAPL wrap-arounds (minutes apart) and to see memory and utilisation peaks.
``begin()`` and ``end()`` poll once more at the window's edges, so a window's energy is the
difference of cumulative joules read at its exact start and end, whatever the source.

Gauge samples are kept only while a window is open, so memory stays bounded however long the
run; energy accumulates all the time.

A read that fails never stops the sampler: a source that raises fails every one of its channels
for that poll, a source can fail one channel (``Poll.errors``), and the system gauges can fail
alone. The meter counts failed reads per channel, and a window in which a channel's read failed
even once reports that channel as failed (``WindowReading.failed``, with the error), never as
the joules it happened to accumulate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wattbench.monitors.gauges import SystemGauges
from wattbench.monitors.integrate import Accumulator
from wattbench.monitors.protocol import Channel, EnergySource

CLOSE_GRACE_S = 5.0  # close() waits this long for the sampler's last poll, then leaves it
CHECK_MIN_S = 1.0
"""A window at least this long is checked against the source's power reading (see
``counter_checks``): long against any counter's update interval (NVML 20-100 ms, RAPL 1 ms),
so a counter that did not move, or moved far more than the power allows, is not chance."""
STALL_MIN_W = 1.0  # a power reading above this says the device works: its counter must move
BURST_FACTOR = 3.0  # a counter's mean power above this many times the highest power reading...
BURST_SLACK_W = 5.0  # ...plus this, is a burst of updates held back, not energy of this window


@dataclass(frozen=True)
class Sample:
    """One poll: monotonic time (s), gauges, and each channel's cumulative energy (J)."""

    t: float
    gauges: Mapping[str, float]
    joules: Mapping[str, float]


@dataclass
class Window:
    """An open measurement window: the samples taken since it began."""

    samples: list[Sample] = field(default_factory=list)
    start_updates: dict[str, int] = field(default_factory=dict)
    start_failures: dict[str, int] = field(default_factory=dict)
    start_faults: dict[str, int] = field(default_factory=dict)

    @property
    def start(self) -> float:
        """Monotonic time (s) of the poll that opened the window."""
        return self.samples[0].t


@dataclass(frozen=True)
class WindowReading:
    """A closed window: its length, energy and counter updates per channel, and its samples.

    ``failed`` maps each channel whose read failed at least once in the window (its edges
    included) to the last error: its entry in ``joules`` is not a figure and must not be used.
    """

    duration_s: float
    joules: dict[str, float]
    updates: dict[str, int]
    samples: tuple[Sample, ...]
    failed: dict[str, str] = field(default_factory=dict)

    def between(self, start: float, end: float) -> WindowReading:
        """The part of this window from ``start`` to ``end`` (monotonic s, inside the window):
        each channel's cumulative joules interpolated linearly at both edges (a power channel's
        trapezoid, cut), and the samples in between. Counter updates count the samples inside.
        Raises ValueError when the span is not inside the window or is empty.
        """
        samples = self.samples
        if not samples or not samples[0].t <= start < end <= samples[-1].t:
            raise ValueError(f"span {start:.3f}..{end:.3f} s is not inside the window")
        inside = tuple(s for s in samples if start < s.t < end)
        joules = {key: _at(samples, end, key) - _at(samples, start, key) for key in self.joules}
        return WindowReading(
            duration_s=end - start,
            joules=joules,
            updates={key: len(inside) + 1 for key in self.updates},
            samples=(_cut(samples, start), *inside, _cut(samples, end)),
            failed=dict(self.failed),
        )


def _at(samples: tuple[Sample, ...], t: float, key: str) -> float:
    """A channel's cumulative joules at ``t``, linear between the samples either side."""
    after = next(i for i, s in enumerate(samples) if s.t >= t)
    b = samples[after]
    if after == 0 or b.t == t:
        return b.joules[key]
    a = samples[after - 1]
    return a.joules[key] + (b.joules[key] - a.joules[key]) * (t - a.t) / (b.t - a.t)


def _cut(samples: tuple[Sample, ...], t: float) -> Sample:
    """A sample at ``t``: the joules interpolated, the gauges of the next sample at or after it."""
    after = next(s for s in samples if s.t >= t)
    return Sample(t, after.gauges, {key: _at(samples, t, key) for key in after.joules})


class Meter:
    """Energy sources and system gauges, polled in the background and at window edges.

    Channels are keyed ``<source>:<channel>``, e.g. ``nvml:gpu0`` or ``rapl:package-0``.
    """

    def __init__(
        self,
        sources: Sequence[EnergySource],
        sample_hz: float = 10.0,
        system: SystemGauges | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = list(sources)
        self.interval_s = 1.0 / sample_hz
        self.channels: dict[str, tuple[EnergySource, Channel]] = {
            f"{s.name}:{c.id}": (s, c) for s in self.sources for c in s.channels
        }
        self._acc = {key: Accumulator(c.kind, c.wrap_j) for key, (_s, c) in self.channels.items()}
        self._system = system if system is not None else SystemGauges()
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: list[Window] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        self.sampler_cpu_s = 0.0  # CPU time the sampler thread spent, for the cost benchmark
        self.errors: dict[str, str] = {}  # source name (or 'gauges') -> last poll error
        self.failures: dict[str, int] = dict.fromkeys(self.channels, 0)  # channel -> failed reads
        self.last_error: dict[str, str] = {}  # channel -> its last read error

    # -- polling -------------------------------------------------------------------------
    def poll(self) -> Sample:
        """Read every source and gauge now; add the sample to every open window."""
        with self._lock:
            return self._poll_locked()

    def _fail(self, key: str, error: str) -> None:
        self.failures[key] += 1
        self.last_error[key] = error

    def _poll_locked(self) -> Sample:
        try:
            gauges = dict(self._system.read())
        except Exception as exc:  # gauges are context: losing one sample of them loses no figure
            gauges = {}
            self.errors["gauges"] = f"{type(exc).__name__}: {exc}"
        t = self._clock()
        for source in self.sources:
            try:
                reading = source.poll()
            except Exception as exc:  # a failed read fails this poll's channels, not the run
                error = f"{type(exc).__name__}: {exc}"
                self.errors[source.name] = error
                for channel in source.channels:
                    self._fail(f"{source.name}:{channel.id}", error)
                continue
            gauges.update(reading.gauges)
            for channel_id, error in reading.errors.items():
                self.errors[source.name] = error
                self._fail(f"{source.name}:{channel_id}", error)
            for channel_id, value in reading.values.items():
                self._acc[f"{source.name}:{channel_id}"].feed(t, value)
        sample = Sample(t, gauges, {key: acc.joules for key, acc in self._acc.items()})
        self.polls += 1
        for window in self._windows:
            window.samples.append(sample)
        return sample

    def _run(self) -> None:
        start_cpu = time.thread_time()
        next_at = self._clock()
        while not self._stop.is_set():
            self.poll()
            self.sampler_cpu_s = time.thread_time() - start_cpu
            now = self._clock()
            next_at += self.interval_s
            if next_at <= now:
                # Late: a poll slower than the interval (a loaded machine), or a stalled process.
                # The missed polls are skipped, never run back to back: a sampler that never
                # sleeps holds the lock nearly all the time, and begin() and end() wait for it.
                next_at = now + self.interval_s
            self._stop.wait(next_at - now)

    def start(self) -> None:
        """Start the sampler thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wattbench-sampler", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the sampler thread is polling."""
        return self._thread is not None

    # -- windows -------------------------------------------------------------------------
    def begin(self) -> Window:
        """Open a window now."""
        with self._lock:
            failures = dict(self.failures)  # before the opening poll: its failures count
            sample = self._poll_locked()
            window = Window(
                [sample], {key: acc.updates for key, acc in self._acc.items()}, failures,
                {key: acc.faults for key, acc in self._acc.items()},
            )
            self._windows.append(window)
        return window

    def elapsed(self, window: Window) -> float:
        """Seconds since ``window`` began."""
        return self._clock() - window.start

    def end(self, window: Window) -> WindowReading:
        """Close ``window`` now and return what it measured."""
        with self._lock:
            last = self._poll_locked()
            self._windows.remove(window)
            updates = {key: acc.updates - window.start_updates[key] for key, acc in self._acc.items()}
            failed = {
                key: self.last_error[key]
                for key, count in self.failures.items()
                if count > window.start_failures.get(key, 0)
            }
            for key, acc in self._acc.items():
                if acc.faults > window.start_faults.get(key, 0):
                    failed.setdefault(key, acc.last_fault)
        first = window.samples[0]
        reading = WindowReading(
            duration_s=last.t - first.t,
            joules={key: last.joules[key] - first.joules[key] for key in self.channels},
            updates=updates,
            samples=tuple(window.samples),
            failed=failed,
        )
        checked = counter_checks(self.sources, reading)
        return dataclasses.replace(reading, failed={**checked, **failed}) if checked else reading

    def discard(self, window: Window) -> None:
        """Drop an open window without reading it (its case failed)."""
        with self._lock:
            if window in self._windows:
                self._windows.remove(window)

    def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Stop the sampler and release every source, within about ``grace_s`` seconds.

        A sampler still polling after ``grace_s`` (a source's read that blocks: a driver that
        hangs) is left behind, said on stderr: it is a daemon thread, which never holds the
        process's exit. Its sources are then closed by a daemon thread given ``grace_s`` more
        (closing a source under a read in flight, nvmlShutdown for one, may wait for that read).
        """
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None or _joined(thread, grace_s):
            self._close_sources()
            return
        _abandoned(f"the energy sampler is still polling after {grace_s:g} s")
        closer = threading.Thread(target=self._close_sources, name="wattbench-close-sources", daemon=True)
        closer.start()
        if not _joined(closer, grace_s):
            _abandoned(f"closing the energy sources takes over {grace_s:g} s")

    def _close_sources(self) -> None:
        for source in self.sources:
            source.close()


def counter_checks(sources: Sequence[EnergySource], reading: WindowReading) -> dict[str, str]:
    """Counter channels whose figure this window cannot be true, with why: checked against the
    source's own power reading (a source's ``power_gauge``: the gauge key of the power its
    devices draw, in W), in windows of at least CHECK_MIN_S.

    - *stalled*: the counter did not move while the power reading says the device works
      (macOS froze its CPU energy channel under load: vladkens/macmon#76). Never 0 J measured,
      and a longer window would not help.
    - *burst*: the counter moved far more than the power allows, BURST_FACTOR x the highest
      power reading plus BURST_SLACK_W (Apple M5's energy updates in bursts, one window reading
      0 and the next double: lablup/all-smi#410).
    """
    if reading.duration_s < CHECK_MIN_S:
        return {}
    faults: dict[str, str] = {}
    for source in sources:
        gauge = getattr(source, "power_gauge", None)
        powers = [s.gauges[gauge] for s in reading.samples if gauge and gauge in s.gauges]
        counters = [f"{source.name}:{c.id}" for c in source.channels if c.kind == "counter"]
        counters = [key for key in counters if key not in reading.failed]
        if len(powers) < 3 or not counters:
            continue
        mean_w, top_w = sum(powers) / len(powers), max(powers)
        joules = sum(reading.joules[key] for key in counters)
        counter_w = joules / reading.duration_s
        for key in counters:
            if reading.updates[key] == 0 and mean_w >= STALL_MIN_W:
                faults[key] = (
                    f"its counter stalled: no change over {reading.duration_s:.2f} s while the "
                    f"device's power reading averaged {mean_w:.1f} W (a stalled counter is not 0 J)"
                )
            elif counter_w > BURST_FACTOR * top_w + BURST_SLACK_W:
                faults[key] = (
                    f"its counter jumped: {joules:.1f} J over {reading.duration_s:.2f} s is "
                    f"{counter_w:.0f} W, while the device's power reading never exceeded {top_w:.0f} W "
                    "(updates held back and released in a burst)"
                )
    return faults


def _joined(thread: threading.Thread, timeout_s: float) -> bool:
    """Whether ``thread`` ended within ``timeout_s``."""
    thread.join(timeout=timeout_s)
    return not thread.is_alive()


def _abandoned(what: str) -> None:
    """Say on stderr that a background task is left running (a daemon: the exit does not wait)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed, or None
        sys.stderr.write(f"wattbench: {what}; left running, the exit does not wait for it\n")
        sys.stderr.flush()

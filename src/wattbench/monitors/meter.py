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

Whether a counter's figure can be true (a drop, a stall, a burst, a window shorter than its
learned cadence) is decided in one place for every source: monitors/validity.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wattbench.monitors import validity
from wattbench.monitors.gauges import SystemGauges
from wattbench.monitors.integrate import Accumulator, trapezoid
from wattbench.monitors.protocol import Channel, EnergySource
from wattbench.monitors.validity import Integrated

CLOSE_GRACE_S = 5.0  # close() waits this long for the sampler's last poll, then leaves it


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
    included), or whose counter cannot be true (monitors/validity.py), to the error: its entry
    in ``joules`` is not a figure and must not be used. ``integrated`` maps each counter channel
    whose counter stalled to the power gauge integrated in its place (its ``joules`` entry is
    that integral, its ``updates`` entry the power samples), and why.
    """

    duration_s: float
    joules: dict[str, float]
    updates: dict[str, int]
    samples: tuple[Sample, ...]
    failed: dict[str, str] = field(default_factory=dict)
    integrated: dict[str, Integrated] = field(default_factory=dict)

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
        cut = (_cut(samples, start), *inside, _cut(samples, end))
        for key, instead in self.integrated.items():  # the stalled counter's power, over the span
            joules[key] = validity.power_joules(cut, instead.gauge, None) or 0.0
        return WindowReading(
            duration_s=end - start,
            joules=joules,
            updates={key: len(inside) + 1 for key in self.updates},
            samples=cut,
            failed=dict(self.failed),
            integrated=dict(self.integrated),
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

    # -- cadence -------------------------------------------------------------------------
    def cadence_s(self, key: str) -> float | None:
        """Channel ``key``'s learned update cadence (s) as the sampler saw it; None for a power
        channel, or before enough changes were seen (monitors/validity.py, rule 4)."""
        acc = self._acc[key]
        return validity.learned_cadence(tuple(acc.change_times)) if acc.kind == "counter" else None

    def slow_cadences(self) -> dict[str, float | None]:
        """Each hardware counter channel's cadence where it is slower than the sampler can see,
        else None. The estimate's counter is left out: it moves with the benchmark's own CPU
        time, so its pauses are idleness, not an update cadence."""
        return {
            key: validity.slow_cadence(self.cadence_s(key), self.interval_s)
            for key, (s, c) in self.channels.items() if c.kind == "counter" and s.method != "estimated"
        }

    def min_window_s(self) -> float:
        """The shortest window the counted counters' learned cadences allow (0 when none is
        slower than the sampler): a shorter one is too short (validity.TOO_SHORT_CADENCES)."""
        counted = [c for key, c in self.slow_cadences().items() if self.channels[key][1].in_total]
        return max((validity.too_short_s(c) for c in counted), default=0.0)

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
        verdict = validity.check_window(self.sources, reading, self.slow_cadences(), self.interval_s)
        if not verdict.failed and not verdict.integrated:
            return reading
        joules, updates = dict(reading.joules), dict(reading.updates)
        for key, instead in verdict.integrated.items():
            # check_window integrates only where the samples cover the window
            points = validity.power_points(reading.samples, instead.gauge, self.interval_s) or []
            joules[key] = trapezoid(points)
            updates[key] = len(points)
        return dataclasses.replace(
            reading, joules=joules, updates=updates, failed={**verdict.failed, **failed},
            integrated=verdict.integrated,
        )

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


def _joined(thread: threading.Thread, timeout_s: float) -> bool:
    """Whether ``thread`` ended within ``timeout_s``."""
    thread.join(timeout=timeout_s)
    return not thread.is_alive()


def _abandoned(what: str) -> None:
    """Say on stderr that a background task is left running (a daemon: the exit does not wait)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed, or None
        sys.stderr.write(f"wattbench: {what}; left running, the exit does not wait for it\n")
        sys.stderr.flush()

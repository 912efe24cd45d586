"""The GPU knobs as axes of the case matrix: ``--wb-gpu-power-limit`` and ``--wb-gpu-clocks``.

A *point* is one value of each: a power limit in W per GPU and an SM clock locked at a frequency
in MHz, or ``none`` (the limit the GPU had before the run; clocks unlocked). Per case, before
its first run, every GPU of the run's device set (--wb-gpus, an xdist worker's --wb-devices set,
else CUDA_VISIBLE_DEVICES) is put at the case's point through a ``gpucontrol.Control`` (Zeus's
daemon, or NVML as root), read back, and warmed up (the case's own prompt, unrecorded, for at
least SETTLE_S) when the point changed.

- **Order**: the points run in a random order, seeded by --wb-seed, so a drift over the run
  (the room warming, a neighbour's load) does not line up with the points; each record says its
  point's place (``gpu_knob_position``) and the seed (``gpu_knob_seed``). Cases of one point run
  together, so the GPUs change once per point and model.
- **Throttle state**: NVML's clock-event reasons (``nvmlDeviceGetCurrentClocksEventReasons``) and
  the SM clock are sampled over each run's window, at --wb-sample-hz and at its edges: a record
  says in how many of its samples ``sw_power_cap`` was active on any GPU of the set. A cap that
  never fired (``gpu_power_cap_bound`` false) measured the same GPU as the uncapped point.
- **Refusals**: a card that refuses a setting makes that point *unsupported* (recorded, skipped,
  not asked again); one that refuses it outright at start-up (a laptop GPU's power limit, a Pascal
  GPU's clocks) makes every point of that axis unsupported without asking.
- **Restore**: see ``gpucontrol``: close, atexit, and the state files a later start restores.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattbench.errors import GpuControlError, UnsupportedKnobError
from wattbench.knobs.gpucontrol import (
    GRANT,
    Gpu,
    GpuSettings,
    StateFiles,
    by_hand,
    device_set,
    nvml_module,
    open_control,
    state_dir,
)
from wattbench.monitors.gpu import GpuOptions

if TYPE_CHECKING:
    from wattbench.cases import Case
    from wattbench.run.energy import Measured
    from wattbench.run.pool import Resident
    from wattbench.run.workload import Workload
    from wattbench.settings import Settings

POWER = "gpu_power_limit"
CLOCKS = "gpu_clocks"
AXES = (POWER, CLOCKS)
NONE = "none"
SETTLE_S = 1.0  # warm-up after a change: the case's prompt, repeated for at least this long

REASONS = {  # NVML's clock-event (throttle) reason bits, by the names records use
    0x1: "gpu_idle",
    0x2: "user_defined_clocks",  # locked clocks or application clocks
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def _number(value: str | None) -> int | None:
    return None if value in (None, NONE) else int(str(value))


@dataclass(frozen=True)
class Point:
    """One point of the knob axes: a power limit (W per GPU) and a locked SM clock (MHz); None
    is ``none``: the limit the GPU had, clocks unlocked."""

    power_w: int | None = None
    clock_mhz: int | None = None

    @classmethod
    def of(cls, case: Case) -> Point:
        """The point a case runs at (its ``variant``; an axis missing there is ``none``)."""
        return cls(_number(case.variant.get(POWER)), _number(case.variant.get(CLOCKS)))

    def __str__(self) -> str:
        power = "uncapped" if self.power_w is None else f"power limit {self.power_w} W"
        clock = "clocks unlocked" if self.clock_mhz is None else f"SM clock locked at {self.clock_mhz} MHz"
        return f"{power}, {clock}"

    def sort_key(self) -> tuple[int, int, int, int]:
        """``none`` first, then by value: the order the shuffle starts from."""
        return (self.power_w is not None, self.power_w or 0, self.clock_mhz is not None, self.clock_mhz or 0)


def wanted(settings: Settings) -> bool:
    """Whether the run asks for any knob point but ``none``."""
    return any(v != NONE for axis in AXES for v in settings.axis_values.get(axis, ()))


def shuffled(points: Sequence[Point], seed: int) -> list[Point]:
    """``points`` in a random order drawn from ``seed`` (the same seed, the same order)."""
    order = sorted(set(points), key=Point.sort_key)
    random.Random(seed).shuffle(order)
    return order


@dataclass(frozen=True)
class Events:
    """What the clock-event sampler saw over one window."""

    samples: int
    active: Mapping[str, int]  # reason -> samples in which it was active on any GPU of the set
    sm_clock_avg_mhz: float | None
    sm_clock_peak_mhz: float | None


def reasons(mask: int) -> list[str]:
    """The names of the clock-event reasons set in ``mask`` (unknown bits as hex)."""
    named = [name for bit, name in REASONS.items() if mask & bit]
    rest = mask & ~sum(REASONS)
    return named + ([f"0x{rest:x}"] if rest else [])


class EventSampler:
    """NVML's clock-event reasons and the SM clock of a set of GPUs, sampled during windows."""

    def __init__(self, nvml: Any, gpus: Sequence[Gpu], hz: float) -> None:
        self._nvml = nvml
        self._gpus = list(gpus)
        self._interval = 1.0 / hz
        self._lock = threading.Lock()
        self._samples: list[tuple[int | None, list[float]]] = []
        self._active = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._silent: set[tuple[int, str]] = set()  # (GPU, reading) that NVML cannot give here

    def _read(self, gpu: Gpu, what: str, read: Callable[[], Any]) -> Any:
        if (gpu.index, what) in self._silent:
            return None
        try:
            return read()
        except self._nvml.NVMLError:
            self._silent.add((gpu.index, what))
            return None

    def _clock(self, gpu: Gpu) -> Any:
        return self._nvml.nvmlDeviceGetClockInfo(gpu.handle, self._nvml.NVML_CLOCK_SM)

    def _mask(self, gpu: Gpu) -> int | None:
        """The clock-event reasons of one GPU now; None where NVML does not give them."""
        nvml = self._nvml
        read = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if read is not None:
            try:
                return int(read(gpu.handle))
            except nvml.NVMLError as exc:
                if exc.value != nvml.NVML_ERROR_FUNCTION_NOT_FOUND:
                    return None  # not on this GPU: no figure, never "no event"
        try:  # a driver older than 535 knows the same bits under their old name
            return int(nvml.nvmlDeviceGetCurrentClocksThrottleReasons(gpu.handle))
        except (AttributeError, nvml.NVMLError):
            return None

    def poll(self) -> tuple[int | None, list[float]]:
        """One sample: the reasons active on any GPU (None where no GPU reports them), the SM clocks."""
        mask: int | None = None
        clocks: list[float] = []
        for gpu in self._gpus:
            if (gpu.index, "events") not in self._silent:
                found = self._mask(gpu)
                if found is None:
                    self._silent.add((gpu.index, "events"))
                else:
                    mask = (mask or 0) | found
            mhz = self._read(gpu, "clock", functools.partial(self._clock, gpu))
            if mhz is not None:
                clocks.append(float(mhz))
        return mask, clocks

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                if self._active:
                    self._samples.append(self.poll())

    def begin(self) -> None:
        """A window opens: sample from now (one sample at once, then in the thread)."""
        first = self.poll()
        with self._lock:
            self._samples = [first]
            self._active = True
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wattbench-gpu-events", daemon=True)
            self._thread.start()

    def end(self) -> Events:
        """The window closes: one last sample, and what the window's samples say."""
        last = self.poll()
        with self._lock:
            samples = [*self._samples, last] if self._active else []
            self._active = False
            self._samples = []
        masks = [mask for mask, _clocks in samples if mask is not None]
        active: Counter[str] = Counter(name for mask in masks for name in reasons(mask))
        clocks = [sum(c) / len(c) for _mask, c in samples if c]
        peak = [max(c) for _mask, c in samples if c]
        return Events(len(masks), dict(sorted(active.items())), sum(clocks) / len(clocks) if clocks else None,
                      max(peak) if peak else None)

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


@dataclass(frozen=True)
class Applied:
    """A case's point as the GPUs took it: read back after the change."""

    point: Point
    position: int
    warmup_s: float  # warm-up after the change that set this point; 0 when it was already set
    limit_w: float | None  # the enforced power limit read back, lowest over the device set


class GpuKnobs:
    """The knob points of one run (or xdist worker) on its device set."""

    def __init__(self, settings: GpuSettings, values: Mapping[str, Sequence[str]], seed: int,
                 sample_hz: float, settle_s: float = SETTLE_S) -> None:
        self.settings = settings
        self.seed = seed
        self.settle_s = settle_s
        self.uses = {axis: any(v != NONE for v in values.get(axis, ())) for axis in AXES}
        self.sampler = EventSampler(settings.nvml, settings.gpus, sample_hz)
        self.positions: dict[Point, int] = {}
        self.current: Point | None = None  # the point every GPU is at; None: unknown
        self.refused: dict[str, str] = {}  # axis -> why no point of it can be set on this device set
        self.ranges: dict[str, tuple[int, int]] = {}  # GPU uuid -> its power limit range (mW)
        self.notes: list[str] = []
        self.changes = 0
        self._started = False
        self._closed = False

    @property
    def gpus(self) -> list[Gpu]:
        return self.settings.gpus

    def start(self) -> None:
        """Before the first case: restore what earlier runs left changed, then check that the
        settings can be changed here (a write of what the GPUs have now). Raises GpuControlError
        when they cannot; a card that refuses an axis makes its points unsupported."""
        if self._started:
            return
        self._started = True
        self.notes += self.settings.recover()
        nvml = self.settings.nvml
        for gpu in self.gpus:
            if self.uses[POWER] and POWER not in self.refused:
                try:
                    low, high = nvml.nvmlDeviceGetPowerManagementLimitConstraints(gpu.handle)
                    self.ranges[gpu.uuid] = (int(low), int(high))
                except nvml.NVMLError:
                    pass  # the write below says whether the card takes a limit at all
                try:
                    self.settings.set_power_limit(gpu, None)
                except UnsupportedKnobError as exc:
                    self.refused[POWER] = str(exc)
            if self.uses[CLOCKS] and CLOCKS not in self.refused:
                try:
                    self.settings.lock_clocks(gpu, None)
                except UnsupportedKnobError as exc:
                    self.refused[CLOCKS] = str(exc)
        self.current = Point()
        self.notes += [f"every point of --wb-{axis.replace('_', '-')} is unsupported here: {why}"
                       for axis, why in self.refused.items()]

    def order(self, cases: Sequence[Case]) -> list[Case]:
        """``cases`` with their points in a random order drawn from the seed; the cases of one
        point together, each point's in their own order."""
        points = shuffled([Point.of(c) for c in cases], self.seed)
        self.positions = {point: i for i, point in enumerate(points)}
        return sorted(cases, key=lambda c: self.positions[Point.of(c)])

    def _check(self, point: Point) -> None:
        for axis, value in ((POWER, point.power_w), (CLOCKS, point.clock_mhz)):
            if value is not None and axis in self.refused:
                raise UnsupportedKnobError(self.refused[axis])
        if point.power_w is None:
            return
        for gpu in self.gpus:
            low, high = self.ranges.get(gpu.uuid, (0, 1 << 62))
            if not low <= point.power_w * 1000 <= high:
                raise UnsupportedKnobError(
                    f"{gpu} takes a power limit of {low / 1000:g}-{high / 1000:g} W, not {point.power_w} W"
                )

    def enter(self, case: Case, resident: Resident) -> Applied:
        """Put every GPU of the set at ``case``'s point, warm up after a change, read back.

        Raises UnsupportedKnobError (a card refuses the point), GpuControlError (no permission)
        or GenerationError (the change or the warm-up failed)."""
        self.start()
        point = Point.of(case)
        self._check(point)
        position = self.positions.get(point, -1)
        if point == self.current:
            return Applied(point, position, 0.0, self._limit_w())
        before, self.current = self.current, None  # unknown until every GPU took the point
        changed_at = time.monotonic()
        for gpu in self.gpus:
            if self.uses[POWER] and (before is None or before.power_w != point.power_w):
                self.settings.set_power_limit(gpu, None if point.power_w is None else point.power_w * 1000)
            if self.uses[CLOCKS] and (before is None or before.clock_mhz != point.clock_mhz):
                self.settings.lock_clocks(gpu, point.clock_mhz)
        while True:  # warm up at the new point: the same work as the case, unrecorded
            resident.model.generate(case.messages, case.run_sampling(0))
            if time.monotonic() - changed_at >= self.settle_s:
                break
        self.current = point
        self.changes += 1
        return Applied(point, position, time.monotonic() - changed_at, self._limit_w())

    def _limit_w(self) -> float | None:
        """The enforced power limit read back (W), lowest over the device set."""
        nvml = self.settings.nvml
        limits = []
        for gpu in self.gpus:
            with contextlib.suppress(nvml.NVMLError):
                limits.append(nvml.nvmlDeviceGetEnforcedPowerLimit(gpu.handle) / 1000.0)
        return min(limits) if limits else None

    def figures(self, applied: Applied, events: Events) -> dict[str, Any]:
        """A record's knob keys: how the point was set and read back, and its throttle state."""
        out: dict[str, Any] = {
            "gpu_knob_control": self.settings.control.name,
            "gpu_knob_position": applied.position,
            "gpu_knob_seed": self.seed,
            "gpu_knob_warmup_s": applied.warmup_s,
            "gpu_power_limit_w": applied.limit_w,
            "gpu_clock_event_samples_count": events.samples,
        }
        if events.samples:
            capped = events.active.get("sw_power_cap", 0)
            out["gpu_power_cap_active_count"] = capped
            out["gpu_clock_events"] = dict(events.active)
            if applied.point.power_w is not None:
                out["gpu_power_cap_bound"] = capped > 0
        if events.sm_clock_avg_mhz is not None:
            out["gpu_sm_clock_avg_mhz"] = events.sm_clock_avg_mhz
            out["gpu_sm_clock_peak_mhz"] = events.sm_clock_peak_mhz
        return out

    def watch(self, work: Workload, applied: Applied) -> Workload:
        """``work`` whose records also carry the point and the throttle state of their window."""
        return KnobWork(work, self, applied)

    def lines(self) -> list[str]:
        """The banner's lines: who changes what, the order, and what happened at start."""
        axes = " and ".join(f"--wb-{a.replace('_', '-')}" for a in AXES if self.uses[a])
        gpus = ", ".join(str(g) for g in self.gpus)
        order = "; ".join(f"{i}: {p}" for p, i in sorted(self.positions.items(), key=lambda kv: kv[1]))
        return [
            f"GPU knobs ({axes}): {self.settings.control.description} sets {gpus}; each change is warmed up "
            f"for at least {self.settle_s:g} s; restored at the end (state files in "
            f"{self.settings.state.directory})",
            f"GPU knob points in random order (seed {self.seed}, --wb-seed): {order or 'none selected'}",
            *self.notes,
        ]

    def close(self) -> list[str]:
        """Stop sampling and put the GPUs back as they were; what could not be restored."""
        if self._closed:
            return []
        self._closed = True
        self.sampler.close()
        try:
            return self.settings.restore()
        finally:
            with contextlib.suppress(Exception):
                self.settings.nvml.nvmlShutdown()


class KnobWork:
    """A workload whose records also carry their knob point and throttle state: the clock-event
    sampler runs from the end of ``prepare`` (the window opens next) to ``record`` (it closed)."""

    def __init__(self, inner: Workload, knobs: GpuKnobs, applied: Applied) -> None:
        self.inner = inner
        self.knobs = knobs
        self.applied = applied
        self.series = inner.series
        self.owns_window = inner.owns_window

    def prepare(self, run: int) -> None:
        """The work's own preparation, then the sampler starts."""
        self.inner.prepare(run)
        self.knobs.sampler.begin()

    def unit(self, run: int) -> None:
        """The work's timed unit."""
        self.inner.unit(run)

    def again(self, run: int) -> None:
        """The work's repeat."""
        self.inner.again(run)

    def record(self, run: int, measured: Measured | None, machine: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The work's records, each with the point and the window's throttle state."""
        events = self.knobs.sampler.end()
        records = self.inner.record(run, measured, machine)
        figures = self.knobs.figures(self.applied, events)
        for record in records:
            record.update(figures)
        return records

    def discard(self) -> None:
        """The sampler stops; the work drops what it holds."""
        self.knobs.sampler.end()
        self.inner.discard()


def open_knobs(settings: Settings, env: Mapping[str, str] | None = None, nvml: Any = None) -> GpuKnobs | None:
    """The run's GPU knobs; None when it asks for no point but ``none``. Raises GpuControlError
    when settings cannot be changed here (no NVML, no GPU, no privilege), saying how to fix it."""
    if not wanted(settings):
        return None
    env = os.environ if env is None else env
    nvml = nvml_module() if nvml is None else nvml
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise GpuControlError(
            f"--wb-gpu-power-limit / --wb-gpu-clocks: NVML cannot start ({exc}); they need an NVIDIA GPU "
            "and driver"
        ) from None
    try:
        gpus = device_set(nvml, settings.option(GpuOptions).gpus, env)
        control = open_control(nvml, env)
    except BaseException:
        nvml.nvmlShutdown()
        raise
    state = StateFiles(state_dir(env))
    return GpuKnobs(GpuSettings(control, nvml, gpus, state), settings.axis_values, settings.sampling.seed,
                    settings.sample_hz)


def left_behind(env: Mapping[str, str] | None = None, nvml: Any = None) -> list[str]:
    """A run without the knob axes: restore what earlier runs on this host left changed where
    this process may (Zeus's daemon, root), else say how. [] when nothing was left."""
    env = os.environ if env is None else env
    state = StateFiles(state_dir(env))
    left = [s for s in state.left() if not state.held_elsewhere(s)]
    if not left:
        return []
    started = False
    try:
        nvml = nvml_module() if nvml is None else nvml
        nvml.nvmlInit()
        started = True
        return GpuSettings(open_control(nvml, env), nvml, [], state).recover()
    except Exception as exc:  # no NVML, no privilege: the files stay, and the user is told
        why = "not root, and ZEUSD_SOCK_PATH names no Zeus daemon" if str(exc) == GRANT else str(exc)
        return [f"{s} is left as the run of pid {s.pid} changed it, and this run cannot restore it ({why}); "
                f"{by_hand(s)}" for s in left]
    finally:
        if started:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()

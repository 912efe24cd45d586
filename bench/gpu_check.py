"""The GPU check for a machine with an NVIDIA (or AMD) GPU: the counter against integrated power,
its cadence, and the drop and stall detector, for real.

    python bench/gpu_check.py [--gpu 0] [--windows 0.2,1,5] [--repeats 3] [--no-tests] [--knobs]

Finishes in about a minute (well under 5). On one NVIDIA GPU it:
1. loads the GPU with a matrix multiplication loop in a background thread: CuPy if importable
   (``pip install cupy-cuda12x``), else PyTorch if importable, else no load (and says so: the
   figures are then an idle GPU's);
2. measures the energy counter's update period: the counter (nvmlDeviceGetTotalEnergyConsumption,
   mJ) read in a tight loop for 2 s, the median time between changes; then the cadence
   wattbench's 10 Hz sampler learns for it over 4 s (monitors/validity.py) and the shortest
   window that cadence allows;
3. over windows of 0.2, 1 and 5 s (each repeated), reads the counter at the window's edges and
   integrates power (nvmlDeviceGetPowerUsage, mW) sampled at 100 Hz and at wattbench's 10 Hz,
   and wattbench's own NVML source through its Meter over the same window; prints each figure
   in J and the ratios to the counter;
4. runs the drop and stall detector on the real counter: 2 s windows of the real NVML source in
   which one reading is replaced by a drop to 200 J (it must give no figure, naming the drop),
   and in which the counter is held at its first reading while the GPU works (it must integrate
   the GPU's power instead, labelled ``integrated``; the script prints that figure against the
   real counter's);
5. runs the NVML source's own tests for real: ``pytest tests/test_nvml.py`` (the fakes, and the
   gpu-marked test against this GPU).
With ``--knobs`` (Zeus's daemon or root), under the same load, it sweeps two power caps and two
locked SM clocks for real (bench/knob_sweep.py: limit and clock read back, watts, sw_power_cap
samples per point), puts the GPU back, and runs tests/test_gpu_knobs.py too.
Where an AMD GPU answers through amdsmi, it also measures a 3 s window of it (accumulator x
resolution) against its power integrated, and the cadence learned for it.

Without a GPU (no NVIDIA driver, no amdsmi) it says so and exits with status 0: there is nothing
to check.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def open_gpu(index: int) -> tuple[Any, Any] | None:
    """(pynvml, handle) of GPU ``index``, or None after saying why there is none."""
    try:
        import pynvml
    except ImportError:
        print("no GPU check: nvidia-ml-py is not installed (pip install 'wattbench[nvidia]')")
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        print(f"no GPU check: NVML cannot start ({exc}): no NVIDIA driver or GPU on this machine")
        return None
    count = pynvml.nvmlDeviceGetCount()
    if index >= count:
        print(f"no GPU check: NVML sees {count} GPU(s), none with index {index}")
        pynvml.nvmlShutdown()
        return None
    return pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)


def load_generator(index: int) -> tuple[str, Callable[[threading.Event], None] | None]:
    """(what loads the GPU, a loop that runs until the event is set), or (why not, None)."""
    try:
        import cupy

        def cupy_loop(stop: threading.Event) -> None:
            with cupy.cuda.Device(index):
                a = cupy.random.random((8192, 8192), dtype=cupy.float32)
                while not stop.is_set():
                    a @ a  # the work is the point
                    cupy.cuda.Device(index).synchronize()

        return f"CuPy {cupy.__version__} float32 8192x8192 matmul loop", cupy_loop
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            def torch_loop(stop: threading.Event) -> None:
                a = torch.rand((8192, 8192), device=f"cuda:{index}")
                while not stop.is_set():
                    a @ a
                    torch.cuda.synchronize(index)

            return f"PyTorch {torch.__version__} float32 8192x8192 matmul loop", torch_loop
    except ImportError:
        pass
    return "no load: neither CuPy (pip install cupy-cuda12x) nor PyTorch with CUDA is importable; " \
        "the figures below are an idle GPU's", None


def update_period_s(nvml: Any, handle: Any, seconds: float = 2.0) -> tuple[float | None, int]:
    """(median seconds between counter changes, number of changes) over a tight read loop."""
    changes: list[float] = []
    last = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        if value != last:
            changes.append(time.monotonic())
            last = value
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    return (statistics.median(gaps) if gaps else None), len(changes)


class PowerSampler:
    """Power (W) read at ``hz`` in a thread, with monotonic timestamps."""

    def __init__(self, nvml: Any, handle: Any, hz: float = 100.0) -> None:
        self.samples: list[tuple[float, float]] = []
        self._nvml, self._handle, self._interval = nvml, handle, 1.0 / hz
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            watts = self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0
            self.samples.append((time.monotonic(), watts))
            self._stop.wait(self._interval)

    def joules(self, t0: float, t1: float, every: int = 1) -> float:
        """Trapezoid integral of the samples in [t0, t1], keeping every ``every``-th one."""
        from wattbench.monitors.integrate import trapezoid

        inside = [s for s in self.samples if t0 <= s[0] <= t1][::every]
        return trapezoid(inside)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _ratio(value: float | None, counter: float) -> str:
    return f"{value / counter:6.3f}" if value is not None and counter else "     -"


def compare_windows(nvml: Any, handle: Any, index: int, windows: list[float], repeats: int) -> None:
    """Print counter, integrated power and wattbench's Meter figure per window."""
    from wattbench.monitors.figures import energy_figures
    from wattbench.monitors.meter import Meter
    from wattbench.monitors.nvml import open_nvml

    meter = Meter([open_nvml((str(index),))], sample_hz=10.0)
    meter.start()
    sampler = PowerSampler(nvml, handle)
    print(f"{'window s':>8} {'counter J':>10} {'power@100Hz J':>14} {'ratio':>6} {'power@10Hz J':>13} "
          f"{'ratio':>6} {'wattbench J':>12} {'ratio':>6}  method")
    try:
        time.sleep(0.3)
        for seconds in windows:
            for _ in range(repeats):
                window = meter.begin()
                t0, c0 = time.monotonic(), nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                time.sleep(seconds)
                t1, c1 = time.monotonic(), nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                reading = meter.end(window)
                counter = (c1 - c0) / 1000.0
                fast, slow = sampler.joules(t0, t1), sampler.joules(t0, t1, every=10)
                ours = energy_figures(meter, reading, [(1, 1)], None)
                wb = ours.get("energy_j")

                print(
                    f"{seconds:8.1f} {counter:10.2f} {fast:14.2f} {_ratio(fast, counter)} {slow:13.2f} "
                    f"{_ratio(slow, counter)} {wb if wb is not None else float('nan'):12.2f} "
                    f"{_ratio(wb, counter)}  {ours['energy_method']}"
                    + (f"  warning: {ours['energy_warning']}" if "energy_warning" in ours else "")
                )
    finally:
        sampler.close()
        meter.close()


class Tampered:
    """A real energy source whose counter readings are changed as a fault would change them:
    ``drop`` replaces the reading of poll ``at`` by 200 J (Intel's collapse,
    intel/compute-runtime#938); ``stall`` holds every counter at its first reading (macOS froze
    its energy channel under load, vladkens/macmon#76). Everything else is the real source's."""

    def __init__(self, source: Any, mode: str, at: int = 10**9) -> None:
        self.source, self.mode, self.at = source, mode, at
        for name in ("name", "method", "resolution_s", "description", "channels", "power_gauge",
                     "channel_power_gauges"):
            if hasattr(source, name):
                setattr(self, name, getattr(source, name))
        self.polls = 0
        self.frozen: dict[str, float] = {}

    def poll(self) -> Any:
        from wattbench.monitors.protocol import Poll

        reading = self.source.poll()
        self.polls += 1
        values = dict(reading.values)
        if self.mode == "drop" and self.polls == self.at:
            values = dict.fromkeys(values, 200.0)
        elif self.mode == "stall":
            values = {key: self.frozen.setdefault(key, value) for key, value in values.items()}
        return Poll(values, reading.gauges, reading.errors)

    def close(self) -> None:
        """The real source is closed by its owner."""


def cadence_check(index: int, seconds: float = 4.0) -> None:
    """The cadence wattbench's sampler learns for the real counter, and the window it allows."""
    from wattbench.monitors.meter import Meter
    from wattbench.monitors.nvml import open_nvml
    from wattbench.monitors.validity import slow_cadence

    meter = Meter([open_nvml((str(index),))], sample_hz=10.0)
    meter.start()
    try:
        time.sleep(seconds)
        key = f"nvml:gpu{index}"
        cadence = meter.cadence_s(key)
        slow = slow_cadence(cadence, meter.interval_s)
        learned = "-" if cadence is None else f"{cadence * 1000:.0f} ms"
        verdict = (
            f"slower than the sampler: windows under {meter.min_window_s():.2f} s are too short" if slow
            else "as fast as the sampler sees: the declared resolution stands"
        )
        print(f"cadence learned by the 10 Hz sampler: {learned} ({verdict})")
    finally:
        meter.close()


def detector_check(nvml: Any, handle: Any, index: int, seconds: float = 2.0) -> bool:
    """Drop and stall on the real counter: the drop gives no figure, the stall integrates power.
    Prints each verdict; whether both held."""
    from wattbench.monitors.figures import energy_figures
    from wattbench.monitors.meter import Meter
    from wattbench.monitors.nvml import open_nvml

    held = True
    for mode in ("none", "drop", "stall"):
        real = open_nvml((str(index),))
        source = real if mode == "none" else Tampered(real, mode)
        meter = Meter([source], sample_hz=10.0)
        meter.start()
        try:
            time.sleep(0.3)
            c0 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            window = meter.begin()
            if isinstance(source, Tampered):
                source.at = source.polls + 5  # the drop falls inside the window, half a second in
            time.sleep(seconds)
            reading = meter.end(window)
            counter = (nvml.nvmlDeviceGetTotalEnergyConsumption(handle) - c0) / 1000.0
            figures = energy_figures(meter, reading, [(1, 1)], None)
        finally:
            meter.close()
        energy, method = figures.get("energy_j"), figures.get("energy_method")
        warning = str(figures.get("energy_warning", ""))
        if mode == "none":
            ok = energy is not None and method == "measured"
        elif mode == "drop":
            ok = energy is None and "dropped from" in warning
        else:
            ok = energy is not None and method == "integrated" and "stalled" in warning
        held &= ok
        shown = "none" if energy is None else f"{energy:.2f} J"
        print(f"detector, {mode:5}: {'OK  ' if ok else 'FAIL'} energy {shown} ({method}), real counter "
              f"{counter:.2f} J{f', ratio {energy / counter:.3f}' if energy and counter else ''}"
              + (f"; warning: {warning}" if warning else ""))
    return held


def amd_check(seconds: float = 3.0) -> bool | None:
    """An AMD GPU through amdsmi: a window's accumulator figure against its power integrated,
    and the learned cadence; None (said) where no AMD GPU answers."""
    from wattbench.errors import EnergySourceError
    from wattbench.monitors.amdsmi import open_amdsmi
    from wattbench.monitors.figures import energy_figures
    from wattbench.monitors.meter import Meter
    from wattbench.monitors.validity import power_joules

    try:
        source = open_amdsmi()
    except EnergySourceError as exc:
        print(f"amdsmi: no AMD GPU check: {exc}")
        return None
    print(f"amdsmi: {source.description}")
    meter = Meter([source], sample_hz=10.0)
    meter.start()
    try:
        time.sleep(1.0)
        window = meter.begin()
        time.sleep(seconds)
        reading = meter.end(window)
        figures = energy_figures(meter, reading, [(1, 1)], None)
        cadences = {key: meter.cadence_s(key) for key in meter.channels}
    finally:
        meter.close()
    integrated = power_joules(reading.samples, source.power_gauge, None)
    energy = figures.get("energy_j")
    print(f"amdsmi: {seconds:g} s window: {energy if energy is None else f'{energy:.2f}'} J "
          f"({figures.get('energy_method')}), power integrated at 10 Hz "
          f"{'-' if integrated is None else f'{integrated:.2f}'} J; cadences "
          + ", ".join(f"{k} {'-' if c is None else f'{c * 1000:.0f} ms'}" for k, c in cadences.items())
          + (f"; warning: {figures['energy_warning']}" if "energy_warning" in figures else ""))
    return energy is not None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--windows", default="0.2,1,5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-tests", action="store_true", help="skip running tests/test_nvml.py")
    parser.add_argument("--knobs", action="store_true", help="also sweep two power caps and two locked SM "
                        "clocks under the load (bench/knob_sweep.py; needs Zeus's daemon or root)")
    args = parser.parse_args()
    amd = amd_check()
    opened = open_gpu(args.gpu)
    if opened is None:
        return 1 if amd is False else 0
    nvml, handle = opened
    name = nvml.nvmlDeviceGetName(handle)
    print(f"GPU {args.gpu}: {name.decode() if isinstance(name, bytes) else name}, driver "
          f"{nvml.nvmlSystemGetDriverVersion()}")
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except nvml.NVMLError as exc:
        print(f"the energy counter cannot be read ({type(exc).__name__}: {exc}): only power can be "
              "integrated")
        nvml.nvmlShutdown()
        return 1
    what, loop = load_generator(args.gpu)
    print(f"load: {what}")
    stop = threading.Event()
    worker = threading.Thread(target=loop, args=(stop,), daemon=True) if loop else None
    status = 0
    try:
        if worker is not None:
            worker.start()
            time.sleep(2.0)  # clocks and power settle under load
        period, changes = update_period_s(nvml, handle)
        print(f"energy counter: {changes} changes in 2 s, median update period "
              f"{'-' if period is None else f'{period * 1000:.1f} ms'}")
        cadence_check(args.gpu)
        print(f"power now: {nvml.nvmlDeviceGetPowerUsage(handle) / 1000:.1f} W")
        windows = [float(w) for w in args.windows.split(",")]
        compare_windows(nvml, handle, args.gpu, windows, args.repeats)
        if not detector_check(nvml, handle, args.gpu):
            status = 1
        if args.knobs:
            from knob_sweep import sweep

            status = sweep(nvml, args.gpu) or status
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        nvml.nvmlShutdown()
    if amd is False:
        status = 1
    if not args.no_tests:
        print("\nthe NVML source's tests, for real: pytest tests/test_nvml.py", flush=True)
        status = status or subprocess.call(
            [sys.executable, "-m", "pytest", str(REPO / "tests" / "test_nvml.py"),
             *([str(REPO / "tests" / "test_gpu_knobs.py")] if args.knobs else []), "-q", "-rs",
             "-p", "no:cacheprovider"],
            cwd=REPO,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())

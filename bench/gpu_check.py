"""The NVML check for a machine with an NVIDIA GPU: counter against integrated power, for real.

    python bench/gpu_check.py [--gpu 0] [--windows 0.2,1,5] [--repeats 3] [--no-tests]

Finishes in about a minute (well under 5). On one GPU it:
1. loads the GPU with a matrix multiplication loop in a background thread: CuPy if importable
   (``pip install cupy-cuda12x``), else PyTorch if importable, else no load (and says so: the
   figures are then an idle GPU's);
2. measures the energy counter's update period: the counter (nvmlDeviceGetTotalEnergyConsumption,
   mJ) read in a tight loop for 2 s, the median time between changes;
3. over windows of 0.2, 1 and 5 s (each repeated), reads the counter at the window's edges and
   integrates power (nvmlDeviceGetPowerUsage, mW) sampled at 100 Hz and at wattbench's 10 Hz,
   and wattbench's own NVML source through its Meter over the same window; prints each figure
   in J and the ratios to the counter;
4. runs the NVML source's own tests for real: ``pytest tests/test_nvml.py`` (the fakes, and the
   gpu-marked test against this GPU).

Without an NVIDIA driver or GPU it says so and exits with status 0: there is nothing to check.
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--windows", default="0.2,1,5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-tests", action="store_true", help="skip running tests/test_nvml.py")
    args = parser.parse_args()
    opened = open_gpu(args.gpu)
    if opened is None:
        return 0
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
        print(f"power now: {nvml.nvmlDeviceGetPowerUsage(handle) / 1000:.1f} W")
        windows = [float(w) for w in args.windows.split(",")]
        compare_windows(nvml, handle, args.gpu, windows, args.repeats)
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        nvml.nvmlShutdown()
    if not args.no_tests:
        print("\nthe NVML source's tests, for real: pytest tests/test_nvml.py", flush=True)
        status = subprocess.call(
            [sys.executable, "-m", "pytest", str(REPO / "tests" / "test_nvml.py"), "-q", "-rs",
             "-p", "no:cacheprovider"],
            cwd=REPO,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())

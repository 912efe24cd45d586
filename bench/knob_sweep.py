"""The GPU knob axes for real: two power caps and two locked SM clocks on one loaded GPU.

    python bench/gpu_check.py --knobs          (inside the NVML check, under its load)
    python bench/knob_sweep.py [--gpu 0] [--seconds 3]

Needs what --wb-gpu-power-limit needs: Zeus's daemon (ZEUSD_SOCK_PATH) or root. The points: the
card's own limit; a cap at 60% of its default limit (within its range), which binds under a
matrix-multiplication load, and one at its maximum, which should not; the SM clock locked at the
highest supported graphics clock and at the supported clock nearest 60% of it. Each point is held
for a warm-up second, then measured for --seconds: the limit read back, the SM clock (mean,
peak), the energy counter's mean power, and in how many samples sw_power_cap fired.

Exit status 1 when a read-back contradicts its request (a limit that did not take, a clock above
its lock, a binding cap that never fired), 0 otherwise. The GPU is put back at the end (and by
atexit, and by the state file at the next start, as in a run).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

CLOCK_SLACK_MHZ = 15  # a locked clock reads within one step of its lock


def choose_points(nvml: Any, handle: Any) -> tuple[list[int], list[int], list[str]]:
    """(two caps in mW, two SM clocks in MHz, notes on what the card does not support)."""
    notes: list[str] = []
    caps: list[int] = []
    clocks: list[int] = []
    try:
        low, high = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
        default = nvml.nvmlDeviceGetPowerManagementDefaultLimit(handle)
        caps = sorted({max(int(low), int(default * 0.6)), int(high)})
    except nvml.NVMLError as exc:
        notes.append(f"no power limit range ({type(exc).__name__}: {exc}): caps not swept")
    try:
        memory = max(nvml.nvmlDeviceGetSupportedMemoryClocks(handle))
        graphics = sorted(int(c) for c in nvml.nvmlDeviceGetSupportedGraphicsClocks(handle, memory))
        top = graphics[-1]
        clocks = [top, min(graphics, key=lambda c: abs(c - 0.6 * top))]
    except (nvml.NVMLError, ValueError) as exc:
        notes.append(f"no supported clock list ({type(exc).__name__}: {exc}): clocks not swept")
    return caps, clocks, notes


def sweep(nvml: Any, index: int, seconds: float = 3.0) -> int:
    """Sweep the points on GPU ``index`` (NVML initialised, a load running); the exit status."""
    from wattbench.errors import GpuControlError, UnsupportedKnobError
    from wattbench.knobs.gpuaxes import EventSampler
    from wattbench.knobs.gpucontrol import GpuSettings, StateFiles, all_gpus, open_control, state_dir

    gpu = all_gpus(nvml)[index]
    try:
        control = open_control(nvml)
    except GpuControlError as exc:
        print(f"knob sweep: cannot change the GPU here: {exc}")
        return 1
    settings = GpuSettings(control, nvml, [gpu], StateFiles(state_dir()))
    for line in settings.recover():
        print(f"knob sweep: {line}")
    caps, clocks, notes = choose_points(nvml, gpu.handle)
    for note in notes:
        print(f"knob sweep: {note}")
    points: list[tuple[str, int | None, int | None]] = [("own limit, unlocked", None, None)]
    points += [(f"cap {mw / 1000:g} W", mw, None) for mw in caps]
    points += [(f"SM clock {mhz} MHz", None, mhz) for mhz in clocks]
    sampler = EventSampler(nvml, [gpu], hz=10.0)
    status = 0
    print(f"knob sweep on {gpu} through {control.description}: {seconds:g} s per point")
    print(f"{'point':>22} {'limit W':>8} {'SM MHz avg':>10} {'peak':>6} {'power W':>8}  sw_power_cap")
    at: tuple[int | None, int | None] = (None, None)  # the card's own limit, clocks unlocked
    try:
        for label, mw, mhz in points:
            try:  # only what changes: a card that cannot lock clocks still sweeps its caps
                if mw != at[0]:
                    settings.set_power_limit(gpu, mw)
                    at = (mw, at[1])
                if mhz != at[1]:
                    settings.lock_clocks(gpu, mhz)  # a refusal changed nothing
                    at = (at[0], mhz)
            except UnsupportedKnobError as exc:
                print(f"{label:>22}  unsupported: {exc}")
                continue
            time.sleep(1.0)  # warm-up at the point, under the load
            e0, t0 = nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle), time.monotonic()
            sampler.begin()
            time.sleep(seconds)
            events = sampler.end()
            e1, t1 = nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle), time.monotonic()
            limit = nvml.nvmlDeviceGetEnforcedPowerLimit(gpu.handle) / 1000.0
            watts = (e1 - e0) / 1000.0 / (t1 - t0)
            fired = events.active.get("sw_power_cap", 0)
            avg, peak = events.sm_clock_avg_mhz, events.sm_clock_peak_mhz
            print(f"{label:>22} {limit:8.0f} {avg or float('nan'):10.0f} {peak or float('nan'):6.0f} "
                  f"{watts:8.1f}  {fired} of {events.samples} samples")
            wrong = []
            if mw is not None and abs(limit - mw / 1000.0) > 1.0:
                wrong.append(f"the limit reads {limit:g} W, not {mw / 1000:g} W")
            if mhz is not None and peak is not None and peak > mhz + CLOCK_SLACK_MHZ:
                wrong.append(f"the SM clock reached {peak:g} MHz above its {mhz} MHz lock")
            if mw is not None and mw == min(caps) and watts >= 0.98 * mw / 1000.0 and not fired:
                wrong.append("the power sat at the cap, yet sw_power_cap never fired")
            for what in wrong:
                print(f"{'':>22}  MISMATCH: {what}")
                status = 1
    finally:
        sampler.close()
        left = settings.restore()
        for line in left:
            print(f"knob sweep: WARNING: {line}")
        print("knob sweep: the GPU is back as it was" if not left else "knob sweep: see the WARNING above")
    return status


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    from gpu_check import load_generator, open_gpu

    opened = open_gpu(args.gpu)
    if opened is None:
        return 0
    nvml, _handle = opened
    what, loop = load_generator(args.gpu)
    print(f"load: {what}")
    stop = threading.Event()
    worker = threading.Thread(target=loop, args=(stop,), daemon=True) if loop else None
    try:
        if worker is not None:
            worker.start()
            time.sleep(2.0)
        return sweep(nvml, args.gpu, args.seconds)
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        nvml.nvmlShutdown()


if __name__ == "__main__":
    sys.exit(main())

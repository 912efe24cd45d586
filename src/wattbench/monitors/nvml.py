"""NVIDIA GPU energy through NVML (the `nvidia-ml-py` package, imported as ``pynvml``).

Per device, best first:
- ``nvmlDeviceGetTotalEnergyConsumption``: millijoules since the driver loaded (Volta and
  newer), updated about every 100 ms. Read at a window's edges, it is a measurement; over a
  window of D seconds its error can reach about 2 x 0.1 s / D (20% at 1 s, 4% at 5 s).
- ``nvmlDeviceGetPowerUsage``: milliwatts, sampled by the meter and integrated. On A100/H100
  it covers only part of each 100 ms, so integrated power can under-read by tens of percent;
  records from such a device say ``integrated``, not ``measured``.

Faults, per device (never for the whole source):
- The counter is missing or fails when the source opens (NVML_ERROR_NOT_SUPPORTED on pre-Volta
  GPUs, NVML_ERROR_NOT_READY seen on H100 PCIe, any other NVMLError): that GPU integrates power,
  and the description says why.
- Neither the counter nor power can be read: that GPU is skipped, with the error in the
  description; no GPU left is an EnergySourceError.
- A read fails during the run: that channel goes in ``Poll.errors`` with the NVML error's name,
  and the meter reports no figure for it in any window the failure touches (never 0 J).

Gauges per poll: utilisation (%), memory used (MiB), temperature (C) and power (W), summed
(memory, power), averaged (utilisation) or maxed (temperature) over the measured devices; with
more than one device, each one's power too (``gpu<N>_power_w``, W), against which its counter is
checked and which stands in for a stalled counter (monitors/validity.py); and
``gpu_other_processes_count``: processes on the measured GPUs (NVML's compute and graphics
lists) that are not in the benchmark's own process tree. A pid that this process cannot see
(NVML reports host pids; inside a container the pid namespace differs) is not counted, and the
source keeps the number of such pids it saw (``hidden_pids``) for the run summary.

Which GPUs: --wb-gpus, else CUDA_VISIBLE_DEVICES, else every GPU. Both take indices, full UUIDs
or unique UUID prefixes (``GPU-5a3f``), as CUDA does. CUDA_VISIBLE_DEVICES follows CUDA's own
rules: empty (``""``) or ``-1`` means no GPU, and the list ends at the first entry that names no
GPU. An entry of --wb-gpus that names no GPU is an error. MIG instances (``MIG-...``) are
skipped with a note: NVML has no energy counter or power reading per instance.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Sequence
from typing import Any

import psutil

from wattbench.errors import EnergySourceError
from wattbench.monitors.gauges import MIB, own_tree
from wattbench.monitors.gpu import Device, GpuFacts, GpuLibrary, GpuOptions
from wattbench.monitors.protocol import Channel, Poll, SourceOptions

RESOLUTION_S = 0.1  # the energy counter updates about every 100 ms


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_error(exc: BaseException) -> str:
    """An NVML error as a record shows it: its class (which names the code) and its text."""
    return f"{type(exc).__name__}: {exc}"


def _library(nvml: Any) -> GpuLibrary:
    """How NVML starts and stops (``nvml``: pynvml or a fake of it)."""
    return GpuLibrary("NVML", nvml.nvmlInit, nvml.nvmlShutdown, nvml.NVMLError, nvml_error,
                      "is an NVIDIA driver installed?")


VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"  # the CUDA runtime's devices (monitors/gpu.py: set_visible)


def visible_gpus(env: dict[str, str] | os._Environ[str] = os.environ) -> tuple[str, ...] | None:
    """GPU selectors from CUDA_VISIBLE_DEVICES (None when unset: every GPU; () for none)."""
    value = env.get(VISIBLE_ENV)
    if value is None:
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())


class NvmlSource:
    """Energy (J, counter or integrated power) and gauges of the selected NVIDIA GPUs."""

    name = "nvml"
    resolution_s = RESOLUTION_S
    power_gauge = "gpu_power_w"  # the selected GPUs' power draw, summed: checks their counters

    def __init__(
        self, nvml: Any, devices: Sequence[Device], notes: Sequence[str] = (),
        own_pids: Callable[[], frozenset[int]] | None = None,
        pid_visible: Callable[[int], bool] = psutil.pid_exists,
    ) -> None:
        self._nvml = nvml
        self._devices = list(devices)
        self._own_pids = own_pids if own_pids is not None else own_tree().pids
        self._pid_visible = pid_visible
        self.channels = tuple(
            Channel(id=f"gpu{d.index}", domain="gpu", kind="counter" if d.counter else "power")
            for d in self._devices
        )
        self.method = "measured" if all(d.counter for d in self._devices) else "integrated"
        self._each_power = len(self._devices) > 1
        self.channel_power_gauges = {  # counter channel -> its own device's power gauge (W)
            f"gpu{d.index}": f"gpu{d.index}_power_w" if self._each_power else self.power_gauge
            for d in self._devices if d.counter
        }
        parts = [
            f"GPU {d.index} {d.name}: " + ("energy counter" if d.counter else f"power x time ({d.why})")
            for d in self._devices
        ]
        self.notes = list(notes)
        self.description = "NVML " + "; ".join(parts + self.notes)
        self._unsupported: set[tuple[int, str]] = set()
        self.hidden_pids: set[int] = set()  # pids NVML listed that this process cannot see

    def _gauge(self, index: int, what: str, read: Callable[[], Any]) -> Any:
        """One gauge of one device, or None where the device does not support it."""
        if (index, what) in self._unsupported:
            return None
        try:
            return read()
        except self._nvml.NVMLError:
            self._unsupported.add((index, what))
            return None

    def _processes(self, device: Device) -> set[int] | None:
        """Pids on the device (compute and graphics lists); None where NVML lists neither."""
        pids: set[int] | None = None
        nvml = self._nvml
        lists: tuple[tuple[str, Callable[[Any], Any]], ...] = (
            ("compute", nvml.nvmlDeviceGetComputeRunningProcesses),
            ("graphics", nvml.nvmlDeviceGetGraphicsRunningProcesses),
        )
        for what, read in lists:
            listed = self._gauge(device.index, what, functools.partial(read, device.handle))
            if listed is not None:
                pids = (pids or set()) | {int(p.pid) for p in listed}
        return pids

    def poll(self) -> Poll:
        """Energy of every device, the gauges over them, and the channels that failed to read."""
        nvml = self._nvml
        values: dict[str, float] = {}
        errors: dict[str, str] = {}
        util: list[float] = []
        mem: list[float] = []
        temp: list[float] = []
        power: list[float] = []
        pids: set[int] | None = None
        gauges: dict[str, float] = {}
        for device in self._devices:
            channel, handle = f"gpu{device.index}", device.handle
            watts: float | None = None
            try:
                watts = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            except nvml.NVMLError as exc:
                if not device.counter:
                    errors[channel] = nvml_error(exc)
            if device.counter:
                try:
                    values[channel] = nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
                except nvml.NVMLError as exc:
                    errors[channel] = nvml_error(exc)
            elif watts is not None:
                values[channel] = watts
            readings = (
                (util, "util", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).gpu),
                (mem, "mem", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h).used / MIB),
                (temp, "temp", lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
            )
            for bucket, what, read in readings:
                value = self._gauge(device.index, what, read)
                if value is not None:
                    bucket.append(float(value))
            if watts is not None:
                power.append(watts)
                if self._each_power:
                    gauges[f"gpu{device.index}_power_w"] = watts
            listed = self._processes(device)
            if listed is not None:
                pids = (pids or set()) | listed
        if util:
            gauges["gpu_util_pct"] = sum(util) / len(util)
        if mem:
            gauges["gpu_mem_mb"] = sum(mem)
        if temp:
            gauges["gpu_temp_c"] = max(temp)
        if power:
            gauges["gpu_power_w"] = sum(power)
        if pids is not None:
            others = pids - self._own_pids()
            hidden = {pid for pid in others if not self._pid_visible(pid)}
            self.hidden_pids |= hidden
            gauges["gpu_other_processes_count"] = float(len(others - hidden))
        return Poll(values, gauges, errors)

    def close(self) -> None:
        """Shut NVML down."""
        _library(self._nvml).shut_down()


def _match(item: str, count: int, uuids: dict[str, int]) -> int | None:
    """The index ``item`` names: an index, a full UUID or a unique UUID prefix; else None."""
    if item.isdigit():
        return int(item) if int(item) < count else None
    hits = [index for uuid, index in uuids.items() if uuid.lower().startswith(item.lower())]
    return hits[0] if len(hits) == 1 else None


def _select(
    nvml: Any, count: int, wanted: Sequence[str] | None, from_env: bool
) -> tuple[list[tuple[int, Any]], list[str]]:
    """(index, handle) of the wanted GPUs, and notes on what was skipped.

    ``wanted``: indices, UUIDs or unique UUID prefixes; None or ['all']: every GPU. From
    CUDA_VISIBLE_DEVICES (``from_env``) the list ends at the first entry that names no GPU, as
    in CUDA; from --wb-gpus such an entry is an EnergySourceError.
    """
    if wanted is None or [w.lower() for w in wanted] == ["all"]:
        return [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)], []
    where = "CUDA_VISIBLE_DEVICES" if from_env else "--wb-gpus"
    uuids = {_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))): i for i in range(count)}
    chosen: list[tuple[int, Any]] = []
    notes: list[str] = []
    for position, item in enumerate(wanted):
        if item.upper().startswith("MIG-"):
            notes.append(
                f"skipped {item} from {where}: a MIG instance (NVML has no energy counter or "
                "power reading per instance; measure the whole GPU by its index or UUID)"
            )
            continue
        index = _match(item, count, uuids)
        if index is None and from_env:
            rest = ", ".join(wanted[position:])
            notes.append(
                f"CUDA_VISIBLE_DEVICES entry {item!r} names no GPU here: CUDA ignores it and every "
                f"entry after it ({rest}), and so does wattbench"
            )
            break
        if index is None:
            raise EnergySourceError(
                f"NVML: no GPU {item!r} in {where}; this machine has {count}: indices "
                f"0-{count - 1}, UUIDs or unique UUID prefixes of {', '.join(uuids) or 'none'}"
            )
        if index not in (i for i, _ in chosen):
            chosen.append((index, nvml.nvmlDeviceGetHandleByIndex(index)))
    return chosen, notes


def _device(nvml: Any, index: int, handle: Any) -> Device:
    """How to measure one GPU: its counter, else its power; NVMLError when neither reads."""
    name = _text(nvml.nvmlDeviceGetName(handle))
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return Device(index, handle, name, counter=True)
    except nvml.NVMLError as exc:
        if exc.value in (nvml.NVML_ERROR_NOT_SUPPORTED, nvml.NVML_ERROR_FUNCTION_NOT_FOUND):
            why = f"no energy counter: {nvml_error(exc)}"
        else:
            why = f"energy counter unreadable at start: {nvml_error(exc)}"
    nvml.nvmlDeviceGetPowerUsage(handle)  # raises when power cannot be read either
    return Device(index, handle, name, counter=False, why=why)


def _mig_note(nvml: Any, device: Device) -> str | None:
    """A note when the GPU is in MIG mode: its counter covers every instance on it."""
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(device.handle)
    except nvml.NVMLError:
        return None  # not a MIG-capable GPU
    if not current:
        return None
    return (
        f"GPU {device.index} is in MIG mode: its energy covers every MIG instance on it, not only "
        "this run's"
    )


def open_nvml(gpus: Sequence[str] | None = None, nvml: Any = None) -> NvmlSource:
    """The NVML source for ``gpus`` (default: CUDA_VISIBLE_DEVICES, else all).

    ``nvml`` is the pynvml module, or an object with the same functions (tests pass a fake).
    Raises EnergySourceError naming what is missing: the package, the driver, a GPU, or every
    selected GPU's readings.
    """
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            raise EnergySourceError(
                "NVML: the nvidia-ml-py package is not installed: pip install 'wattbench[nvidia]'"
            ) from None
    wanted, from_env = (gpus, False) if gpus is not None else (visible_gpus(), True)
    if wanted is not None and not [w for w in wanted if w != "-1"]:
        raise EnergySourceError(
            "NVML: CUDA_VISIBLE_DEVICES hides every GPU (empty or -1): no GPU is measured"
            if from_env else "NVML: --wb-gpus names no GPU"
        )
    with _library(nvml).opening():
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            raise EnergySourceError("NVML: the driver reports no GPU")
        chosen, notes = _select(nvml, count, wanted, from_env)
        devices: list[Device] = []
        for index, handle in chosen:
            try:
                devices.append(_device(nvml, index, handle))
            except nvml.NVMLError as exc:
                notes.append(
                    f"skipped GPU {index}: neither its energy counter nor its power reads ({nvml_error(exc)})"
                )
        notes += [n for n in (_mig_note(nvml, d) for d in devices) if n]
        if not devices:
            raise EnergySourceError("NVML: no GPU to measure: " + "; ".join(notes))
    return NvmlSource(nvml, devices, notes)


def from_options(options: SourceOptions) -> NvmlSource:
    """The NVML source for the run's --wb-gpus (monitors/__init__.py's registry opens it so)."""
    return open_nvml(options.get(GpuOptions).gpus)


def gpu_facts(nvml: Any = None) -> GpuFacts | None:
    """The NVIDIA GPUs' names and driver version for the machine description (``nvml``: pynvml or
    a fake of it); None where pynvml is missing or NVML cannot start; names ('unreadable',) where
    NVML started but could not list them."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return None

    def read() -> GpuFacts:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        names = tuple(_text(nvml.nvmlDeviceGetName(h)) for h in handles)
        return GpuFacts(names, _text(nvml.nvmlSystemGetDriverVersion()))

    return _library(nvml).facts(read)

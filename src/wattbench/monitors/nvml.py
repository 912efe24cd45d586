"""NVIDIA GPU energy through NVML (the `nvidia-ml-py` package, imported as ``pynvml``).

Per device, best first:
- ``nvmlDeviceGetTotalEnergyConsumption``: millijoules since the driver loaded (Volta and
  newer), updated about every 100 ms. Read at a window's edges, it is a measurement; over a
  window of D seconds its error can reach about 2 x 0.1 s / D (20% at 1 s, 4% at 5 s).
- ``nvmlDeviceGetPowerUsage``: milliwatts, sampled by the meter and integrated. On A100/H100
  it covers only part of each 100 ms, so integrated power can under-read by tens of percent;
  records from such a device say ``integrated``, not ``measured``.

Gauges per poll: utilisation (%), memory used (MiB), temperature (C) and power (W), summed
(memory, power), averaged (utilisation) or maxed (temperature) over the measured devices.

Which GPUs: --wb-gpus, else CUDA_VISIBLE_DEVICES (indices or GPU-UUIDs), else every GPU.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Sequence
from typing import Any

from wattbench.errors import EnergySourceError
from wattbench.monitors.procfs import MIB
from wattbench.monitors.protocol import Channel, Poll

RESOLUTION_S = 0.1  # the energy counter updates about every 100 ms


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_gpus(env: dict[str, str] | os._Environ[str] = os.environ) -> tuple[str, ...] | None:
    """GPU selectors from CUDA_VISIBLE_DEVICES (None when unset: every GPU)."""
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())


class NvmlSource:
    """Energy (J, counter or integrated power) and gauges of the selected NVIDIA GPUs."""

    name = "nvml"
    resolution_s = RESOLUTION_S

    def __init__(self, nvml: Any, handles: Sequence[tuple[int, Any, str, bool]]) -> None:
        self._nvml = nvml
        self._devices = list(handles)  # (index, handle, name, has energy counter)
        self.channels = tuple(
            Channel(id=f"gpu{index}", domain="gpu", kind="counter" if counter else "power")
            for index, _handle, _name, counter in self._devices
        )
        all_counters = all(counter for *_, counter in self._devices)
        self.method = "measured" if all_counters else "integrated"
        parts = [
            f"GPU {index} {name}: {'energy counter' if counter else 'power x time'}"
            for index, _handle, name, counter in self._devices
        ]
        self.description = "NVML " + "; ".join(parts)
        self._unsupported: set[tuple[int, str]] = set()

    def _gauge(self, index: int, what: str, read: Any) -> float | None:
        """One gauge of one device, or None where the device does not support it."""
        if (index, what) in self._unsupported:
            return None
        try:
            return float(read())
        except self._nvml.NVMLError:
            self._unsupported.add((index, what))
            return None

    def poll(self) -> Poll:
        """Energy of every device and the gauges summed, averaged or maxed over them."""
        nvml = self._nvml
        values: dict[str, float] = {}
        util: list[float] = []
        mem: list[float] = []
        temp: list[float] = []
        power: list[float] = []
        for index, handle, _name, counter in self._devices:
            watts = self._gauge(index, "power", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0)
            if counter:
                values[f"gpu{index}"] = nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
            elif watts is not None:
                values[f"gpu{index}"] = watts
            readings = (
                (util, "util", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).gpu),
                (mem, "mem", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h).used / MIB),
                (temp, "temp", lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
            )
            for bucket, what, read in readings:
                value = self._gauge(index, what, read)
                if value is not None:
                    bucket.append(value)
            if watts is not None:
                power.append(watts)
        gauges: dict[str, float] = {}
        if util:
            gauges["gpu_util_pct"] = sum(util) / len(util)
        if mem:
            gauges["gpu_mem_mb"] = sum(mem)
        if temp:
            gauges["gpu_temp_c"] = max(temp)
        if power:
            gauges["gpu_power_w"] = sum(power)
        return Poll(values, gauges)

    def close(self) -> None:
        """Shut NVML down."""
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()


def _select(nvml: Any, count: int, wanted: Sequence[str] | None) -> list[tuple[int, Any]]:
    """(index, handle) of the wanted GPUs: indices or GPU-UUIDs; every GPU for None or 'all'."""
    if wanted is None or [w.lower() for w in wanted] == ["all"]:
        return [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)]
    uuids = {_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))): i for i in range(count)}
    chosen: list[tuple[int, Any]] = []
    for item in wanted:
        if item.isdigit() and int(item) < count:
            index = int(item)
        elif item in uuids:
            index = uuids[item]
        else:
            raise EnergySourceError(
                f"NVML: no GPU {item!r} (--wb-gpus or CUDA_VISIBLE_DEVICES); this machine has "
                f"{count}: indices 0-{count - 1} or UUIDs {', '.join(uuids) or 'none'}"
            )
        chosen.append((index, nvml.nvmlDeviceGetHandleByIndex(index)))
    return chosen


def _has_counter(nvml: Any, handle: Any) -> bool:
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except nvml.NVMLError as exc:
        if exc.value in (nvml.NVML_ERROR_NOT_SUPPORTED, nvml.NVML_ERROR_FUNCTION_NOT_FOUND):
            return False
        raise
    return True


def open_nvml(gpus: Sequence[str] | None = None, nvml: Any = None) -> NvmlSource:
    """The NVML source for ``gpus`` (default: CUDA_VISIBLE_DEVICES, else all).

    ``nvml`` is the pynvml module, or an object with the same functions (tests pass a fake).
    Raises EnergySourceError naming what is missing: the package, the driver, a GPU.
    """
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            raise EnergySourceError(
                "NVML: the nvidia-ml-py package is not installed: pip install 'wattbench[nvidia]'"
            ) from None
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise EnergySourceError(f"NVML: cannot start ({exc}); is an NVIDIA driver installed?") from None
    try:
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            raise EnergySourceError("NVML: the driver reports no GPU")
        devices = []
        for index, handle in _select(nvml, count, gpus if gpus is not None else visible_gpus()):
            counter = _has_counter(nvml, handle)
            if not counter:
                try:
                    nvml.nvmlDeviceGetPowerUsage(handle)
                except nvml.NVMLError as exc:
                    raise EnergySourceError(
                        f"NVML: GPU {index} has neither an energy counter nor a power reading ({exc})"
                    ) from None
            devices.append((index, handle, _text(nvml.nvmlDeviceGetName(handle)), counter))
    except nvml.NVMLError as exc:
        nvml.nvmlShutdown()
        raise EnergySourceError(f"NVML: cannot read the GPUs: {exc}") from None
    except BaseException:
        nvml.nvmlShutdown()
        raise
    return NvmlSource(nvml, devices)

"""A fake of the pynvml module (nvidia-ml-py): the functions wattbench calls, same names, same
arguments, same return shapes and the real NVMLError classes. tests/test_nvml.py checks the
signatures against the installed pynvml, so the fake cannot drift from the real interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml

NVMLError = pynvml.NVMLError
NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
NVML_ERROR_NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
NVML_ERROR_FUNCTION_NOT_FOUND = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
NVML_ERROR_LIBRARY_NOT_FOUND = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
NVML_ERROR_NOT_READY = pynvml.NVML_ERROR_NOT_READY


@dataclass
class FakeGpu:
    """One device: its counter (mJ) and power (mW) move when a test says so."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    energy_mj: int | None = 1_000_000  # None: no energy counter (pre-Volta)
    power_mw: int = 70_000
    util_pct: int = 0
    mem_used_bytes: int = 512 * 1024 * 1024
    temp_c: int | None = 35  # None: no temperature sensor
    calls: list[str] = field(default_factory=list)
    energy_error: int | None = None  # an NVML_ERROR_* the energy counter raises, e.g. NOT_READY
    power_error: int | None = None  # an NVML_ERROR_* the power reading raises
    compute_pids: list[int] = field(default_factory=list)  # processes on the GPU (NVML's lists)
    graphics_pids: list[int] = field(default_factory=list)
    mig_mode: int | None = None  # None: not MIG-capable (NVML_ERROR_NOT_SUPPORTED); 1: MIG on


class FakeNvml:
    """An object with pynvml's functions, over a list of FakeGpu."""

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_FUNCTION_NOT_FOUND = NVML_ERROR_FUNCTION_NOT_FOUND

    def __init__(self, gpus: list[FakeGpu], driver_loaded: bool = True) -> None:
        self.gpus = gpus
        self.driver_loaded = driver_loaded
        self.driver_version = "550.54.15"
        self.inits = 0  # NVML counts nvmlInit calls; only the last nvmlShutdown shuts it down
        self.shutdowns = 0

    @property
    def initialised(self) -> bool:
        return self.inits > 0

    def _gpu(self, handle: Any) -> FakeGpu:
        if not self.initialised:
            raise NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        return self.gpus[handle]

    def nvmlInit(self) -> None:
        if not self.driver_loaded:
            raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
        self.inits += 1

    def nvmlShutdown(self) -> None:
        if not self.initialised:
            raise NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        self.inits -= 1
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index

    def nvmlSystemGetDriverVersion(self) -> str:
        if not self.initialised:
            raise NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        return self.driver_version

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._gpu(handle).name

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._gpu(handle).uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        gpu = self._gpu(handle)
        if gpu.energy_error is not None:
            raise NVMLError(gpu.energy_error)  # NVMLError(code) returns the code's own subclass
        if gpu.energy_mj is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        gpu = self._gpu(handle)
        if gpu.power_error is not None:
            raise NVMLError(gpu.power_error)
        return gpu.power_mw

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid in self._gpu(handle).compute_pids]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 20) for pid in self._gpu(handle).graphics_pids]

    def nvmlDeviceGetMigMode(self, device: int) -> list[int]:
        gpu = self._gpu(device)
        if gpu.mig_mode is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return [gpu.mig_mode, gpu.mig_mode]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=self._gpu(handle).util_pct, memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: Any = None) -> Any:
        used = self._gpu(handle).mem_used_bytes
        total = 80 * 1024**3
        return SimpleNamespace(total=total, free=total - used, used=used)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        gpu = self._gpu(handle)
        if gpu.temp_c is None or sensor != NVML_TEMPERATURE_GPU:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return gpu.temp_c

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
NVML_ERROR_NO_PERMISSION = pynvml.NVML_ERROR_NO_PERMISSION
NVML_ERROR_INVALID_ARGUMENT = pynvml.NVML_ERROR_INVALID_ARGUMENT
NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
SW_POWER_CAP = pynvml.nvmlClocksEventReasonSwPowerCap
USER_DEFINED_CLOCKS = pynvml.nvmlClocksEventReasonUserDefinedClocks


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
    # GPU settings (wattbench.knobs.gpucontrol): a power limit in mW within its range, locked SM clocks.
    power_limit_mw: int = 700_000
    power_limit_range_mw: tuple[int, int] = (200_000, 700_000)
    refuses_power_limit: bool = False  # a laptop GPU: setting a limit is NVML_ERROR_NOT_SUPPORTED
    locks_clocks: bool = True  # False: Pascal and older, locking clocks is NVML_ERROR_NOT_SUPPORTED
    locked_clocks_mhz: tuple[int, int] | None = None
    max_sm_clock_mhz: int = 1980
    default_power_limit_mw: int = 700_000
    clock_events: int = 0  # clock-event reasons always active; sw_power_cap is added while power >= limit


class FakeNvml:
    """An object with pynvml's functions, over a list of FakeGpu."""

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_FUNCTION_NOT_FOUND = NVML_ERROR_FUNCTION_NOT_FOUND
    NVML_ERROR_NO_PERMISSION = NVML_ERROR_NO_PERMISSION
    NVML_ERROR_INVALID_ARGUMENT = NVML_ERROR_INVALID_ARGUMENT
    NVML_CLOCK_SM = NVML_CLOCK_SM

    def __init__(self, gpus: list[FakeGpu], driver_loaded: bool = True, privileged: bool = False) -> None:
        self.gpus = gpus
        self.driver_loaded = driver_loaded
        self.privileged = privileged  # root with CAP_SYS_ADMIN: may change GPU settings
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

    # -- GPU settings: reading needs no privilege, changing needs root ------------------------
    def _settable(self, handle: int) -> FakeGpu:
        gpu = self._gpu(handle)
        if not self.privileged:
            raise NVMLError(NVML_ERROR_NO_PERMISSION)
        return gpu

    def nvmlDeviceGetPowerManagementLimit(self, handle: int) -> int:
        return self._gpu(handle).power_limit_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return self._gpu(handle).power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: int) -> int:
        return self._gpu(handle).default_power_limit_mw

    def nvmlDeviceGetSupportedMemoryClocks(self, handle: int) -> list[int]:
        self._gpu(handle)
        return [2619, 1593]

    def nvmlDeviceGetSupportedGraphicsClocks(self, handle: int, memoryClockMHz: int) -> list[int]:
        return list(range(self._gpu(handle).max_sm_clock_mhz, 209, -15))

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: int) -> list[int]:
        gpu = self._gpu(handle)
        if gpu.refuses_power_limit:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return list(gpu.power_limit_range_mw)

    def nvmlDeviceSetPowerManagementLimit(self, handle: int, limit: int) -> None:
        gpu = self._settable(handle)
        if gpu.refuses_power_limit:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        low, high = gpu.power_limit_range_mw
        if not low <= limit <= high:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        gpu.power_limit_mw = limit

    def nvmlDeviceSetGpuLockedClocks(self, handle: int, minGpuClockMHz: int, maxGpuClockMHz: int) -> None:
        gpu = self._settable(handle)
        if not gpu.locks_clocks:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        gpu.locked_clocks_mhz = (minGpuClockMHz, maxGpuClockMHz)

    def nvmlDeviceResetGpuLockedClocks(self, handle: int) -> None:
        gpu = self._settable(handle)
        if not gpu.locks_clocks:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        gpu.locked_clocks_mhz = None

    def nvmlDeviceGetClockInfo(self, handle: int, type: int) -> int:
        gpu = self._gpu(handle)
        if type != NVML_CLOCK_SM:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        locked = gpu.locked_clocks_mhz
        return gpu.max_sm_clock_mhz if locked is None else min(locked[1], gpu.max_sm_clock_mhz)

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: int) -> int:
        gpu = self._gpu(handle)
        events = gpu.clock_events
        if gpu.power_mw >= gpu.power_limit_mw:
            events |= SW_POWER_CAP
        if gpu.locked_clocks_mhz is not None:
            events |= USER_DEFINED_CLOCKS
        return events

"""A fake of the amdsmi module: the functions wattbench calls, same names, same arguments, same
return shapes, and amdsmi's own exception classes.

The amdsmi package from PyPI installs here but cannot be imported without ROCm's libamd_smi.so
(its ctypes wrapper fails at import with KeyError 'libamd_smi.so'). Its exception classes live
in ``amdsmi_exception.py``, which needs only the wrapper's status codes: ``real_exceptions()``
loads that file from the installed package, with the codes read from its
``amdsmi_wrapper.py``, so the fake raises amdsmi's real classes. Without the package the classes
are mirrored by name (REAL says which). tests/test_amdsmi.py checks the fake's signatures
against the installed package's source.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "_wattbench_amdsmi_real"  # where the real exception module is loaded (never "amdsmi")


def package_dir() -> Path | None:
    """The installed amdsmi package's folder, found without importing it; None when absent."""
    spec = importlib.util.find_spec("amdsmi")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def real_exceptions() -> types.ModuleType | None:
    """amdsmi's own amdsmi_exception module, loaded without libamd_smi.so; None without amdsmi."""
    folder = package_dir()
    if folder is None:
        return None
    if f"{PACKAGE}.amdsmi_exception" in sys.modules:
        return sys.modules[f"{PACKAGE}.amdsmi_exception"]
    codes = re.findall(r"^(AMDSMI_STATUS_\w+) = (\d+)$", (folder / "amdsmi_wrapper.py").read_text(), re.M)
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(folder)]
    wrapper = types.ModuleType(f"{PACKAGE}.amdsmi_wrapper")
    wrapper.__dict__.update({name: int(value) for name, value in codes})
    sys.modules[PACKAGE] = package
    sys.modules[f"{PACKAGE}.amdsmi_wrapper"] = wrapper
    return importlib.import_module(f"{PACKAGE}.amdsmi_exception")


_real = real_exceptions()
REAL = _real is not None

if _real is not None:
    AmdSmiException: type[Exception] = _real.AmdSmiException
    AmdSmiLibraryException: type[Exception] = _real.AmdSmiLibraryException
else:  # mirrored by name and hierarchy, as amdsmi documents them

    class AmdSmiException(Exception):  # type: ignore[no-redef]
        """Base smi exception class"""

    class AmdSmiLibraryException(AmdSmiException):  # type: ignore[no-redef]
        def __init__(self, err_code: int) -> None:
            super().__init__(err_code)
            self.err_code = abs(err_code)

        def get_error_code(self) -> int:
            return self.err_code


AMDSMI_STATUS_NOT_SUPPORTED = 2
AMDSMI_STATUS_BUSY = 30
AMDSMI_STATUS_NOT_INIT = 32
AMDSMI_STATUS_DRIVER_NOT_LOADED = 34


class AmdSmiTemperatureType(enum.IntEnum):
    EDGE = 0
    HOTSPOT = 1


class AmdSmiTemperatureMetric(enum.IntEnum):
    CURRENT = 0


@dataclass
class FakeAmdGpu:
    """One device: its raw accumulator and power move when a test says so."""

    name: str = "AMD Instinct MI300X"
    uuid: str = "a1ff74a1-0000-1000-80d6-5a2c2f0e9c3b"
    accumulator: int | None = 65628  # raw counts; None: no energy counter
    resolution_uj: float = 15.3  # microjoules per count (ROCm/amdsmi#38: 65628 -> 1,004,108.41 uJ)
    power_w: int | str = 250  # "N/A" where amdsmi cannot read it
    gfx_pct: int = 0
    vram_used_mb: int = 512
    hotspot_c: int = 40
    energy_error: int | None = None  # an AMDSMI_STATUS_* code the energy counter raises
    old_api: bool = False  # amdsmi before 6.2.1: the raw count under "power"
    calls: list[str] = field(default_factory=list)


class FakeAmdSmi:
    """An object with amdsmi's functions, over a list of FakeAmdGpu."""

    AmdSmiException = AmdSmiException
    AmdSmiLibraryException = AmdSmiLibraryException
    AmdSmiTemperatureType = AmdSmiTemperatureType
    AmdSmiTemperatureMetric = AmdSmiTemperatureMetric

    def __init__(self, gpus: list[FakeAmdGpu], driver_loaded: bool = True) -> None:
        self.gpus = gpus
        self.driver_loaded = driver_loaded
        self.inits = 0
        self.shutdowns = 0

    def _gpu(self, processor_handle: Any) -> FakeAmdGpu:
        if self.inits <= self.shutdowns:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_INIT)
        return self.gpus[processor_handle]

    def amdsmi_init(self, flag: Any = None) -> None:
        if not self.driver_loaded:
            raise AmdSmiLibraryException(AMDSMI_STATUS_DRIVER_NOT_LOADED)
        self.inits += 1

    def amdsmi_shut_down(self) -> None:
        self.shutdowns += 1

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.gpus))) if self.inits > self.shutdowns else []

    def amdsmi_get_gpu_asic_info(self, processor_handle: Any) -> dict[str, Any]:
        return {"market_name": self._gpu(processor_handle).name, "vendor_id": "0x1002"}

    def amdsmi_get_gpu_device_uuid(self, processor_handle: Any) -> str:
        return self._gpu(processor_handle).uuid

    def amdsmi_get_energy_count(self, processor_handle: Any) -> dict[str, Any]:
        gpu = self._gpu(processor_handle)
        if gpu.energy_error is not None:
            raise AmdSmiLibraryException(gpu.energy_error)
        if gpu.accumulator is None:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        key = "power" if gpu.old_api else "energy_accumulator"
        return {key: gpu.accumulator, "counter_resolution": gpu.resolution_uj, "timestamp": 0}

    def amdsmi_get_power_info(self, processor_handle: Any) -> dict[str, Any]:
        gpu = self._gpu(processor_handle)
        return {
            "socket_power": gpu.power_w, "current_socket_power": gpu.power_w,
            "average_socket_power": gpu.power_w, "gfx_voltage": 800, "soc_voltage": 800,
            "mem_voltage": 1100, "power_limit": 750,
        }

    def amdsmi_get_gpu_activity(self, processor_handle: Any) -> dict[str, Any]:
        return {"gfx_activity": self._gpu(processor_handle).gfx_pct, "umc_activity": 0, "mm_activity": 0}

    def amdsmi_get_gpu_vram_usage(self, processor_handle: Any) -> dict[str, Any]:
        return {"vram_total": 196_592, "vram_used": self._gpu(processor_handle).vram_used_mb}

    def amdsmi_get_temp_metric(self, processor_handle: Any, sensor_type: Any, metric: Any) -> int:
        return self._gpu(processor_handle).hotspot_c

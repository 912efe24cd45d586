"""AMD GPU energy through amdsmi (the ``amdsmi`` Python package over ROCm's libamd_smi.so).

Per device, best first:
- ``amdsmi_get_energy_count``: a raw accumulator and its ``counter_resolution`` in microjoules
  per count (``energy_accumulator``; before amdsmi 6.2.1 the raw count was under ``power``).
  Energy in J = raw x resolution / 1e6: ROCm/amdsmi#38 pairs the count 65628 with
  1,004,108.41 uJ, a resolution of about 15.3 uJ, so 65628 counts are 1.004 J. Read at a
  window's edges, it is a measurement. No wrap is declared: a count that goes backward (seen
  under concurrent reads, ROCm/amdsmi#115) makes the window invalid (monitors/validity.py).
- ``amdsmi_get_power_info``: ``current_socket_power`` in W, else ``average_socket_power`` (W;
  amdsmi answers "N/A" for the one a GPU lacks), sampled and integrated where the counter cannot
  be read when the source opens (method ``integrated``, the description says why).

Faults follow NVML's (monitors/nvml.py): per device, never for the whole source; a read that fails
during the run is that channel's error for the poll (never 0 J); a GPU whose counter and power
both fail is skipped with a note; no GPU left is an EnergySourceError. A dual-die MI250/MI250X
reports power on its even die only: the odd die's counter does not move, which the meter flags.

Gauges per poll: ``amdsmi_power_w`` (W, the selected GPUs' power summed) and, with several
GPUs, ``amdsmi_gpu<N>_power_w`` each: the meter checks each counter against its own GPU's power
and integrates that power for a stalled counter. Also the record's GPU gauges ``gpu_util_pct``
(gfx activity, %), ``gpu_mem_mb`` (VRAM used, MB), ``gpu_power_w`` (W) and ``gpu_temp_c``
(hotspot, C). On a machine measured by NVML and amdsmi at once, the record's GPU gauges are
the last source's (the energy figures are each source's own).

Which GPUs: --wb-gpus, else the ROCm runtime's own variables in its order: ROCR_VISIBLE_DEVICES
(indices or UUIDs of the physical GPUs) first, then HIP_VISIBLE_DEVICES (indices into what ROCR
left), or CUDA_VISIBLE_DEVICES where HIP_VISIBLE_DEVICES is unset (HIP honours it). Empty or
``-1`` hides every GPU. Indices are amdsmi's processor order.

Permissions: none beyond the ``render``/``video`` group a ROCm user already needs.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from wattbench.errors import EnergySourceError
from wattbench.monitors.gpu import Device, GpuFacts, GpuLibrary, GpuOptions
from wattbench.monitors.protocol import Channel, Poll, SourceOptions

RESOLUTION_S = 0.1
"""The accumulator's update interval is not documented: taken as no finer than NVML's 100 ms.
The sampler learns each counter's real cadence during the run (monitors/validity.py)."""
ENV_ORDER = ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")
VISIBLE_ENV = "HIP_VISIBLE_DEVICES"  # what a worker's GPU set restricts (monitors/gpu.py: set_visible)
POWER_KEYS = ("current_socket_power", "average_socket_power")  # W, best first


def amd_error(exc: BaseException) -> str:
    """An amdsmi error on one line: its class and its text (amdsmi's spans lines)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def energy_j(reading: Mapping[str, Any]) -> float:
    """Joules from amdsmi_get_energy_count's answer: the raw accumulator x counter_resolution
    (uJ per count) / 1e6; amdsmi before 6.2.1 named the accumulator ``power``."""
    raw = reading["energy_accumulator"] if "energy_accumulator" in reading else reading["power"]
    return float(raw) * float(reading["counter_resolution"]) / 1e6


def power_w(info: Mapping[str, Any]) -> float:
    """Watts from amdsmi_get_power_info's answer; ValueError where it gives none ("N/A")."""
    for key in POWER_KEYS:
        value = info.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    raise ValueError(f"amdsmi reports no power ({', '.join(f'{k}={info.get(k)!r}' for k in POWER_KEYS)})")


def _selectors(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def visible(
    count: int, uuids: Sequence[str], gpus: Sequence[str] | None, env: Mapping[str, str]
) -> tuple[list[int], list[str]]:
    """(amdsmi indices to measure, notes): --wb-gpus (``gpus``) else ROCR_VISIBLE_DEVICES then
    HIP_VISIBLE_DEVICES (or CUDA_VISIBLE_DEVICES). Raises EnergySourceError when they hide every
    GPU or --wb-gpus names one that is not here."""
    chosen = list(range(count))
    if gpus is not None and [g.lower() for g in gpus] != ["all"]:
        return [_pick(item, chosen, uuids, "--wb-gpus") for item in gpus], []
    hip = "HIP_VISIBLE_DEVICES" if "HIP_VISIBLE_DEVICES" in env else "CUDA_VISIBLE_DEVICES"
    notes = []
    for name in (ENV_ORDER[0], hip):
        if name not in env:
            continue
        items = _selectors(env[name])
        if not items or items == ("-1",):
            raise EnergySourceError(f"amdsmi: {name} hides every GPU (empty or -1): no AMD GPU is measured")
        picked: list[int] = []
        for position, item in enumerate(items):
            try:
                picked.append(_pick(item, chosen, uuids, name))
            except EnergySourceError:  # as CUDA does: the list ends at the first unknown entry
                notes.append(
                    f"{name} entry {item!r} names no GPU here: it and every entry after it "
                    f"({', '.join(items[position:])}) are ignored"
                )
                break
        if not picked:
            raise EnergySourceError(f"amdsmi: {name}={env[name]} names no GPU here: no AMD GPU is measured")
        chosen = picked
    return chosen, notes


def _pick(item: str, among: list[int], uuids: Sequence[str], where: str) -> int:
    """The amdsmi index ``item`` names: a position in ``among``, or a (unique prefix of a) UUID."""
    if item.isdigit():
        if int(item) < len(among):
            return among[int(item)]
    else:
        wanted = item.lower().removeprefix("gpu-")
        hits = [i for i in among if uuids[i].lower().removeprefix("gpu-").startswith(wanted)]
        if len(hits) == 1:
            return hits[0]
    raise EnergySourceError(
        f"amdsmi: no GPU {item!r} in {where}; it can name {len(among)}: indices 0-{len(among) - 1} "
        f"or UUIDs {', '.join(uuids[i] for i in among) or 'none'}"
    )


class AmdSmiSource:
    """Energy (J: accumulator x resolution, or integrated power) and gauges of AMD GPUs."""

    name = "amdsmi"
    resolution_s = RESOLUTION_S
    power_gauge = "amdsmi_power_w"  # the selected GPUs' power, summed (W)

    def __init__(self, smi: Any, devices: Sequence[Device], notes: Sequence[str] = ()) -> None:
        self._smi = smi
        self._devices = list(devices)
        self.channels = tuple(
            Channel(id=f"gpu{d.index}", domain="gpu", kind="counter" if d.counter else "power")
            for d in self._devices
        )
        self.method = "measured" if all(d.counter for d in self._devices) else "integrated"
        self._each = len(self._devices) > 1
        self.channel_power_gauges = {
            f"gpu{d.index}": f"amdsmi_gpu{d.index}_power_w" if self._each else self.power_gauge
            for d in self._devices if d.counter
        }
        parts = [
            f"GPU {d.index} {d.name}: " + ("energy accumulator x resolution" if d.counter
                                          else f"power x time ({d.why})")
            for d in self._devices
        ]
        self.notes = list(notes)
        self.description = "amdsmi " + "; ".join(parts + self.notes)
        self._unsupported: set[tuple[int, str]] = set()

    def _gauge(self, device: Device, what: str, read: Any) -> float | None:
        """One gauge of one device; None (and never asked again) where it is not supported."""
        if (device.index, what) in self._unsupported:
            return None
        try:
            value = read(device.handle)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        except (self._smi.AmdSmiException, KeyError, ValueError, TypeError):
            self._unsupported.add((device.index, what))
            return None

    def poll(self) -> Poll:
        """Every device's energy, the GPU gauges, and the channels that failed to read."""
        smi = self._smi
        values: dict[str, float] = {}
        errors: dict[str, str] = {}
        gauges: dict[str, float] = {}
        power: list[float] = []
        util: list[float] = []
        mem: list[float] = []
        temp: list[float] = []
        for device in self._devices:
            channel = f"gpu{device.index}"
            watts: float | None = None
            try:
                watts = power_w(smi.amdsmi_get_power_info(device.handle))
            except (smi.AmdSmiException, ValueError) as exc:
                if not device.counter:
                    errors[channel] = amd_error(exc)
            if device.counter:
                try:
                    values[channel] = energy_j(smi.amdsmi_get_energy_count(device.handle))
                except (smi.AmdSmiException, KeyError) as exc:
                    errors[channel] = amd_error(exc)
            elif watts is not None:
                values[channel] = watts
            if watts is not None:
                power.append(watts)
                if self._each:
                    gauges[f"amdsmi_gpu{device.index}_power_w"] = watts
            for bucket, what, read in (
                (util, "util", lambda h: smi.amdsmi_get_gpu_activity(h)["gfx_activity"]),
                (mem, "mem", lambda h: smi.amdsmi_get_gpu_vram_usage(h)["vram_used"]),
                (temp, "temp", self._temperature),
            ):
                value = self._gauge(device, what, read)
                if value is not None:
                    bucket.append(value)
        if power:
            gauges[self.power_gauge] = gauges["gpu_power_w"] = sum(power)
        if util:
            gauges["gpu_util_pct"] = sum(util) / len(util)
        if mem:
            gauges["gpu_mem_mb"] = sum(mem)
        if temp:
            gauges["gpu_temp_c"] = max(temp)
        return Poll(values, gauges, errors)

    def _temperature(self, handle: Any) -> Any:
        smi = self._smi
        return smi.amdsmi_get_temp_metric(
            handle, smi.AmdSmiTemperatureType.HOTSPOT, smi.AmdSmiTemperatureMetric.CURRENT
        )

    def close(self) -> None:
        """Shut amdsmi down."""
        _library(self._smi).shut_down()


def _device_name(smi: Any, index: int, handle: Any) -> str:
    """The GPU's market name, else 'AMD GPU <index>'."""
    try:
        return str(smi.amdsmi_get_gpu_asic_info(handle).get("market_name") or f"AMD GPU {index}")
    except smi.AmdSmiException:
        return f"AMD GPU {index}"


def _device(smi: Any, index: int, handle: Any) -> Device:
    """How to measure one GPU: its accumulator, else its power; AmdSmiException or ValueError
    when neither reads."""
    name = _device_name(smi, index, handle)
    try:
        energy_j(smi.amdsmi_get_energy_count(handle))
        return Device(index, handle, name, counter=True)
    except (smi.AmdSmiException, KeyError) as exc:
        why = f"energy accumulator unreadable at start: {amd_error(exc)}"
    power_w(smi.amdsmi_get_power_info(handle))  # raises when power cannot be read either
    return Device(index, handle, name, counter=False, why=why)


def import_amdsmi() -> Any:
    """The amdsmi module; EnergySourceError naming the fix where it is missing or cannot load."""
    try:
        # amdsmi prints to stdout, and raises KeyError (not ImportError), when libamd_smi.so is
        # missing: the message below says it once.
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module("amdsmi")
    except ImportError:
        raise EnergySourceError(
            "amdsmi: the amdsmi package is not installed: pip install 'wattbench[amd]' (it needs "
            "ROCm's libamd_smi.so, from ROCm or the amd-smi-lib package)"
        ) from None
    except Exception as exc:  # KeyError, OSError, AttributeError: the library, not the package
        raise EnergySourceError(
            f"amdsmi: the amdsmi package cannot load ROCm's libamd_smi.so ({type(exc).__name__}: {exc}); "
            "install ROCm (or amd-smi-lib) matching the package's version, or set ROCM_PATH"
        ) from None


def _library(smi: Any) -> GpuLibrary:
    """How amdsmi starts and stops (``smi``: amdsmi or a fake of it)."""
    return GpuLibrary("amdsmi", smi.amdsmi_init, smi.amdsmi_shut_down, smi.AmdSmiException, amd_error,
                      "is the amdgpu driver loaded?")


def open_amdsmi(
    gpus: Sequence[str] | None = None, smi: Any = None, env: Mapping[str, str] | None = None
) -> AmdSmiSource:
    """The amdsmi source for ``gpus`` (default: ROCR_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES, else
    all). ``smi`` is the amdsmi module or an object with its functions (tests pass a fake).
    Raises EnergySourceError naming what is missing: the package, the library, a GPU, or every
    selected GPU's readings."""
    if smi is None:
        smi = import_amdsmi()
    with _library(smi).opening():
        handles = list(smi.amdsmi_get_processor_handles())
        if not handles:
            raise EnergySourceError("amdsmi: the driver reports no AMD GPU")
        uuids = []
        for handle in handles:
            try:
                uuids.append(str(smi.amdsmi_get_gpu_device_uuid(handle)))
            except smi.AmdSmiException:
                uuids.append("")
        chosen, notes = visible(len(handles), uuids, gpus, os.environ if env is None else env)
        devices: list[Device] = []
        for index in dict.fromkeys(chosen):
            try:
                devices.append(_device(smi, index, handles[index]))
            except (smi.AmdSmiException, ValueError) as exc:
                notes.append(f"skipped GPU {index}: neither its energy accumulator nor its power reads "
                             f"({amd_error(exc) if not isinstance(exc, ValueError) else exc})")
        if not devices:
            raise EnergySourceError("amdsmi: no GPU to measure: " + "; ".join(notes))
    return AmdSmiSource(smi, devices, notes)


def from_options(options: SourceOptions) -> AmdSmiSource:
    """The amdsmi source for the run's --wb-gpus (monitors/__init__.py's registry opens it so)."""
    return open_amdsmi(options.get(GpuOptions).gpus)


def gpu_facts(smi: Any = None) -> GpuFacts | None:
    """The AMD GPUs' names and driver version for the machine description (``smi``: amdsmi or a
    fake of it); None where amdsmi is missing, cannot load, or sees no GPU."""
    try:
        smi = import_amdsmi() if smi is None else smi
    except EnergySourceError:  # the package or its library: no AMD GPU here
        return None

    def read() -> GpuFacts | None:
        handles = list(smi.amdsmi_get_processor_handles())
        names = tuple(_device_name(smi, index, handle) for index, handle in enumerate(handles))
        driver = ""
        with contextlib.suppress(Exception):  # older amdsmi: no driver info; the names still count
            driver = str(smi.amdsmi_get_gpu_driver_info(handles[0]).get("driver_version") or "")
        return GpuFacts(names, driver) if names else None

    return _library(smi).facts(read)

"""NVIDIA Jetson power rails: the INA3221 sensors in sysfs, or the output of tegrastats.

Both give instantaneous power per rail (mW), which the meter samples and integrates, so records
say ``integrated``. Rails are named by the board:
    Orin Nano/NX  VDD_IN (module input), VDD_CPU_GPU_CV, VDD_SOC
    AGX Orin      VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0, VDDQ_VDD2_1V8AO
    AGX Xavier    GPU, CPU, SOC, CV, VDDRQ, SYS5V             (tegrastats prints no unit)
    Nano, TX2     POM_5V_IN (module input), POM_5V_GPU, POM_5V_CPU
Where the module's input rail exists it alone is the total (every other rail is inside it);
otherwise the total is the sum of the rails, and the description says which.

sysfs layouts (read first: no child process, no sudo):
    JetPack 4:  /sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_<k>, in_power<k>_input (mW)
    JetPack 5+: /sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in<k>_label, in<k>_input (mV),
                curr<k>_input (mA)
Linux only (Jetson boards run Linux for Tegra): elsewhere the source says so and is not used.

A sysfs sensor that fails to read is reported as that rail's error for the poll (the meter then
gives the rail no figure for the window); a rail missing from one tegrastats line is a gap.

tegrastats lines hold rails as ``NAME current/average`` (``VDD_IN 5143mW/5143mW`` or
``GPU 0/0``); wattbench takes the current value. A rail missing from one line is skipped for
that line, and the meter integrates across the gap.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.errors import EnergySourceError
from wattbench.monitors.protocol import Channel, Poll, SourceOptions

INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
STOP_GRACE_S = 2.0  # tegrastats gets this long after SIGTERM, then SIGKILL (its whole group)
SYSFS = Path("/sys/bus/i2c/drivers")
_RAIL = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
_GR3D = re.compile(r"\bGR3D_FREQ (\d+)%")
_GPU_TEMP = re.compile(r"\bgpu@(-?[\d.]+)C", re.IGNORECASE)


@dataclass(frozen=True)
class RailSample:
    """One reading of the rails: rail -> W, and the gauges the line carried."""

    rails: dict[str, float]
    gauges: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # rail -> why it could not be read


def parse_tegrastats(line: str) -> RailSample:
    """Rails (W, from the current mW value) and GPU gauges of one tegrastats line."""
    rails = {m.group(1): int(m.group(2)) / 1000.0 for m in _RAIL.finditer(line)}
    gauges: dict[str, float] = {}
    util = _GR3D.search(line)
    if util:
        gauges["gpu_util_pct"] = float(util.group(1))
    temp = _GPU_TEMP.search(line)
    if temp and float(temp.group(1)) > -100:  # -256C: the sensor is off
        gauges["gpu_temp_c"] = float(temp.group(1))
    return RailSample(rails, gauges)


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def _milliwatts(path: Path) -> Callable[[], float]:
    return lambda: _read_int(path) / 1000.0


def _volts_times_amps(volts: Path, amps: Path) -> Callable[[], float]:
    return lambda: _read_int(volts) * _read_int(amps) / 1e6  # mV x mA -> W


def find_ina3221(root: Path = SYSFS) -> dict[str, Callable[[], float]]:
    """rail name -> a reader of its power in W, for every INA3221 channel under ``root``."""
    readers: dict[str, Callable[[], float]] = {}
    for name_file in sorted(root.glob("ina3221x/*/iio:device*/rail_name_*")):
        k = name_file.name.rsplit("_", 1)[1]
        power = name_file.parent / f"in_power{k}_input"
        if power.exists():
            readers[name_file.read_text().strip()] = _milliwatts(power)
    for label in sorted(root.glob("ina3221/*/hwmon/hwmon*/in*_label")):
        k = label.name[2:].split("_", 1)[0]
        volts, amps = label.parent / f"in{k}_input", label.parent / f"curr{k}_input"
        if volts.exists() and amps.exists():  # 'sum of shunt voltages' has no current: skipped
            readers[label.read_text().strip()] = _volts_times_amps(volts, amps)
    return readers


class Tegrastats:
    """A running ``tegrastats --interval MS``; keeps the latest parsed line.

    It runs in a process group of its own, and close() stops the whole group: a tegrastats that
    is a wrapper (a script, sudo) leaves children holding the pipe, and the reader thread would
    wait for their end-of-file forever.
    """

    def __init__(self, command: str, interval_ms: int, first_line_s: float = 3.0) -> None:
        self._process = subprocess.Popen(
            [command, "--interval", str(interval_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        self.latest: RailSample | None = None
        self._closed = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, name="wattbench-tegrastats", daemon=True)
        self._thread.start()
        if not self._ready.wait(max(first_line_s, 3 * interval_ms / 1000)):
            self.close()
            raise EnergySourceError(f"Jetson: {command} printed no power rails within {first_line_s:g} s")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            sample = parse_tegrastats(line)
            if sample.rails:
                self.latest = sample
                self._ready.set()

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop tegrastats and whatever it started, and the reader thread, within about three
        times ``grace_s``: SIGTERM to its process group, SIGKILL after ``grace_s``. Both are sent
        before the child is reaped, so the group id cannot have been reused by then."""
        if self._closed:
            return
        self._closed = True
        self._signal_group(signal.SIGTERM)
        self._thread.join(timeout=grace_s)  # end-of-file: no process holds the pipe any more
        # (The reader's state first: poll() reaps a child that ended, and its group id with it.)
        if self._thread.is_alive() or self._process.poll() is None:
            self._signal_group(signal.SIGKILL)
            self._thread.join(timeout=grace_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=grace_s)
        if self._thread.is_alive() or self._process.returncode is None:
            with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed, or None
                sys.stderr.write(
                    f"wattbench: tegrastats (pid {self._process.pid}) or a process it started has not "
                    "ended after SIGKILL; left running, the exit does not wait for it\n"
                )
            return  # closing the pipe would wait for the reader thread, which holds its lock
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group has ended
            os.killpg(self._process.pid, signum)


class JetsonSource:
    """Power of every rail in W, from INA3221 sysfs or tegrastats."""

    name = "jetson"
    method = "integrated"

    def __init__(
        self, read: Callable[[], RailSample], rails: list[str], via: str, resolution_s: float,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self._read = read
        self._on_close = on_close
        self.resolution_s = resolution_s
        total = next((r for r in INPUT_RAILS if r in rails), None)
        self.channels = tuple(
            Channel(
                id=rail,
                domain="board" if rail == total else "rail",
                kind="power",
                in_total=total is None or rail == total,
            )
            for rail in rails
        )
        counted = f"total = {total}" if total else "total = sum of the rails"
        self.description = f"Jetson rails via {via} ({', '.join(rails)}; {counted}), power x time"

    def poll(self) -> Poll:
        """Every rail's power now (W) and the GPU gauges when tegrastats gives them."""
        sample = self._read()
        return Poll(sample.rails, sample.gauges, sample.errors)

    def close(self) -> None:
        """Stop tegrastats if it runs."""
        self._on_close()


def open_jetson(sysfs: Path = SYSFS, tegrastats: str = "tegrastats", interval_ms: int = 100) -> JetsonSource:
    """The Jetson source: INA3221 sysfs first, else tegrastats; EnergySourceError when neither."""
    if not sys.platform.startswith("linux"):
        raise EnergySourceError(f"Jetson: Linux only (Jetson boards); this is {sys.platform}")
    readers = find_ina3221(sysfs)
    if readers:
        def read() -> RailSample:
            rails: dict[str, float] = {}
            errors: dict[str, str] = {}
            for rail, reader in readers.items():
                try:
                    rails[rail] = reader()
                except (OSError, ValueError) as exc:
                    errors[rail] = f"{type(exc).__name__}: {exc}"
            return RailSample(rails, errors=errors)

        return JetsonSource(read, list(readers), f"INA3221 sysfs under {sysfs}", 0.001)
    path = shutil.which(tegrastats)
    if path is None:
        raise EnergySourceError(
            f"Jetson: no INA3221 sensors under {sysfs} and no {tegrastats!r} on PATH (not a Jetson?)"
        )
    process = Tegrastats(path, interval_ms)
    first = process.latest
    assert first is not None

    def latest() -> RailSample:
        sample = process.latest
        assert sample is not None
        return sample

    return JetsonSource(
        latest, list(first.rails), f"tegrastats every {interval_ms} ms", interval_ms / 1000.0, process.close
    )


def from_options(options: SourceOptions) -> JetsonSource:
    """The jetson source, read at the run's sampler rate (the registry opens it so)."""
    return open_jetson(interval_ms=options.interval_ms)

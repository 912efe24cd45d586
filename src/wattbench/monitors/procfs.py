"""Linux /proc readings: CPU time, process and system memory (the sampler's system gauges).

Every path is a parameter so that tests read fake trees with the same code. Where /proc is
missing (not Linux), the gauges that need it are left out rather than invented.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
MIB = 1024 * 1024


@dataclass(frozen=True)
class CpuTimes:
    """The aggregate line of /proc/stat, in clock ticks (USER_HZ), and the number of CPUs."""

    busy: int
    total: int
    cpus: int


def read_cpu_times(stat: Path) -> CpuTimes:
    """Parse /proc/stat: busy = all time but idle and iowait, summed over every CPU."""
    busy = total = cpus = 0
    for line in stat.read_text().splitlines():
        if line.startswith("cpu "):
            # user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
            # already counted in user and nice, so only the first eight fields are summed.
            fields = [int(v) for v in line.split()[1:9]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            total = sum(fields)
            busy = total - idle
        elif line.startswith("cpu"):
            cpus += 1
    if total == 0:
        raise ValueError(f"{stat}: no aggregate 'cpu' line")
    return CpuTimes(busy=busy, total=total, cpus=max(cpus, 1))


def clock_ticks_per_s() -> int:
    """USER_HZ, the unit of /proc/stat (100 on almost every Linux)."""
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


def read_rss_mb(statm: Path) -> float:
    """Resident set size of the process whose statm this is, in MiB."""
    resident_pages = int(statm.read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / MIB


def read_system_mem_mb(meminfo: Path) -> float:
    """Memory in use on the machine (MemTotal - MemAvailable), in MiB."""
    values: dict[str, int] = {}
    for line in meminfo.read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[name] = int(parts[0])  # kB
    return (values["MemTotal"] - values["MemAvailable"]) * 1024 / MIB


class SystemGauges:
    """CPU utilisation (machine and this process) and memory, read at each poll.

    Utilisations are averages over the interval since the previous poll, in % of all CPUs.
    """

    def __init__(self, proc: Path = PROC) -> None:
        self._stat = proc / "stat"
        self._statm = proc / "self" / "statm"
        self._meminfo = proc / "meminfo"
        self._has_proc = self._stat.exists()
        self._cpus = os.cpu_count() or 1
        self._last_cpu = read_cpu_times(self._stat) if self._has_proc else None
        self._last_process = (time.monotonic(), self._process_cpu_s())

    @staticmethod
    def _process_cpu_s() -> float:
        t = os.times()
        return t.user + t.system

    def read(self) -> dict[str, float]:
        """The gauges now: cpu_util_pct, process_cpu_util_pct, rss_mb, system_mem_mb."""
        gauges: dict[str, float] = {}
        now, cpu_s = time.monotonic(), self._process_cpu_s()
        last_t, last_cpu_s = self._last_process
        if now > last_t:
            gauges["process_cpu_util_pct"] = 100.0 * (cpu_s - last_cpu_s) / ((now - last_t) * self._cpus)
        self._last_process = (now, cpu_s)
        if not self._has_proc:
            return gauges
        times = read_cpu_times(self._stat)
        last = self._last_cpu
        if last is not None and times.total > last.total:
            gauges["cpu_util_pct"] = 100.0 * (times.busy - last.busy) / (times.total - last.total)
        self._last_cpu = times
        gauges["rss_mb"] = read_rss_mb(self._statm)
        gauges["system_mem_mb"] = read_system_mem_mb(self._meminfo)
        return gauges

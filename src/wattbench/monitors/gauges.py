"""Process and machine gauges through psutil (Linux, macOS, Windows, the BSDs).

The sampler reads, at each poll:
- the machine's CPU time, busy and total, summed over every logical CPU (``psutil.cpu_times``);
- the CPU time and resident memory of the benchmark's own process tree: this process and every
  descendant still running, plus the children it has already reaped (``psutil.Process``);
- the machine's memory in use, total - available (``psutil.virtual_memory``).

From them it derives, per interval between two polls, in % of all logical CPUs: the machine's
utilisation, the own tree's, and that of every other process (machine minus own tree). The last
one says whether something else ran during a measurement (see CONTENDED_OTHER_CPU_PCT).

Units: CPU time in s, memory in MiB (2**20 bytes), utilisation in %. psutil's own resolution
is the kernel's clock tick (10 ms on Linux).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

MIB = 1024 * 1024

CONTENDED_OTHER_CPU_PCT = 10.0
"""A window is ``contended`` when processes outside the benchmark's tree used more than this
share of all logical CPUs on average over it (10%: one busy core of ten, or 0.2 of a core on a
2-core machine). Background daemons on a quiet machine use well under it."""

TREE_REFRESH_S = 1.0
"""How often the list of descendant processes is rebuilt; between rebuilds only the known
processes are read. A descendant's CPU time is never lost by this: a process the benchmark
reaps adds its time to its parent's children times, and a new one is counted from its start
when it is found."""


def linux_children(pid: int, proc: Path = Path("/proc")) -> list[int] | None:
    """Pids of the direct children of ``pid`` from /proc/<pid>/task/<tid>/children, or None
    where the kernel has no such file (not Linux, or built without CONFIG_PROC_CHILDREN).

    /proc stays here because psutil has no cheap equivalent: ``Process.children`` reads the
    stat file of every process on the machine (4 ms for 108 processes, measured), this reads
    one small file per thread of ``pid``.
    """
    try:
        tasks = os.listdir(proc / str(pid) / "task")
    except OSError:
        return None
    children: list[int] = []
    for tid in tasks:
        try:
            text = (proc / str(pid) / "task" / tid / "children").read_text()
        except FileNotFoundError:
            if not (proc / str(pid) / "task" / tid).exists():
                continue  # the thread ended meanwhile
            return None
        except OSError:
            continue
        children += [int(v) for v in text.split()]
    return children


class TreeReader(Protocol):
    """The benchmark's own process tree, as the estimate and the gauges need it."""

    def cpu_s(self) -> float:
        """User + system CPU seconds of the tree so far (never decreases)."""
        ...

    def rss_mb(self) -> float:
        """Resident memory of the tree now, in MiB."""
        ...

    def pids(self) -> frozenset[int]:
        """Process ids in the tree now."""
        ...


class ProcessTree:
    """This process (or ``root``) and its descendants, read with psutil; and adopted processes
    (a local inference server the benchmark drives) with theirs.

    ``cpu_s`` is the user + system time of this process, of every descendant still running,
    and of the children each of them has reaped (``children_user``, ``children_system``). It is
    kept monotonic: a descendant that exits without being reaped by a process of the tree
    (re-parented to init) takes its time with it, and the figure then stays flat instead of
    going back.
    """

    def __init__(
        self, root: psutil.Process | None = None, refresh_s: float = TREE_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._root = root if root is not None else psutil.Process()
        self._refresh_s = refresh_s
        self._clock = clock
        self._children: list[psutil.Process] = []
        self._refreshed_at = float("-inf")
        self._cpu_s = 0.0
        self._fast = linux_children(self._root.pid) is not None
        self._adopted: list[psutil.Process] = []
        self._offset_s = 0.0  # adopted processes' CPU time before adoption: not the benchmark's

    def adopt(self, pid: int) -> psutil.Process:
        """Count process ``pid`` and its descendants as the benchmark's own from now on (its CPU
        time before now is left out). Raises psutil.Error when there is no such process."""
        for known in self._adopted:
            if known.pid == pid:
                return known  # adopted already: counting it twice would double its time
        process = psutil.Process(pid)
        before = self.cpu_s()
        self._adopted.append(process)
        self._refreshed_at = float("-inf")
        self._offset_s = self._raw_cpu_s() - before
        return process

    def refresh(self) -> None:
        """Rebuild the list of descendants at the next read: a process the benchmark has just
        started (an engine's worker) is counted from its first window, not up to
        TREE_REFRESH_S later."""
        self._refreshed_at = float("-inf")

    def _find(self) -> list[psutil.Process]:
        """Every descendant of the roots now: /proc's children files where the kernel has them
        (cheap), else psutil (scans every process)."""
        if not self._fast:
            found = list(self._root.children(recursive=True))
            for process in self._adopted:
                try:
                    found += [process, *process.children(recursive=True)]
                except psutil.Error:
                    continue  # the server went away: its time stays counted, nothing more comes
            return found
        known = {p.pid: p for p in self._children}
        found = list(self._adopted)
        todo = [self._root.pid, *(p.pid for p in self._adopted)]
        while todo:
            for pid in linux_children(todo.pop()) or ():
                try:
                    found.append(known.get(pid) or psutil.Process(pid))
                except psutil.Error:
                    continue
                todo.append(pid)
        return found

    def _descendants(self) -> list[psutil.Process]:
        now = self._clock()
        if now - self._refreshed_at >= self._refresh_s:
            try:
                self._children = self._find()
            except psutil.Error:
                self._children = []
            self._refreshed_at = now
        return self._children

    def cpu_s(self) -> float:
        """User + system CPU seconds of the tree so far."""
        self._cpu_s = max(self._cpu_s, self._raw_cpu_s() - self._offset_s)
        return self._cpu_s

    def _raw_cpu_s(self) -> float:
        own = self._root.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in self._descendants():
            try:
                times = child.cpu_times()
            except psutil.Error:  # gone since the last refresh: reaped into children_* above
                continue
            # A descendant's reaped children are in its children_* times (and in its parent's
            # once it is reaped itself), so counting them here counts every second once.
            total += times.user + times.system + times.children_user + times.children_system
        return total

    def rss_mb(self) -> float:
        """Resident memory of the tree now, in MiB."""
        total = self._root.memory_info().rss
        for child in self._descendants():
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total / MIB

    def pids(self) -> frozenset[int]:
        """Process ids in the tree now."""
        return frozenset([self._root.pid, *(c.pid for c in self._descendants())])


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` here; None when there is none or this
    process may not see it (psutil.net_connections needs root on macOS, and for other users'
    processes on Linux)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for c in connections:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return int(c.pid)
    return None


_OWN_TREE: ProcessTree | None = None


def own_tree() -> ProcessTree:
    """The process tree of this process, shared by the gauges, the estimate and NVML."""
    global _OWN_TREE
    if _OWN_TREE is None:
        _OWN_TREE = ProcessTree()
    return _OWN_TREE


@dataclass(frozen=True)
class MachineCpu:
    """The machine's CPU time so far, summed over every logical CPU, in s."""

    busy_s: float
    total_s: float


def machine_cpu() -> MachineCpu:
    """Machine-wide CPU time from psutil: busy = all but idle and I/O wait.

    On Linux, guest time is already inside user time (the kernel counts it twice), so it is
    left out of the total.
    """
    times = psutil.cpu_times()
    fields = times._asdict()
    total = sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)
    idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0)
    return MachineCpu(busy_s=total - idle, total_s=total)


def system_mem_mb() -> float:
    """Memory in use on the machine (total - available), in MiB."""
    memory = psutil.virtual_memory()
    return (memory.total - memory.available) / MIB


class SystemGauges:
    """CPU utilisation (machine, own process tree, other processes) and memory, at each poll.

    Utilisations are averages over the interval since the previous read, in % of all logical
    CPUs. Gauges: cpu_util_pct, process_cpu_util_pct, other_cpu_util_pct, rss_mb (own tree),
    system_mem_mb.
    """

    def __init__(
        self,
        tree: TreeReader | None = None,
        machine: Callable[[], MachineCpu] = machine_cpu,
        memory_mb: Callable[[], float] = system_mem_mb,
        cpus: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tree = tree if tree is not None else own_tree()
        self._machine = machine
        self._memory_mb = memory_mb
        self._cpus = cpus or psutil.cpu_count() or 1
        self._clock = clock
        self._last = (self._clock(), self._machine(), self._tree.cpu_s())

    def read(self) -> dict[str, float]:
        """The gauges now."""
        now, machine, own = self._clock(), self._machine(), self._tree.cpu_s()
        last_t, last_machine, last_own = self._last
        self._last = (now, machine, own)
        gauges: dict[str, float] = {}
        if now > last_t:
            gauges["process_cpu_util_pct"] = 100.0 * (own - last_own) / ((now - last_t) * self._cpus)
        span = machine.total_s - last_machine.total_s
        if span > 0:
            busy = machine.busy_s - last_machine.busy_s
            gauges["cpu_util_pct"] = 100.0 * busy / span
            # Both clocks tick at 10 ms: a share below zero is rounding, not negative load.
            gauges["other_cpu_util_pct"] = max(0.0, 100.0 * (busy - (own - last_own)) / span)
        gauges["rss_mb"] = self._tree.rss_mb()
        gauges["system_mem_mb"] = self._memory_mb()
        return gauges

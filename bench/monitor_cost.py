"""What measuring energy costs: the sampler's CPU time and the price of a measurement window.

    python bench/monitor_cost.py [--seconds 5] [--windows 2000] [--tokens 64] [--rounds 3]

Uses the energy sources auto-selection picks on this machine (the estimate where nothing
measures). Side by side, in one run:

- sampler CPU: the sampler thread's own CPU time (time.thread_time) while the main thread
  sleeps, at 10 Hz and at 100 Hz, as % of one core; beside it the whole process's CPU time
  over the same sleep with no sampler (the baseline). Target: under 1% at 10 Hz.
  Two samplers are compared, alternated: wattbench's (psutil gauges: machine CPU, own process
  tree CPU and RSS, machine memory) and the hand-written Linux /proc reader it replaced
  (copied below as ProcGauges and ProcEstimate, kept here only as the reference; Linux only).
- gauge read: one read of each gauge set, in µs.
- window cost: one begin() + end() pair (two polls of every source and gauge, the window's
  bookkeeping) against the bare reads it cannot avoid (one source poll + one gauge read, x2).
  Target: under 1 ms.
- decode with the sampler: SmolLM2 greedy decode rate with no sampler, at 10 Hz and at 100 Hz,
  alternated, as ratios to no sampler (skipped when SmolLM2 is not installed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wattbench.monitors import SourceOptions, open_sources
from wattbench.monitors.meter import Meter
from wattbench.monitors.protocol import Channel, EnergySource, Poll

PROC = Path("/proc")
MIB = 1024 * 1024


# -- the /proc reader wattbench used before psutil (reference only) --------------------------
def _cpu_ticks(stat: Path) -> tuple[int, int]:
    """(busy, total) clock ticks from the aggregate line of /proc/stat."""
    for line in stat.read_text().splitlines():
        if line.startswith("cpu "):
            fields = [int(v) for v in line.split()[1:9]]
            total = sum(fields)
            return total - fields[3] - fields[4], total
    raise ValueError(f"{stat}: no aggregate 'cpu' line")


class ProcGauges:
    """The old SystemGauges: /proc/stat, /proc/self/statm, /proc/meminfo and os.times."""

    def __init__(self, proc: Path = PROC) -> None:
        self._stat, self._statm, self._meminfo = proc / "stat", proc / "self" / "statm", proc / "meminfo"
        self._cpus = os.cpu_count() or 1
        self._last_cpu = _cpu_ticks(self._stat)
        t = os.times()
        self._last_process = (time.monotonic(), t.user + t.system)

    def read(self) -> dict[str, float]:
        gauges: dict[str, float] = {}
        t = os.times()
        now, cpu_s = time.monotonic(), t.user + t.system
        last_t, last_cpu_s = self._last_process
        if now > last_t:
            gauges["process_cpu_util_pct"] = 100.0 * (cpu_s - last_cpu_s) / ((now - last_t) * self._cpus)
        self._last_process = (now, cpu_s)
        busy, total = _cpu_ticks(self._stat)
        if total > self._last_cpu[1]:
            gauges["cpu_util_pct"] = 100.0 * (busy - self._last_cpu[0]) / (total - self._last_cpu[1])
        self._last_cpu = (busy, total)
        gauges["rss_mb"] = int(self._statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB
        values = {}
        for line in self._meminfo.read_text().splitlines():
            name, _, rest = line.partition(":")
            if rest.split():
                values[name] = int(rest.split()[0])
        gauges["system_mem_mb"] = (values["MemTotal"] - values["MemAvailable"]) * 1024 / MIB
        return gauges


class ProcEstimate:
    """The old estimate: machine-wide busy ticks from /proc/stat x TDP / CPUs."""

    name = "estimate"
    method = "estimated"
    resolution_s = 0.01
    description = "estimate (old /proc reader)"
    channels = (Channel(id="cpu", domain="cpu", kind="counter"),)

    def __init__(self, tdp_w: float = 65.0) -> None:
        self._tdp_w = tdp_w
        self._cpus = os.cpu_count() or 1
        self._hz = os.sysconf("SC_CLK_TCK")

    def poll(self) -> Poll:
        busy, _total = _cpu_ticks(PROC / "stat")
        return Poll({"cpu": self._tdp_w * busy / self._hz / self._cpus})

    def close(self) -> None:
        """Nothing to release."""


# -- the measurements ------------------------------------------------------------------------
Setup = Callable[[], tuple[list[EnergySource], Any]]


def new_sampler() -> tuple[list[EnergySource], Any]:
    """wattbench's sources (auto) and its psutil gauges (the Meter's default)."""
    return open_sources(("auto",), SourceOptions()).sources, None


def old_sampler() -> tuple[list[EnergySource], Any]:
    """The /proc reader: the old gauges, and the old estimate where auto picks the estimate."""
    sources = open_sources(("auto",), SourceOptions()).sources
    if [s.name for s in sources] == ["estimate"]:
        sources = [ProcEstimate()]
    return sources, ProcGauges()


def process_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def sampler_cost(setup: Setup | None, hz: float, seconds: float) -> tuple[float, float, int]:
    """(sampler thread CPU %, process CPU %, polls) over ``seconds`` of sleep; setup None: no sampler."""
    sources, system = setup() if setup is not None else ([], None)
    meter = Meter(sources, sample_hz=hz, system=system)
    start = process_cpu_s()
    if setup is not None:
        meter.start()
    time.sleep(seconds)
    process = process_cpu_s() - start
    thread = meter.sampler_cpu_s
    polls = meter.polls
    meter.close()
    return 100 * thread / seconds, 100 * process / seconds, polls


def read_cost(gauges: Any, count: int) -> float:
    """µs per read of a gauge set."""
    t0 = time.perf_counter()
    for _ in range(count):
        gauges.read()
    return (time.perf_counter() - t0) / count * 1e6


def window_cost(count: int) -> tuple[float, float]:
    """(µs per begin+end pair, µs per bare pair of source polls and gauge reads)."""
    from wattbench.monitors.gauges import SystemGauges

    selection = open_sources(("auto",), SourceOptions())
    meter = Meter(selection.sources)
    gauges = SystemGauges()
    t0 = time.perf_counter()
    for _ in range(count):
        meter.end(meter.begin())
    windows = (time.perf_counter() - t0) / count
    t0 = time.perf_counter()
    for _ in range(count):
        for _edge in range(2):
            gauges.read()
            for source in selection.sources:
                source.poll()
    bare = (time.perf_counter() - t0) / count
    meter.close()
    return windows * 1e6, bare * 1e6


def decode_with_sampler(tokens: int, rounds: int) -> dict[str, list[float]] | None:
    """Decode tokens/s of SmolLM2 per sampler setting, alternated; None without the model."""
    from wattbench.backends.llamacpp import smollm2_file

    path = smollm2_file()
    if path is None:
        return None
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=512, verbose=False, seed=0)
    prompt = llm.tokenize(b"Explain why the sky is blue, in detail.", add_bos=True)
    rates: dict[str, list[float]] = {"off": [], "10 Hz": [], "100 Hz": []}
    for _ in range(rounds):
        for label in rates:
            meter = None
            if label != "off":
                meter = Meter(open_sources(("auto",), SourceOptions()).sources, float(label.split()[0]))
                meter.start()
            llm.reset()
            produced = 0
            first = 0.0
            for token in llm.generate(prompt, temp=0.0):
                produced += 1
                if produced == 1:
                    first = time.perf_counter()
                if produced >= tokens or token == llm.token_eos():
                    break
            rates[label].append((produced - 1) / (time.perf_counter() - first))
            if meter is not None:
                meter.close()
    return rates


def _median_row(values: Sequence[tuple[float, float, int]]) -> tuple[float, float, float]:
    return (
        statistics.median(v[0] for v in values),
        statistics.median(v[1] for v in values),
        statistics.median(v[2] for v in values),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--windows", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sources = open_sources(("auto",), SourceOptions()).sources
    print(f"sources: {', '.join(s.description for s in sources)}")
    has_proc = (PROC / "stat").exists()

    print(f"\nsampler CPU over {args.seconds:g} s of sleep (% of one core), median of "
          f"{args.rounds} alternated rounds:")
    _t, base, _p = sampler_cost(None, 1.0, args.seconds)
    print(f"  no sampler (baseline): process {base:.3f}%")
    setups: dict[str, Setup] = {"psutil": new_sampler}
    if has_proc:
        setups["/proc (old)"] = old_sampler
    for hz in (10.0, 100.0):
        results: dict[str, list[tuple[float, float, int]]] = {label: [] for label in setups}
        for _ in range(args.rounds):
            for label, setup in setups.items():
                results[label].append(sampler_cost(setup, hz, args.seconds))
        threads = {}
        for label, values in results.items():
            thread, process, polls = _median_row(values)
            threads[label] = thread
            print(
                f"  {hz:>5g} Hz {label:>11}: sampler thread {thread:.3f}%, process {process:.3f}% "
                f"({polls:.0f} polls, {polls / args.seconds:.1f}/s)"
            )
        if "/proc (old)" in threads and threads["/proc (old)"] > 0:
            ratio = threads["psutil"] / threads["/proc (old)"]
            print(f"  {hz:>5g} Hz psutil / old /proc sampler CPU: {ratio:.2f}")
    if not has_proc:
        print("  (no /proc here: the old reader cannot run, psutil alone is measured)")

    from wattbench.monitors.gauges import SystemGauges

    count = max(100, args.windows)
    psutil_us = read_cost(SystemGauges(), count)
    line = f"\none gauge read: psutil {psutil_us:.1f} µs"
    if has_proc:
        proc_us = read_cost(ProcGauges(), count)
        line += f", old /proc {proc_us:.1f} µs, ratio {psutil_us / proc_us:.2f}"
    print(line)

    windows, bare = window_cost(args.windows)
    print(f"\nwindow open + close: {windows:.1f} µs; bare reads at both edges: {bare:.1f} µs; "
          f"ratio {windows / bare:.2f}")

    rates = decode_with_sampler(args.tokens, args.rounds)
    if rates is None:
        print("\ndecode with the sampler: skipped (SmolLM2 not installed)")
        return
    off = statistics.median(rates["off"])
    print(f"\nSmolLM2 greedy decode, {args.tokens} tokens, median of {args.rounds} alternated rounds:")
    for label, values in rates.items():
        rate = statistics.median(values)
        print(f"  sampler {label:>6}: {rate:7.1f} tok/s  ratio to off {rate / off:.3f}")


if __name__ == "__main__":
    main()

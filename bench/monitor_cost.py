"""What measuring energy costs: the sampler's CPU time and the price of a measurement window.

    python bench/monitor_cost.py [--seconds 5] [--windows 2000] [--tokens 64]

Uses the energy sources auto-selection picks on this machine (the estimate where nothing
measures). Side by side, in one run:

- sampler CPU: the sampler thread's own CPU time (time.thread_time) while the main thread
  sleeps, at 10 Hz and at 100 Hz, as % of one core; beside it the whole process's CPU time
  over the same sleep with no sampler (the baseline). Target: under 1% at 10 Hz.
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

from wattbench.monitors import SourceOptions, open_sources
from wattbench.monitors.meter import Meter
from wattbench.monitors.procfs import SystemGauges


def process_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def sampler_cost(hz: float | None, seconds: float) -> tuple[float, float, int]:
    """(sampler thread CPU %, process CPU %, polls) over ``seconds`` of sleep; hz None: no sampler."""
    meter = Meter(open_sources(("auto",), SourceOptions()).sources, sample_hz=hz or 1.0)
    start = process_cpu_s()
    if hz is not None:
        meter.start()
    time.sleep(seconds)
    process = process_cpu_s() - start
    thread = meter.sampler_cpu_s
    polls = meter.polls
    meter.close()
    return 100 * thread / seconds, 100 * process / seconds, polls


def window_cost(count: int) -> tuple[float, float]:
    """(µs per begin+end pair, µs per bare pair of source polls and gauge reads)."""
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

    print(f"\nsampler CPU over {args.seconds:g} s of sleep (% of one core):")
    _t, base, _p = sampler_cost(None, args.seconds)
    print(f"  no sampler (baseline): process {base:.3f}%")
    for hz in (10.0, 100.0):
        thread, process, polls = sampler_cost(hz, args.seconds)
        print(
            f"  {hz:>5g} Hz: sampler thread {thread:.3f}%, process {process:.3f}% "
            f"({polls} polls, {polls / args.seconds:.1f}/s)"
        )

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

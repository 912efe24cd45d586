"""Harness overhead: wattbench against a bare llama-cpp-python loop, side by side, on SmolLM2;
and the engine's worker process (--wb-isolation process) against the engine in pytest's process.

    python bench/overhead.py [--max-tokens 64] [--repeats 2]

Runs the same greedy generations (same prompt tokens, same settings) three ways: in a bare
loop that calls llama-cpp-python directly, through `pytest bench/` with the engine in a worker
process (the default), and through `pytest bench/` with `--wb-isolation off`; it alternates the
three `--repeats` times so drift hits all alike. Prints, per case and overall:

- wall ratio:   wattbench's per-case time (pytest's call phase: measure, record, write) over
                the bare loop's time for the same generation; target < 1.03.
- timed ratio:  the time pytest-benchmark recorded for the case over the bare time.
- decode ratio: wattbench's decode_tokens_per_s over llama.cpp's own counters
                (n_eval / t_eval) for the same generation; target > 0.97.
- isolation:    the worker process's wall, timed and decode figures over those with the engine
                in pytest's process; target <= 1.01 (decode >= 0.99). Then the cost itself,
                free of the machine's noise: one pipe round trip to the worker (a prompt-token
                count there against the same count here), as a share of the median case.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SELECTION = "smollm and qa and (short or medium) and (L0 or L1 or L2)"


class CallDurations:
    """A pytest plugin that keeps the call-phase duration of every test_case item."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and "test_case[" in report.nodeid:
            self.seconds[report.nodeid.split("[", 1)[1].rstrip("]")] = report.duration


def run_wattbench(
    max_tokens: int, workdir: Path, isolation: str = "process"
) -> tuple[dict[str, float], dict[str, Any]]:
    """One pytest run of the selection; (case id -> call seconds, case id -> benchmark entry)."""
    durations = CallDurations()
    out = workdir / "out.json"
    code = pytest.main(
        [str(REPO / "bench"), "-q", "-p", "no:cacheprovider", "-k", SELECTION,
         "--wb-max-tokens", str(max_tokens), "--wb-temperature", "0",
         # The sampler runs as usual; the idle baseline and energy-window repeats are extra
         # measurement by design, not harness overhead, so they are left out of this ratio.
         "--wb-idle-time", "0", "--wb-energy-min-window", "0", "--wb-isolation", isolation,
         "--wb-run-dir", str(workdir / f"run-{time.monotonic_ns()}"),
         "--benchmark-json", str(out), "--rootdir", str(REPO), "-c", str(REPO / "pytest.ini")],
        plugins=[durations],
    )
    if code not in (0, 1):
        sys.exit(f"pytest exited with {code}")
    entries = {e["extra_info"]["case_id"]: e for e in json.loads(out.read_text())["benchmarks"]}
    return durations.seconds, entries


def bare_prompts(max_tokens: int) -> dict[str, list[int]]:
    """The selection's prompt tokens, by case id, rendered exactly as wattbench renders them."""
    from wattbench.backends.llamacpp import LlamaCppBackend
    from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
    from wattbench.cases.sources import matrix
    from wattbench.cases.tasks import load_padding, load_task_dir

    tasks_dir = REPO / "fixtures" / "tasks"
    backend = LlamaCppBackend(BackendOptions())
    (ref,) = backend.resolve("default")
    cases, _ = matrix([ref], [load_task_dir(tasks_dir)["qa"]], ("short", "medium"),
                      ("L0", "L1", "L2"), load_padding(tasks_dir), Sampling(max_tokens=max_tokens))
    model = backend.load(ref, LoadOptions())
    try:
        return {case.id: model.prompt_tokens(case.messages) for case in cases}
    finally:
        model.close()


def run_bare(prompts: dict[str, list[int]], max_tokens: int) -> dict[str, tuple[float, int]]:
    """A bare llama-cpp-python loop: load, warm up, then one timed generation per prompt."""
    import llama_cpp

    from wattbench.backends.llamacpp import default_threads, smollm2_file

    # The same threads as wattbench gives the engine (one per physical core for generation and
    # prompt evaluation alike), so the ratio measures the harness, not a thread setting.
    threads = default_threads()
    llm = llama_cpp.Llama(str(smollm2_file()), n_ctx=4096, seed=42, verbose=False, n_threads=threads,
                          n_threads_batch=threads)
    try:
        llm.create_completion(next(iter(prompts.values())), max_tokens=8, temperature=0.0)
        out: dict[str, tuple[float, int]] = {}
        for case_id, tokens in prompts.items():
            llm.reset()
            start = time.perf_counter()
            result = llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0,
                                           top_p=0.95, seed=42)
            out[case_id] = (time.perf_counter() - start, result["usage"]["completion_tokens"])
        return out
    finally:
        llm.close()


def round_trip_s(messages: list[dict[str, str]], count: int = 200) -> tuple[float, float]:
    """(seconds per prompt-token count in a worker process, the same in this process), medians."""
    from wattbench.backends.engineprocess import EngineProcess
    from wattbench.backends.llamacpp import LlamaCppBackend
    from wattbench.backends.protocol import BackendOptions, LoadOptions

    backend = LlamaCppBackend(BackendOptions())
    (ref,) = backend.resolve("default")
    here = backend.load(ref, LoadOptions())
    there = EngineProcess("wattbench.backends.llamacpp:LlamaCppBackend", BackendOptions(), ref, LoadOptions())
    times: dict[str, list[float]] = {"there": [], "here": []}
    try:
        for _ in range(count):
            for name, model in (("there", there), ("here", here)):
                start = time.perf_counter()
                model.count_prompt_tokens(messages)
                times[name].append(time.perf_counter() - start)
    finally:
        here.close()
        there.close()
    return statistics.median(times["there"]), statistics.median(times["here"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    prompts = bare_prompts(args.max_tokens)
    bare: dict[str, list[float]] = {case: [] for case in prompts}
    wall: dict[str, list[float]] = {case: [] for case in prompts}
    timed: dict[str, list[float]] = {case: [] for case in prompts}
    decode: dict[str, list[float]] = {case: [] for case in prompts}
    # The same three figures with the engine in pytest's process (--wb-isolation off).
    wall_in: dict[str, list[float]] = {case: [] for case in prompts}
    timed_in: dict[str, list[float]] = {case: [] for case in prompts}
    decode_in: dict[str, list[float]] = {case: [] for case in prompts}
    rates: dict[str, list[float]] = {case: [] for case in prompts}
    rates_in: dict[str, list[float]] = {case: [] for case in prompts}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            bare_run = run_bare(prompts, args.max_tokens)
            durations_in, entries_in = run_wattbench(args.max_tokens, Path(tmp), "off")
            for case in prompts:
                info = entries_in[case]["extra_info"]
                wall_in[case].append(durations_in[case])
                timed_in[case].append(entries_in[case]["stats"]["min"])
                decode_in[case].append(info["decode_tokens_per_s"] / info["engine_decode_tokens_per_s"])
                rates_in[case].append(info["decode_tokens_per_s"])
            durations, entries = run_wattbench(args.max_tokens, Path(tmp))
            for case in prompts:
                info = entries[case]["extra_info"]
                seconds, tokens = bare_run[case]
                if info["completion_tokens"] != tokens:  # greedy decoding: both must agree
                    sys.exit(f"{case}: bare loop made {tokens} tokens, wattbench "
                             f"{info['completion_tokens']}; the comparison would be unfair")
                bare[case].append(seconds)
                wall[case].append(durations[case])
                timed[case].append(entries[case]["stats"]["min"])
                decode[case].append(info["decode_tokens_per_s"] / info["engine_decode_tokens_per_s"])
                rates[case].append(info["decode_tokens_per_s"])
    print(f"{'case':<44} {'bare s':>8} {'wall s':>8} {'wall':>7} {'timed':>7} {'decode':>7}")
    ratios: dict[str, list[float]] = {"wall": [], "timed": [], "decode": []}
    for case in prompts:
        b = statistics.median(bare[case])
        w, t, d = (statistics.median(x[case]) for x in (wall, timed, decode))
        ratios["wall"].append(w / b)
        ratios["timed"].append(t / b)
        ratios["decode"].append(d)
        print(f"{case:<44} {b:8.3f} {w:8.3f} {w / b:7.3f} {t / b:7.3f} {d:7.3f}")
    print()
    print(f"harness overhead, wall per case (wattbench / bare):  "
          f"{statistics.median(ratios['wall']):.3f} (median over {len(prompts)} cases)")
    print(f"timed region (pytest-benchmark / bare):              "
          f"{statistics.median(ratios['timed']):.3f}")
    print(f"decode rate (wattbench / llama.cpp counters):        "
          f"{statistics.median(ratios['decode']):.3f}")
    print()
    print(f"{'case':<44} {'wall':>7} {'timed':>7} {'decode':>7}   (worker process / in pytest's process)")
    iso: dict[str, list[float]] = {"wall": [], "timed": [], "decode": []}
    for case in prompts:
        w, t, r = (statistics.median(x[case]) for x in (wall, timed, rates))
        wi, ti, ri = (statistics.median(x[case]) for x in (wall_in, timed_in, rates_in))
        iso["wall"].append(w / wi)
        iso["timed"].append(t / ti)
        iso["decode"].append(r / ri)
        print(f"{case:<44} {w / wi:7.3f} {t / ti:7.3f} {r / ri:7.3f}")
    print()
    print(f"isolation, wall per case (worker / in process):      {statistics.median(iso['wall']):.3f}")
    print(f"isolation, timed region:                             {statistics.median(iso['timed']):.3f}")
    print(f"isolation, decode rate (worker / in process):        {statistics.median(iso['decode']):.3f}")
    print(f"decode rate vs llama.cpp counters, in process:       "
          f"{statistics.median(statistics.median(decode_in[c]) for c in prompts):.3f}")
    there, here = round_trip_s([{"role": "user", "content": "What is DNS?"}])
    case_s = statistics.median(statistics.median(timed[c]) for c in prompts)
    print(f"one call to the worker: {there * 1e3:.3f} ms against {here * 1e3:.3f} ms in process; "
          f"the difference is {(there - here) / case_s:.5f} of the median case ({case_s:.3f} s), "
          f"so the timed-region ratio it adds is {1 + (there - here) / case_s:.5f}")


if __name__ == "__main__":
    main()

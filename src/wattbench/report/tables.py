"""The report's tables: results.csv (a row per run), stats.csv (a row per group), texts/.

A group is one (model, task, load, level, system prompt); its row holds mean, variance and 95%
CI of each figure over the group's runs, the efficiency-quality ratio (quality per joule and per
second), its stars, and whether it is on the Pareto front of quality against energy and
against latency.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from wattbench.report.pareto import pareto_front
from wattbench.report.quality import quality
from wattbench.report.rating import stars
from wattbench.report.stats import summarise

GROUP = ("model", "task", "load", "level", "system_prompt")
ROW = (
    "timestamp", "case_id", *GROUP, "run", "latency_s", "ttft_s", "decode_tokens_per_s", "prompt_tokens",
    "completion_tokens", "energy_j", "energy_net_j", "energy_per_token_j", "energy_method", "rss_peak_mb",
    "gpu_mem_peak_mb", "quality",
)
FIGURES = ("latency_s", "ttft_s", "decode_tokens_per_s", "energy_j", "energy_per_token_j", "quality")


def read_records(run_dir: Path) -> Iterator[dict[str, Any]]:
    """The run's successful records, streamed; failed runs and a torn last line are skipped."""
    path = run_dir / "results.jsonl"
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "error" not in record:
                record.setdefault("system_prompt", "default")
                yield record


def _safe(part: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.+]+", "_", str(part)) or "_"


def write_report(run_dir: Path) -> dict[str, Any]:
    """Write results.csv, stats.csv and texts/ into ``run_dir``; return what was written."""
    values: dict[tuple[Any, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    rows = 0
    with (run_dir / "results.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(ROW)
        for record in read_records(run_dir):
            q = quality(record)
            writer.writerow([q if key == "quality" else record.get(key, "") for key in ROW])
            rows += 1
            key = tuple(record.get(k) for k in GROUP)
            for figure in FIGURES:
                value = q if figure == "quality" else record.get(figure)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values[key][figure].append(float(value))
            text = run_dir / "texts" / _safe(record["model"]) / _safe(record["task"]) / (
                f"{_safe(record['load'])}-{_safe(record['level'])}-{_safe(record['system_prompt'])}"
                f"-r{record.get('run', 0)}.txt"
            )
            text.parent.mkdir(parents=True, exist_ok=True)
            text.write_text(str(record.get("output_text", "")), encoding="utf-8")
    groups = _group_rows(values)
    _write_stats(run_dir / "stats.csv", groups)
    return {"records": rows, "groups": len(groups), "files": ["results.csv", "stats.csv", "texts/"]}


def _group_rows(values: Mapping[tuple[Any, ...], Mapping[str, list[float]]]) -> list[dict[str, Any]]:
    """One row per group: statistics, the ratio, quality normalised per task, stars, Pareto flags."""
    rows: list[dict[str, Any]] = []
    for key, figures in values.items():
        row: dict[str, Any] = dict(zip(GROUP, key))
        for figure, series in figures.items():
            s = summarise(series)
            row.update({
                f"{figure}_mean": s.mean, f"{figure}_var": s.variance,
                f"{figure}_ci_low": s.ci_low, f"{figure}_ci_high": s.ci_high,
            })
        row["runs"] = max((len(v) for v in figures.values()), default=0)
        rows.append(row)
    best: dict[str, float] = defaultdict(float)
    for row in rows:
        best[row["task"]] = max(best[row["task"]], row.get("quality_mean", 0.0))
    for row in rows:
        q, energy, latency = row.get("quality_mean"), row.get("energy_j_mean"), row.get("latency_s_mean")
        top = best[row["task"]]
        row["quality_norm"] = None if q is None else (q / top if top > 0 else 0.0)
        row["stars"] = None
        row["quality_per_j"] = q / energy if q is not None and energy else None
        row["quality_per_s"] = q / latency if q is not None and latency else None
    labelled = {i: r["quality_norm"] / r["energy_j_mean"] for i, r in enumerate(rows)
                if r.get("quality_norm") is not None and r.get("energy_j_mean")}
    for index, count in stars(labelled).items():
        rows[index]["stars"] = count
    for cost, flag in (("energy_j_mean", "pareto_energy"), ("latency_s_mean", "pareto_latency")):
        points = [(r["quality_norm"], r[cost], i) for i, r in enumerate(rows)
                  if r.get("quality_norm") is not None and r.get(cost) is not None]
        on_front = set(pareto_front(points))
        for i, row in enumerate(rows):
            row[flag] = i in on_front
    return rows


def _write_stats(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(rows)

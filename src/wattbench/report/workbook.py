"""report.xlsx: model comparison, ratings per task, quality detail with the judge's reasons,
energy / latency / output-token / quality matrices, each group's main statistics (all of them
are in stats.csv), and the machines.

Written with openpyxl's write-only mode from a second stream over the records, so a
100,000-record workbook never holds its cells in memory, and the quality detail sheet has a
column only for the scores the study recorded. openpyxl is the ``[report]`` extra; without it
the report says so and writes everything else.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wattbench.report.quality import quality
from wattbench.report.study import GROUP, Study, level_order
from wattbench.report.tables import SCORES

MISSING = "report.xlsx not written: openpyxl is not installed (pip install 'wattbench[report]')"
DETAIL_LABELS = (
    "case_id",
    "fingerprint",
    "model",
    "task",
    "load",
    "level",
    "system_prompt",
    "run",
)
STAT_FIGURES = ("latency_s", "ttft_s", "decode_tokens_per_s", "energy_j", "energy_per_token_j", "quality")
OVERALL = (
    "system",
    "config",
    "stars",
    "ratio_share",
    "quality_norm",
    "energy_j",
    "latency_s",
    "prompt_tokens",
    "tasks_rated",
    "pareto_energy",
    "pareto_latency",
)
PER_TASK = (
    "task",
    "system",
    "config",
    "stars",
    "ratio_per_j",
    "ratio_per_s",
    "quality",
    "quality_norm",
    "energy_j",
    "latency_s",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_j",
    "pareto_energy",
    "pareto_latency",
)
MATRICES = (
    ("Energy J", "energy_j_mean"),
    ("Latency s", "latency_s_mean"),
    ("Output tokens", "completion_tokens_mean"),
    ("Quality", "quality_mean"),
)
SHEETS = ("Models", "Per task", "Quality detail", *(name for name, _key in MATRICES), "Stats", "Machines")
TEXT_CHARS = 32_000  # Excel's cell limit is 32,767 characters


def _cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > TEXT_CHARS:
        return value[:TEXT_CHARS] + "..."
    return value


def write_workbook(path: Path, study: Study, records: Iterable[Mapping[str, Any]]) -> str | None:
    """Write report.xlsx; ``records`` streams the runs again for the quality detail sheet.

    Returns None when written, else why not (openpyxl missing).
    """
    try:
        openpyxl = importlib.import_module("openpyxl")
    except ImportError:
        return MISSING
    book = openpyxl.Workbook(write_only=True)
    sheets = {name: book.create_sheet(name) for name in SHEETS}
    _table(sheets["Models"], OVERALL, study.overall)
    _table(sheets["Per task"], PER_TASK, study.configs)
    detail = [
        *DETAIL_LABELS,
        "quality",
        *(k for k in SCORES if k in study.scores),
        "judge_reason",
        "output_text",
    ]
    sheets["Quality detail"].append(detail)
    for record in records:
        q = quality(record)
        sheets["Quality detail"].append([_cell(q if k == "quality" else record.get(k)) for k in detail])
    for name, key in MATRICES:
        _matrix(sheets[name], key, study)
    bounds = ("mean", "ci_low", "ci_high")
    stats = [
        *GROUP,
        "system",
        "config",
        "runs",
        *(f"{f}_{b}" for f in STAT_FIGURES for b in bounds),
        "quality_norm",
        "ratio_per_j",
        "stars",
        "pareto_energy",
        "pareto_latency",
    ]
    _table(sheets["Stats"], stats, study.groups)
    machine_keys = list(dict.fromkeys(k for m in study.machines.values() for k in m))
    _table(
        sheets["Machines"],
        ["fingerprint", *machine_keys],
        [{"fingerprint": fp, **m} for fp, m in study.machines.items()],
    )
    book.save(path)
    return None


def _table(sheet: Any, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in columns])


def _matrix(sheet: Any, key: str, study: Study) -> None:
    """Rows (system, task, load), a column per configuration: the group means of ``key``."""
    configs = sorted({g["config"] for g in study.groups}, key=lambda c: (level_order(c.split("+")[0]), c))
    cells: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(dict)
    for g in study.groups:
        cells[g["system"], g["task"], g["load"]][g["config"]] = g.get(key)
    sheet.append(["system", "task", "load", *configs])
    for (system, task, load), values in sorted(cells.items()):
        sheet.append([system, task, load, *(values.get(c) for c in configs)])

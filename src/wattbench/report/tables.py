"""The report's CSV tables and answer files.

- results.csv: a row per run, written as records stream past;
- stats.csv: a row per group (see study.py) with mean, variance and 95% CI of every figure,
  normalised quality, the ratio, stars and Pareto flags within its (task, load);
- ratings.csv: a row per configuration and task, and per configuration overall (task "all");
- texts/<model>/<task>/<load>-<level>-<system prompt>-r<run>.txt: every generated answer.

Every text cell goes through cells.csv_cell, so no cell starts a formula in a spreadsheet.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wattbench import axes
from wattbench.ids import path_part
from wattbench.metrics import BY_KEY
from wattbench.report.cells import csv_row


def labels() -> tuple[str, ...]:
    """The label columns: the time, the case and every axis of the case matrix, the run."""
    return ("timestamp", "case_id", "fingerprint", *axes.record_keys(), "run")


MEASURED = (
    "latency_s",
    "ttft_s",
    "decode_tokens_per_s",
    "prompt_tokens",
    "completion_tokens",
    "energy_j",
    "energy_net_j",
    "energy_per_token_j",
    "energy_method",
    "energy_boundary",
    "carbon_gco2e",
    "rss_peak_mb",
    "gpu_mem_peak_mb",
    "gpu_util_peak_pct",
)
RATIOS = ("quality", "quality_per_j", "quality_per_s", "tokens_per_j")
SCORES = (*tuple(m.key for m in BY_KEY.values() if m.unit in ("score", "points")), "code_compiles")


def result_columns() -> tuple[str, ...]:
    """results.csv's columns."""
    return (*labels(), *MEASURED, *RATIOS, *SCORES)


def text_path(record: Mapping[str, Any]) -> Path:
    """Where a record's answer goes, relative to the report folder."""
    return Path(
        "texts",
        path_part(record["model"]),
        path_part(record["task"]),
        (
            f"{path_part(record['load'])}-{path_part(record['level'])}-{path_part(record['system_prompt'])}"
            f"-r{path_part(record.get('run', 0))}.txt"
        ),
    )


class ResultsTable:
    """results.csv, a row per run record, written as the records stream past."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        self._columns = result_columns()
        self._ratio_at = tuple((self._columns.index(key), key) for key in RATIOS)
        self._writer.writerow(self._columns)

    def add(self, record: Mapping[str, Any], ratios: Mapping[str, Any]) -> None:
        """One row: the record's labels, figures and scores, with its derived ratios."""
        row = list(map(record.get, self._columns))
        for at, key in self._ratio_at:
            if key in ratios:
                row[at] = ratios[key]
        self._writer.writerow(csv_row(row))

    def close(self) -> None:
        """Flush and close the file."""
        self._handle.close()


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]], first: Iterable[str] = ()) -> None:
    """A CSV of dict rows; columns are ``first`` then every other key in order of appearance."""
    order: dict[str, Any] = dict.fromkeys(first)
    for row in rows:
        order.update(row)  # in C: keys in order of first appearance (the values are not used)
    columns = list(order)
    del order
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)  # not DictWriter: it checks every row's keys, a third of the time
        writer.writerow(csv_row(columns))
        writer.writerows(csv_row(list(map(row.get, columns))) for row in rows)

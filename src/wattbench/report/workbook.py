"""report.xlsx: model comparison, ratings per task, a lean per-run sheet of answers with their
quality and the judge's reasons, energy / latency / output-token / quality matrices, each
group's means with their 95% intervals (bounds, n, method; every other statistic is in
stats.csv), and the machines.

Written with XlsxWriter in its constant-memory mode as the records stream past (one pass: the
per-run sheet is written while the report reads the runs, the other sheets after the study), so
a 100,000-record workbook never holds its cells in memory: each row goes to disk as it is
written. The per-run sheet is lean, the labels, quality, judge's reason and answer of each run;
every score, the case id and the timestamp of each run are in results.csv. XlsxWriter is the
``[report]`` extra; without it the report says so and writes everything else.

The workbook is for reading; the CSV files are the complete data. The sheets with a row per run
(Quality detail), per group (Stats) or per (model, task, load) (the four matrices) hold their
first SHEET_ROWS rows and then a row saying how many there were and which file has them all:
XlsxWriter takes 3-5 us a cell, and a 100,000-run study's full sheets (1.5 million cells) took 8
of the report's 16 seconds. The sheets a choice is made from (Models, Per task) and Machines are
always complete.

Model output never runs: every text is written as a string cell (``strings_to_formulas`` and
``strings_to_urls`` off, no ``write()`` guessing), so an answer that begins with ``=`` is shown,
not evaluated, and no text becomes a link. Numbers are number cells; NaN and infinities become
Excel's error values rather than failing the workbook.
"""

from __future__ import annotations

import importlib
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wattbench import axes
from wattbench.report.quality import quality
from wattbench.report.study import Study, group_keys, level_order

MISSING = "report.xlsx not written: XlsxWriter is not installed (pip install 'wattbench[report]')"
OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "nan_inf_to_errors": True,
}


def detail() -> tuple[str, ...]:
    """The per-run sheet's columns: what a reader of answers needs; the rest is in results.csv."""
    return (*axes.record_keys(), "run", "fingerprint", "quality", "judge_reason", "output_text")


STAT_FIGURES = ("latency_s", "ttft_s", "decode_tokens_per_s", "energy_j", "energy_per_token_j", "quality")
# Beside a figure: its 95% interval, the values it rests on and how it was computed (blank bounds
# and "none: n = 1" for one run: never a zero-width interval). report/stats.py names the methods.
INTERVAL = ("ci_low", "ci_high", "n", "ci_method")


def _with_interval(*names: str) -> tuple[str, ...]:
    """Each name followed by its interval's columns (INTERVAL)."""
    return tuple(c for name in names for c in (name, *(f"{name}_{k}" for k in INTERVAL)))


OVERALL = (
    "system",
    "config",
    "stars",
    "ratio_share",
    *_with_interval("quality_norm", "energy_j", "latency_s"),
    "prompt_tokens",
    "tasks_rated",
    "pareto_energy",
    "pareto_latency",
    "contended_only",
    "contended_part",
)
PER_TASK = (
    "task",
    "system",
    "config",
    "stars",
    "ratio_per_j",
    "ratio_per_s",
    *_with_interval("quality"),
    "quality_norm",
    *_with_interval("energy_j", "latency_s"),
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_j",
    "pareto_energy",
    "pareto_latency",
    "contended_only",
    "contended_part",
)
MATRICES = (
    ("Energy J", "energy_j_mean"),
    ("Latency s", "latency_s_mean"),
    ("Output tokens", "completion_tokens_mean"),
    ("Quality", "quality_mean"),
)
SHEETS = ("Models", "Per task", "Quality detail", *(name for name, _key in MATRICES), "Stats", "Machines")
Sheets = dict[str, list[list[Any]]]  # sheet name -> rows of cells, a header row first
TEXT_CHARS = 32_000  # Excel's cell limit is 32,767 characters
SHEET_ROWS = 2_000  # rows of the per-run and per-group sheets; the CSV files hold every row


class _Sheet:
    """Rows appended in order to one XlsxWriter worksheet, each cell written by its type."""

    def __init__(self, sheet: Any) -> None:
        self._sheet = sheet
        self._row = 0
        self._string = sheet.write_string
        self._number = sheet.write_number
        self._boolean = sheet.write_boolean

    def append(self, values: Iterable[Any]) -> None:
        """Write the next row: str as a string cell (never a formula), numbers, bools; None left blank."""
        row = self._row
        for col, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, str):
                self._string(row, col, value if len(value) <= TEXT_CHARS else value[:TEXT_CHARS] + "...")
            elif isinstance(value, bool):
                self._boolean(row, col, value)
            elif isinstance(value, (int, float)):
                self._number(row, col, value)
            else:
                self._string(row, col, str(value))
        self._row += 1


class Workbook:
    """report.xlsx, written in one pass: ``add`` each record as it streams, ``add_sheets`` the
    study's, then ``finish``."""

    def __init__(self, path: Path, xlsxwriter: Any, answers: str, temp: Path | None = None) -> None:
        # Constant-memory mode keeps each sheet's rows in a temp file until close(), and leaves
        # the file of a sheet that got no row behind (a discarded workbook): a folder of our own
        # (in ``temp`` when given) takes them all away.
        self._temp = tempfile.TemporaryDirectory(prefix="wattbench-xlsx-", dir=temp)
        self._book = xlsxwriter.Workbook(str(path), {**OPTIONS, "tmpdir": self._temp.name})
        self._answers = answers  # where every answer is, for the per-run sheet's last row
        self._sheets = {name: _Sheet(self._book.add_worksheet(name)) for name in SHEETS}
        self._detail = self._sheets["Quality detail"]
        self._columns = detail()
        self._detail.append(self._columns)
        self._at_quality = self._columns.index("quality")
        self._runs = 0

    def add(self, record: Mapping[str, Any]) -> None:
        """One row of the per-run sheet (past SHEET_ROWS runs, only counted)."""
        self._runs += 1
        if self._runs <= SHEET_ROWS:
            values = [record.get(k) for k in self._columns]
            values[self._at_quality] = quality(record)
            self._detail.append(values)

    def add_sheets(self, sheets: Sheets) -> None:
        """Rows for the study's sheets (group_sheets(), study_sheets()), each sheet's in order."""
        for name, rows in sheets.items():
            sheet = self._sheets[name]
            for row in rows:
                sheet.append(row)

    def finish(self) -> None:
        """Close (write) the file, the per-run sheet ending with how many runs it left out."""
        if self._runs > SHEET_ROWS:
            self._detail.append(
                [
                    f"{SHEET_ROWS:,} of {self._runs:,} runs shown here; every run is in results.csv, "
                    f"every answer in {self._answers}"
                ]
            )
        self._close()

    def discard(self) -> None:
        """Close without keeping a workbook (the report failed before its study)."""
        self._close()

    def _close(self) -> None:
        try:
            self._book.close()
        finally:
            self._temp.cleanup()  # TemporaryDirectory ignores what is already gone


def open_workbook(path: Path, answers: str, temp: Path | None = None) -> Workbook | str:
    """A Workbook writing ``path``, or why none can be written (XlsxWriter missing). ``answers``
    says where every answer is; ``temp`` is the folder for XlsxWriter's row files."""
    try:
        xlsxwriter = importlib.import_module("xlsxwriter")
    except ImportError:
        return MISSING
    return Workbook(path, xlsxwriter, answers, temp)


def group_sheets(groups: Sequence[Mapping[str, Any]]) -> Sheets:
    """The sheets drawn from the groups (study.rated_groups()): the four matrices and Stats, as
    rows of cells (a header row first), plain lists small enough to hand to the process that
    writes the workbook (report/helper.py)."""
    stats = [
        *group_keys(),
        "system",
        "config",
        "runs",
        *(c for f in STAT_FIGURES for c in (f"{f}_mean", *(f"{f}_{k}" for k in INTERVAL))),
        "quality_norm",
        "ratio_per_j",
        "stars",
        "pareto_energy",
        "pareto_latency",
        "contended_only",
    ]
    sheets = {}
    for name, key in MATRICES:
        matrix = _matrix(key, groups)
        sheets[name] = _limited(
            matrix[: SHEET_ROWS + 1],
            len(matrix) - 1,
            "(model, task, load) rows",
            "every group mean is in stats.csv",
        )
    sheets["Stats"] = _limited(
        _table(stats, groups[:SHEET_ROWS]),
        len(groups),
        "groups",
        "every group, with its CIs, is in stats.csv",
    )
    return sheets


def _limited(rows: list[list[Any]], total: int, what: str, where: str) -> list[list[Any]]:
    """A sheet's header and first SHEET_ROWS rows (``rows``) of ``total``; when rows were left
    out, a last row saying how many, and where they all are."""
    if total > SHEET_ROWS:
        rows.append([f"{SHEET_ROWS:,} of {total:,} {what} shown here; {where}"])
    return rows


def study_sheets(study: Study) -> Sheets:
    """The sheets drawn from the rest of the study: Models, Per task and Machines (as group_sheets)."""
    machine_keys = list(dict.fromkeys(k for m in study.machines.values() for k in m))
    return {
        "Models": _table(OVERALL, study.overall),
        "Per task": _table(PER_TASK, study.configs),
        "Machines": _table(
            ["fingerprint", *machine_keys], [{"fingerprint": fp, **m} for fp, m in study.machines.items()]
        ),
    }


def _table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """A header row, then a row per mapping."""
    return [list(columns), *([row.get(c) for c in columns] for row in rows)]


def _matrix(key: str, groups: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Rows (system, task, load), a column per configuration: the group means of ``key``."""
    configs = sorted({g["config"] for g in groups}, key=lambda c: (level_order(c.split("+")[0]), c))
    cells: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(dict)
    for g in groups:
        cells[g["system"], g["task"], g["load"]][g["config"]] = g.get(key)
    return [
        ["system", "task", "load", *configs],
        *(
            [system, task, load, *(values.get(c) for c in configs)]
            for (system, task, load), values in sorted(cells.items())
        ),
    ]

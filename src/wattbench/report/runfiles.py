"""The report's files written from each run as the records stream past: results.csv, texts/
and report.xlsx, whose per-run sheet is written in the same pass and whose other sheets wait
for the study (RunFiles.add_sheets).

Nothing here needs another run's figures, so a second process can write these files while the
first builds the study (report/helper.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from wattbench.report.human import study_of_runs, with_human
from wattbench.report.runs import read_runs
from wattbench.report.study import derived
from wattbench.report.tables import ResultsTable, text_path
from wattbench.report.workbook import Sheets, open_workbook

RESULTS_CSV, WORKBOOK, TEXTS = "results.csv", "report.xlsx", "texts/"


class RunFiles:
    """results.csv, texts/ (when ``texts``) and report.xlsx in ``out_dir``: ``add`` each record,
    ``add_sheets`` the study's, then ``finish``; or ``discard`` to leave no half-written file."""

    def __init__(self, out_dir: Path, texts: bool, temp: Path | None = None) -> None:
        self._out_dir = out_dir
        self._texts = texts
        self._made: set[Path] = set()
        self._table = ResultsTable(out_dir / RESULTS_CSV)
        answers = "texts/" if texts else "the saved runs (results.jsonl)"
        try:
            self._book = open_workbook(out_dir / WORKBOOK, answers, temp)
        except BaseException:
            self._table.close()
            (out_dir / RESULTS_CSV).unlink(missing_ok=True)
            raise

    def add(self, record: Mapping[str, Any], ratios: Mapping[str, Any]) -> None:
        """One run record with its derived() figures."""
        self._table.add(record, ratios)
        if not isinstance(self._book, str):
            self._book.add(record)
        if self._texts:
            path = self._out_dir / text_path(record)
            if path.parent not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent)
            path.write_text(str(record.get("output_text", "")), encoding="utf-8")

    def add_sheets(self, sheets: Sheets) -> None:
        """Rows for the workbook's study sheets (workbook.group_sheets(), study_sheets())."""
        if not isinstance(self._book, str):
            self._book.add_sheets(sheets)

    def finish(self) -> tuple[list[str], list[str]]:
        """Close results.csv and the workbook: (files written, notes)."""
        self._table.close()
        files, notes = [RESULTS_CSV, *([TEXTS] if self._texts else [])], []
        if isinstance(self._book, str):
            notes.append(self._book)  # why no workbook (XlsxWriter missing)
        else:
            self._book.finish()
            files.append(WORKBOOK)
        return files, notes

    def discard(self) -> None:
        """Remove results.csv and the workbook (the report failed). Closing either can fail as
        the report did (a full disk): the files are removed all the same."""
        if not isinstance(self._book, str):
            with contextlib.suppress(Exception):
                self._book.discard()
            with contextlib.suppress(OSError):
                (self._out_dir / WORKBOOK).unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            self._table.close()
        with contextlib.suppress(OSError):
            (self._out_dir / RESULTS_CSV).unlink(missing_ok=True)


def add_runs(
    files: RunFiles,
    sources: Iterable[Path],
    primary: Mapping[str, str] | None,
    sizes: Mapping[Path, int],
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """Stream every successful record of ``sources`` (as far as ``sizes``, runs.results_sizes())
    into ``files``, joined with human ratings as the report's own pass joins them
    (report/build.py). ``cancelled`` is asked every thousand records; when it says so, the rest
    is left unread."""
    sources = list(sources)
    records = read_runs(sources, sizes=sizes)
    for count, record in enumerate(with_human(records, study_of_runs(sources), primary)):
        if cancelled is not None and count % 1000 == 0 and cancelled():
            return
        files.add(record, derived(record))

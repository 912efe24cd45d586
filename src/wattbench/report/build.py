"""Write a report folder from saved runs, streaming their records once.

One pass over the records writes results.csv and the texts and accumulates each group's
figures; the study (statistics, ratios, stars, fronts) then gives stats.csv, ratings.csv,
findings.md and report.html; a second pass streams the records into the workbook.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.report.findings import as_markdown, findings
from wattbench.report.page import render
from wattbench.report.runs import read_runs
from wattbench.report.study import Accumulator, Study, build_study, derived
from wattbench.report.tables import ResultsTable, text_path, write_rows
from wattbench.report.workbook import write_workbook


@dataclass
class Written:
    """What a report wrote, for the command's summary line."""

    out_dir: Path
    study: Study
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def write_report(sources: Sequence[Path], out_dir: Path, texts: bool = True) -> Written:
    """Write the report of ``sources`` (run folders or benchmark JSON files) into ``out_dir``."""
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = Accumulator()
    table = ResultsTable(out_dir / "results.csv")
    made: set[Path] = set()
    try:
        for record in read_runs(sources):
            ratios = derived(record)
            acc.add(record, ratios)
            table.add(record, ratios)
            if texts:
                path = out_dir / text_path(record)
                if path.parent not in made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    made.add(path.parent)
                path.write_text(str(record.get("output_text", "")), encoding="utf-8")
    finally:
        table.close()
    study = build_study(acc)
    written = Written(out_dir, study, ["results.csv"] + (["texts/"] if texts else []))
    write_rows(out_dir / "stats.csv", study.groups)
    write_rows(
        out_dir / "ratings.csv",
        [*study.configs, *({**r, "task": "all"} for r in study.overall)],
        first=("task", "system", "config", "stars"),
    )
    answers = findings(study)
    (out_dir / "findings.md").write_text(as_markdown(answers), encoding="utf-8")
    (out_dir / "report.html").write_text(
        render(study, answers, f"wattbench report: {out_dir.name}"), encoding="utf-8"
    )
    written.files += ["stats.csv", "ratings.csv", "findings.md", "report.html"]
    missing = write_workbook(out_dir / "report.xlsx", study, read_runs(sources))
    if missing is None:
        written.files.append("report.xlsx")
    else:
        written.notes.append(missing)
    written.seconds = time.perf_counter() - start
    return written

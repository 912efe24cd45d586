"""Write a report folder from saved runs, streaming their records once.

One pass over the records writes results.csv, the texts and the workbook's per-run sheet, and
accumulates each group's figures; the study (statistics, ratios, stars, fronts) then gives
stats.csv, ratings.csv, findings.md, report.html and the workbook's other sheets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.errors import ReportInputError
from wattbench.report.findings import as_markdown, findings
from wattbench.report.human import agreement_rows, study_of_runs, with_human
from wattbench.report.page import render
from wattbench.report.runs import Outcomes, read_runs
from wattbench.report.study import Accumulator, Study, build_study, derived
from wattbench.report.tables import ResultsTable, text_path, write_rows
from wattbench.report.workbook import open_workbook


@dataclass
class Written:
    """What a report wrote, for the command's summary line."""

    out_dir: Path
    study: Study
    outcomes: Outcomes
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def write_report(
    sources: Sequence[Path], out_dir: Path, texts: bool = True, primary: dict[str, str] | None = None
) -> Written:
    """Write the report of ``sources`` (run folders or benchmark JSON files) into ``out_dir``.

    Raises ReportInputError when a source is missing or unreadable, or when the sources hold
    no successful run record (there is nothing to report; results.csv is not left behind).
    Human ratings (ratings.sqlite) join the records as human_<dimension>; ``primary``
    (wattbench.report.human.parse_primary) makes one a task's quality.
    """
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = Accumulator()
    outcomes = Outcomes()
    table = ResultsTable(out_dir / "results.csv")
    book = open_workbook(out_dir / "report.xlsx")
    made: set[Path] = set()
    try:
        human = study_of_runs(sources)
        for record in with_human(read_runs(sources, outcomes), human, primary):
            ratios = derived(record)
            acc.add(record, ratios)
            table.add(record, ratios)
            if not isinstance(book, str):
                book.add(record)
            if texts:
                path = out_dir / text_path(record)
                if path.parent not in made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    made.add(path.parent)
                path.write_text(str(record.get("output_text", "")), encoding="utf-8")
        if acc.records == 0:
            failed = len(outcomes.errors)
            raise ReportInputError(
                f"nothing to report: {', '.join(str(s) for s in sources)} hold(s) no successful run record"
                + (f" ({failed} failed run(s); their errors are in results.jsonl)" if failed else "")
            )
    except BaseException:
        # Leave no half-written workbook or empty table behind.
        if not isinstance(book, str):
            book.discard()
            (out_dir / "report.xlsx").unlink(missing_ok=True)
        table.close()
        (out_dir / "results.csv").unlink(missing_ok=True)
        raise
    table.close()
    study = build_study(acc)
    del acc  # its runs' figures are summarised now: free them before the page and the workbook
    written = Written(out_dir, study, outcomes, ["results.csv"] + (["texts/"] if texts else []))
    write_rows(out_dir / "stats.csv", study.groups)
    write_rows(
        out_dir / "ratings.csv",
        [*study.configs, *({**r, "task": "all"} for r in study.overall)],
        first=("task", "system", "config", "stars"),
    )
    if human.ratings_count:
        write_rows(out_dir / "human.csv", human.cases)
        write_rows(out_dir / "agreement.csv", agreement_rows(human))
        written.files += ["human.csv", "agreement.csv"]
        written.notes += human.lines()
    answers = findings(study)
    (out_dir / "findings.md").write_text(as_markdown(answers), encoding="utf-8")
    (out_dir / "report.html").write_text(
        render(study, answers, f"wattbench report: {out_dir.name}", outcomes), encoding="utf-8"
    )
    written.files += ["stats.csv", "ratings.csv", "findings.md", "report.html"]
    if isinstance(book, str):
        written.notes.append(book)
    else:
        book.finish(study)
        written.files.append("report.xlsx")
    written.seconds = time.perf_counter() - start
    return written

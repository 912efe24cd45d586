"""Write a report folder from saved runs, streaming their records once.

One pass over the records accumulates each group's figures and writes the run files
(results.csv, texts/, the workbook's per-run sheet; report/runfiles.py); the study (statistics,
ratios, stars, fronts) then gives stats.csv, ratings.csv, findings.md, report.html and the
workbook's other sheets. A large report writes its run files in a second process that reads the
sources itself (report/helper.py), so it uses two cores; the files are the same either way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from threadpoolctl import threadpool_limits

from wattbench.errors import ReportInputError
from wattbench.floors import Floor
from wattbench.report import finetune
from wattbench.report.findings import as_markdown, findings, task_floors
from wattbench.report.helper import HelperLost, RunFilesHelper, worth_splitting
from wattbench.report.human import HumanStudy, agreement_rows, study_of_runs, with_human
from wattbench.report.knobs import knob_finding
from wattbench.report.page import render, warnings
from wattbench.report.runfiles import WORKBOOK, RunFiles, add_runs
from wattbench.report.runs import Outcomes, check_source, read_runs, results_sizes
from wattbench.report.sci import SCI_FILE, write_sci
from wattbench.report.study import Accumulator, Study, derived, rated_groups, study_of
from wattbench.report.tables import write_rows
from wattbench.report.workbook import Sheets, group_sheets, study_sheets


@dataclass
class Written:
    """What a report wrote, for the command's summary line."""

    out_dir: Path
    study: Study
    outcomes: Outcomes
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    floors: dict[str, float] = field(default_factory=dict)  # task -> the quality the reader needs


def write_report(
    sources: Sequence[Path],
    out_dir: Path,
    texts: bool = True,
    primary: dict[str, str] | None = None,
    split: bool | None = None,
    quality_floors: Sequence[Floor] = (),
) -> Written:
    """Write the report of ``sources`` (run folders or benchmark JSON files) into ``out_dir``.

    Raises ReportInputError when a source is missing or unreadable, or when the sources hold
    no successful run record (there is nothing to report; results.csv is not left behind).
    Human ratings (ratings.sqlite) join the records as human_<dimension>; ``primary``
    (wattbench.report.human.parse_primary) makes one a task's quality. ``split``: write the run
    files in a second process (None: when the sources are large enough to gain, see helper.py).
    """
    # One BLAS thread: the report's products are small (the bootstrap's groups x runs by runs x
    # resamples) and gain nothing from more, while OpenBLAS's spare thread spins on the core the
    # helper needs: with it, 100,000 records took 4.7 s and 7.9 s of CPU; without, 4.0 and 6.8.
    # The figures are the same. numpy is loaded first: threadpool_limits sets only the libraries
    # already loaded.
    import numpy  # noqa: F401

    with threadpool_limits(limits=1, user_api="blas"):
        return _write_report(sources, out_dir, texts, primary, split, quality_floors)


def _write_report(
    sources: Sequence[Path], out_dir: Path, texts: bool, primary: dict[str, str] | None, split: bool | None,
    quality_floors: Sequence[Floor] = (),
) -> Written:
    start = time.perf_counter()
    for source in sources:
        check_source(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = Accumulator()
    outcomes = Outcomes()
    human = study_of_runs(sources)
    if split is None:
        split = worth_splitting(sources)
    sizes = results_sizes(sources)  # a run still appending: both passes read the same records
    # The run files: written here as the records stream past, or by a helper that reads them.
    files: RunFiles | RunFilesHelper | None = None
    if split:
        with contextlib.suppress(OSError):  # no second interpreter to start: one process it is
            files = RunFilesHelper(sources, out_dir, texts, primary, sizes)
    if files is None:
        files = RunFiles(out_dir, texts)
    here = files if isinstance(files, RunFiles) else None
    sheets: list[Sheets] = []
    study_files: list[str] = []  # written so far, removed if the report fails after all
    try:
        for record in with_human(read_runs(sources, outcomes, sizes), human, primary):
            ratios = derived(record)
            acc.add(record, ratios)
            if here is not None:
                here.add(record, ratios)
        if acc.records == 0:
            failed = len(outcomes.errors)
            raise ReportInputError(
                f"nothing to report: {', '.join(str(s) for s in sources)} hold(s) no successful run record"
                + (f" ({failed} failed run(s); their errors are in results.jsonl)" if failed else "")
            )
        if isinstance(files, RunFilesHelper):
            files.raise_if_failed()  # a helper that could not write its files fails the report now
        groups = rated_groups(acc)
        sheets.append(group_sheets(groups))
        files.add_sheets(sheets[-1])  # the helper writes these while the study is finished here
        study = study_of(groups, acc)
        del acc, groups  # summarised: free the runs' figures before the page and the CSVs
        sheets.append(study_sheets(study))
        files.add_sheets(sheets[-1])
        written = Written(out_dir, study, outcomes, floors=task_floors(study, quality_floors))
        if isinstance(files, RunFilesHelper):
            files.raise_if_failed()
        _write_study_files(written, human, study_files, sources)
        try:
            run_files, notes = files.finish()
        except HelperLost as lost:  # killed, or a Python that cannot start itself
            run_files, notes = _run_files_here(sources, out_dir, texts, primary, sizes, sheets)
            notes.append(f"{lost}; this process wrote them instead")
    except BaseException:
        files.discard()  # leave no half-written workbook or table behind, nor study files
        for name in study_files:
            with contextlib.suppress(OSError):
                (out_dir / name).unlink(missing_ok=True)
        raise
    book = [f for f in run_files if f == WORKBOOK]
    written.files = [*(f for f in run_files if f != WORKBOOK), *study_files, *book]
    written.notes += notes
    written.seconds = time.perf_counter() - start
    return written


def _run_files_here(
    sources: Sequence[Path],
    out_dir: Path,
    texts: bool,
    primary: dict[str, str] | None,
    sizes: Mapping[Path, int],
    sheets: Sequence[Sheets],
) -> tuple[list[str], list[str]]:
    """The run files, written by this process in a second pass over the sources."""
    files = RunFiles(out_dir, texts)
    try:
        add_runs(files, sources, primary, sizes)
        for part in sheets:
            files.add_sheets(part)
        return files.finish()
    except BaseException:
        files.discard()
        raise


def _write_study_files(
    written: Written, human: HumanStudy, names: list[str], sources: Sequence[Path] = (),
) -> None:
    """stats.csv, ratings.csv, human.csv and agreement.csv (with ratings), finetune.csv (where a
    source fine-tuned), findings.md and report.html, each name appended to ``names`` as it is
    written."""
    out_dir, study = written.out_dir, written.study
    rows = {
        "stats.csv": (study.groups, ()),
        "ratings.csv": (
            [*study.configs, *({**r, "task": "all"} for r in study.overall)],
            ("task", "system", "config", "stars"),
        ),
    }
    if human.ratings_count:
        rows |= {"human.csv": (human.cases, ()), "agreement.csv": (agreement_rows(human), ())}
        written.notes += human.lines()
    for name, (table, first) in rows.items():
        names.append(name)
        write_rows(out_dir / name, table, first)
    if any(g.get("carbon_gco2e_mean") is not None for g in study.groups):
        names.append(SCI_FILE)  # --wb-grid-intensity: an SCI figure per group (report/sci.py)
        write_sci(out_dir, study.groups)
    tuned = finetune.write_csv(sources, out_dir)
    names += tuned
    answers = findings(study, written.floors)
    knobs = knob_finding(study, written.floors)  # reasoning, power cap, clocks: where one varies
    if knobs is not None:
        answers.insert(1 if written.floors else 0, knobs)
    names.append("findings.md")
    cautions = warnings(study, written.outcomes)
    (out_dir / "findings.md").write_text(as_markdown(answers, cautions), encoding="utf-8")
    names.append("report.html")
    (out_dir / "report.html").write_text(
        render(study, answers, f"wattbench report: {out_dir.name}", written.outcomes, written.floors, human,
               finetune.section(sources) if tuned else ""),
        encoding="utf-8",
    )

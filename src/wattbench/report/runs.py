"""Saved runs as streams of records: a run folder (results.jsonl, judgements.jsonl) or
pytest-benchmark's JSON file (``--benchmark-json``, one benchmark per case, runs in ``per_run``).

Every record comes out with ``system_prompt`` and ``fingerprint`` set, so runs recorded before
those keys existed still group and merge.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench import axes
from wattbench.errors import ReportInputError
from wattbench.records.machine import fingerprint
from wattbench.records.results import RESULTS_FILE as RESULTS
from wattbench.records.results import ResultsFile, exact_json
from wattbench.records.rundir import JUDGEMENTS_FILE as JUDGEMENTS

REASON_CHARS = 1000  # a judge that rambles still fits a spreadsheet cell


def judgements(run_dir: Path) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """(case id, run) -> the judge's lines for that answer (judgements.jsonl; empty without one)."""
    found: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for line in ResultsFile(run_dir, JUDGEMENTS).records():
        found[str(line.get("case_id")), int(line.get("run", 0))].append(line)
    return dict(found)


def _grades(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The numeric judge_* grades of one answer, averaged over modes that gave the same key."""
    values: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        for key, value in line.items():
            if (
                key.startswith("judge_")
                and isinstance(value, float)
                and key not in ("judge_latency_s", "judge_energy_j")
            ):
                values[key].append(value)
    grades: dict[str, Any] = {key: sum(v) / len(v) for key, v in values.items()}
    reasons = [str(line.get("judge_reason") or line.get("judge_text") or "") for line in lines]
    if any(reasons):
        grades["judge_reason"] = " | ".join(r for r in reasons if r)[:REASON_CHARS]
    return grades


def _graded(record: dict[str, Any], graded: dict[tuple[str, int], list[dict[str, Any]]]) -> dict[str, Any]:
    """The record with its answer's judge grades, when the judge graded it."""
    lines = graded.get((str(record.get("case_id")), int(record.get("run", 0))))
    return {**record, **_grades(lines)} if lines else record


def _benchmark_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        data = exact_json(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportInputError(f"{path}: no 'benchmarks' list; give a --benchmark-json file or a run folder")
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        if "case_id" not in info:
            continue  # a benchmark that is not a wattbench case (test_prompt_growth has no record)
        grades = {k: v for k, v in info.items() if k.startswith("judge_")}
        for run in info.get("per_run") or [info]:
            record = {k: v for k, v in run.items() if k != "per_run"}
            record.setdefault("run", 0)
            yield {**record, **grades}


def check_source(path: Path) -> None:
    """Raise ReportInputError unless ``path`` is a run folder or an existing file (read later)."""
    hint = "give a run folder (reports/run-...) or a --benchmark-json file"
    if path.is_dir():
        if not (path / RESULTS).is_file():
            raise ReportInputError(f"{path}: holds no {RESULTS}; {hint}")
    elif not path.exists():
        kind = "file" if path.suffix.lower() == ".json" else "folder"
        raise ReportInputError(f"no such {kind}: {path} ({hint})")
    elif not path.is_file():
        raise ReportInputError(f"{path}: not a folder or a file; {hint}")


@dataclass
class Outcomes:
    """What the successful records leave out: the cases and runs that failed (error records).

    A run that failed and then succeeded on a rerun (resume) counts as done, not failed.
    """

    cases: set[str] = field(default_factory=set)  # every case id seen, failed or not
    errors: dict[tuple[str, int], str] = field(default_factory=dict)  # (case id, run) -> error

    @property
    def failed_cases(self) -> dict[str, str]:
        """case id -> the first error of its failed runs, in case id order."""
        failed: dict[str, str] = {}
        for (case_id, _run), error in sorted(self.errors.items()):
            failed.setdefault(case_id, error)
        return failed


def read_run(
    path: Path, outcomes: Outcomes | None = None, sizes: Mapping[Path, int] | None = None
) -> Iterator[dict[str, Any]]:
    """The successful run records of one saved run, streamed where it is a run folder.

    The path is checked at once (ReportInputError names it when it is missing); the records
    are read as the iterator is consumed. ``outcomes``, when given, collects the failed runs.
    ``sizes`` (results_sizes()) reads a run folder's results only as far as they were then.
    """
    check_source(path)
    if path.is_dir():
        graded = judgements(path)
        upto = sizes.get(path) if sizes is not None else None
        records: Iterable[dict[str, Any]] = (
            _graded(r, graded) if graded else r for r in ResultsFile(path).records(fast=True, upto=upto)
        )
    else:
        records = _benchmark_records(path)
    return _successful(records, outcomes)


def _successful(records: Iterable[dict[str, Any]], outcomes: Outcomes | None) -> Iterator[dict[str, Any]]:
    # A case resumed after a kill mid-case is measured again from its first run, so a run it had
    # finished is in the folder twice: the first record of each run (and request) of one model
    # file on one machine, counted within one energy boundary, is the one.
    seen: set[tuple[str, ...]] = set()
    for record in records:
        if "case_id" not in record:
            continue
        if outcomes is not None:
            case = (str(record["case_id"]), int(record.get("run", 0)))
            outcomes.cases.add(case[0])
            if "error" in record:
                outcomes.errors[case] = str(record["error"])
            else:
                outcomes.errors.pop(case, None)
        if "error" in record or record.get("superseded_by_rerun"):
            continue  # a failed run; a contended one measured again (--wb-contended rerun)
        axes.backfill(record)
        if "fingerprint" not in record:
            record["fingerprint"] = fingerprint(record)
        key = tuple(str(record.get(k)) for k in ("fingerprint", "case_id", "run", "serving_request",
                                                   "energy_boundary"))
        if key in seen:
            continue
        seen.add(key)
        yield record


def read_runs(
    paths: Iterable[Path], outcomes: Outcomes | None = None, sizes: Mapping[Path, int] | None = None
) -> Iterator[dict[str, Any]]:
    """The records of several saved runs, one after the other (merged by fingerprint later)."""
    for path in paths:
        yield from read_run(path, outcomes, sizes)


def results_sizes(paths: Iterable[Path]) -> dict[Path, int]:
    """Each run folder's results.jsonl size now: a report made of two passes over runs still
    being appended to (report/helper.py) reads the same records in both."""
    return {path: ResultsFile(path).size() for path in paths if path.is_dir()}

"""``wattbench merge SHARD_DIR... --out DIR``: the run folders of a sharded study, as one run.

Each shard folder holds its records (results.jsonl, judgements.jsonl) and its manifest
(wattbench.scale.manifest), and every manifest carries the whole run's plan and the cases the shard
owned (a model's cases may be spread over several shards). The merge:

1. checks the folders belong to one run (same plan, same runs per case), else refuses;
2. checks coverage: every planned (case, run) has a record in exactly one folder. It names
   the missing cases (by the shard that owed them, and whether that shard's folder was given)
   and the duplicated ones; either makes the merge incomplete, and an incomplete merge writes
   nothing and exits 1 (``--partial`` writes what there is, lists the missing in the merged
   manifest and still exits 1; duplicates always refuse: which copy is right cannot be told);
3. keeps every record and judgement as it is, adding only what it lacks: ``machine_host`` and
   ``shard`` from its manifest, and a record's ``fingerprint`` (wattbench.records.machine). A run one
   folder holds twice (a shard stopped mid-case re-measures the case when it resumes) keeps its
   latest record, the one the resume read, and the merge says how many it left out;
4. sums energy per host (joules add; power never averages across hosts); each shard's idle
   baselines stay its own, per host, in the merged manifest;
5. writes one run folder, read by ``wattbench report`` and ``wattbench compare``:
   results.jsonl, judgements.jsonl when any shard has one, timeseries/<shard>/ copied, the
   judge phases' summed judge.json, every shard's ratings (ratings.sqlite), each shard's own
   manifest, baseline.json and judge.json under shards/<shard>/ (wattbench.scale.mergefiles), and
   manifest.json (the plan, each shard's manifest and the per-host totals).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench import axes
from wattbench.errors import ReportInputError
from wattbench.rating.store import RATINGS_FILE, RatingStore, read_ratings
from wattbench.records.machine import fingerprint
from wattbench.records.record import now_utc
from wattbench.records.results import ResultsFile
from wattbench.records.rundir import TIMESERIES_DIR, RunDir
from wattbench.scale.manifest import MANIFEST_FILE, Manifest, read_manifest, write_manifest
from wattbench.scale.mergefiles import Side, copy_sides, idle_baselines, merge_judge, read_side, write_judge
from wattbench.scale.shard import parts

EXIT_OK, EXIT_INCOMPLETE = 0, 1  # bad input (an unreadable folder or manifest) exits 2, as report does
NAMED = 20  # cases named per problem line; the rest are counted
HOST_SUMS = ("energy_j", "energy_net_j", "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "board_energy_j")


@dataclass
class Shard:
    """One shard folder and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def label(self) -> str:
        """'2/4 (path)', or the path alone for an unsharded run."""
        spec = self.manifest.shard
        return str(self.path) if spec is None else f"{spec} ({self.path})"

    @property
    def name(self) -> str:
        """'2/4', or the path for an unsharded run: how the merged files name the shard."""
        spec = self.manifest.shard
        return str(self.path) if spec is None else str(spec)

    @property
    def part(self) -> str:
        """A folder name for this shard's copied files: shard-2-of-4, else the folder's name."""
        spec = self.manifest.shard
        return self.path.name if spec is None else f"shard-{spec.index}-of-{spec.count}"


@dataclass
class HostTotals:
    """One host's share of the study: record counts and summed joules (never averaged power)."""

    shards: list[str] = field(default_factory=list)
    records_count: int = 0
    failed_count: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)  # key -> records that carried a number
    fingerprints: set[str] = field(default_factory=set)
    energy_sources: set[str] = field(default_factory=set)

    def add(self, record: dict[str, Any]) -> None:
        if "error" in record:
            self.failed_count += 1
            return
        self.records_count += 1
        self.fingerprints.add(str(record["fingerprint"]))
        if record.get("energy_source"):
            self.energy_sources.add(str(record["energy_source"]))
        for key in HOST_SUMS:
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.sums[key] = self.sums.get(key, 0.0) + float(value)
                self.counted[key] = self.counted.get(key, 0) + 1

    def as_json(self) -> dict[str, Any]:
        """Sums only where every successful record carried the figure; else null and why."""
        out: dict[str, Any] = {
            "shards": self.shards,
            "records_count": self.records_count,
            "failed_records_count": self.failed_count,
            "fingerprints": sorted(self.fingerprints),
            "energy_sources": sorted(self.energy_sources),
        }
        for key in HOST_SUMS:
            counted = self.counted.get(key, 0)
            if counted and counted == self.records_count:
                out[key] = self.sums[key]
            elif counted:
                out[key] = None
                out[f"{key}_null_reason"] = (
                    f"{self.records_count - counted} of {self.records_count} records carry no {key}; "
                    "a partial sum would under-count"
                )
        return out


@dataclass
class Merged:
    """What a merge found and wrote."""

    shards: list[Shard]
    planned_count: int = 0  # planned (case, run) pairs
    records_count: int = 0
    judgements_count: int = 0
    remeasured: int = 0  # earlier records of runs a resumed shard measured again: left out
    missing: dict[str, list[int]] = field(default_factory=dict)  # case id -> missing runs
    duplicates: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # -> shard labels
    unplanned: list[str] = field(default_factory=list)  # case ids in no plan (a user's own tests)
    notes: list[str] = field(default_factory=list)  # problems that are not cases: a shard given twice
    hosts: dict[str, HostTotals] = field(default_factory=dict)
    holders: dict[tuple[str, int], str] = field(default_factory=dict)  # (case, run) -> shard label
    sides: list[Side] = field(default_factory=list)  # each folder's judge.json and where it goes
    baselines: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # host -> shard -> idle
    ratings: list[Path] = field(default_factory=list)  # the shards' ratings.sqlite files, checked
    judged_shards: int = 0  # folders whose judge.json went into the merged one
    ratings_count: int = 0  # human ratings copied (ratings.sqlite)
    raters_count: int = 0
    out: Path | None = None  # None when nothing was written
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Every planned run has a record, none in two folders."""
        return not self.missing and not self.duplicates

    def lines(self) -> list[str]:
        """The merge's account, for the terminal: problems first, then what was written."""
        lines = [*self.notes]
        if self.duplicates:
            cases = sorted({case for case, _ in self.duplicates})
            lines.append(f"DUPLICATE: {len(cases)} cases have records in more than one folder:")
            for (case, run), where in sorted(self.duplicates.items())[:NAMED]:
                lines.append(f"  {case} run {run}: {', '.join(where)}")
            if len(self.duplicates) > NAMED:
                lines.append(f"  ... and {len(self.duplicates) - NAMED} more runs")
        if self.missing:
            runs = sum(len(r) for r in self.missing.values())
            lines.append(f"MISSING: {len(self.missing)} cases ({runs} runs) have no record:")
            for case, missed in sorted(self.missing.items())[:NAMED]:
                lines.append(f"  {case} (runs {', '.join(map(str, missed))})")
            if len(self.missing) > NAMED:
                lines.append(f"  ... and {len(self.missing) - NAMED} more cases")
        if self.remeasured:
            lines.append(f"note: {self.remeasured} records of runs that a resumed shard measured again "
                         "are left out: the latest record of each run is kept, as a resume reads them")
        if self.unplanned:
            lines.append(f"note: {len(self.unplanned)} cases are in no shard's plan (a user's own tests), "
                         f"kept: {', '.join(self.unplanned[:NAMED])}")
        for host, totals in sorted(self.hosts.items()):
            joules = totals.as_json().get("energy_j")
            energy = "no energy figure" if joules is None else f"{joules:.1f} J summed"
            lines.append(f"host {host}: {totals.records_count} records ({totals.failed_count} failed), "
                         f"{energy}, shards {', '.join(totals.shards)}")
        if self.out is not None:
            if self.judged_shards:
                lines.append(f"judge.json: the judge phases of {self.judged_shards} folders, summed")
            if self.ratings_count:
                lines.append(f"ratings.sqlite: {self.ratings_count} ratings by {self.raters_count} raters")
            lines.append(f"{self.records_count} records, {self.judgements_count} judgements from "
                         f"{len(self.shards)} folders in {self.seconds:.2f} s -> {self.out}/")
        else:
            lines.append("nothing written: the merge is incomplete (--partial writes it anyway, "
                         "unless cases are duplicated)")
        return lines


def _shards(paths: Sequence[Path]) -> list[Shard]:
    """Each folder's manifest, checked to come from one run; ReportInputError names the fault."""
    if not paths:
        raise ReportInputError("give at least one shard run folder")
    seen: dict[Path, Path] = {}
    for path in paths:
        if not path.is_dir():
            raise ReportInputError(f"no such run folder: {path} (give the folders pytest --wb-shard wrote)")
        real = path.resolve()
        if real in seen:
            raise ReportInputError(f"{path}: given twice (also as {seen[real]})")
        seen[real] = path
    shards = [Shard(path, read_manifest(path)) for path in paths]
    first = shards[0]
    for shard in shards[1:]:
        if shard.manifest.plan != first.manifest.plan:
            raise ReportInputError(
                f"{shard.path} and {first.path} are not shards of one run: their plans (models and "
                "cases) differ; shard runs must be given the same options"
            )
        if shard.manifest.runs_count != first.manifest.runs_count:
            raise ReportInputError(
                f"{shard.path} ran {shard.manifest.runs_count} runs per case, {first.path} "
                f"{first.manifest.runs_count}; shard runs must be given the same --wb-runs"
            )
    # Sharded folders in shard order, so the merged file reads as one run would have.
    return sorted(shards, key=lambda s: (s.manifest.shard is None, s.manifest.shard.index if s.manifest.shard
                                         else 0, str(s.path)))


def _shard_notes(shards: Sequence[Shard]) -> tuple[list[str], dict[str, str]]:
    """Lines about the shard set (absent or repeated shards), and case id -> who owed it."""
    notes: list[str] = []
    owner: dict[str, str] = {}
    counts = {s.manifest.shard.count for s in shards if s.manifest.shard is not None}
    if len(counts) > 1:
        notes.append(f"note: the folders were split different ways (N = {sorted(counts)})")
    by_index: dict[tuple[int, int], list[Shard]] = defaultdict(list)
    for shard in shards:
        spec = shard.manifest.shard
        if spec is not None:
            by_index[spec.index, spec.count].append(shard)
        for case in shard.manifest.cases:
            owner.setdefault(case, shard.label)
    for (index, count), given in sorted(by_index.items()):
        if len(given) > 1:
            notes.append(f"DUPLICATE: shard {index}/{count} is given {len(given)} times: "
                         + ", ".join(str(s.path) for s in given))
    for count in sorted(counts):
        absent = [k for k in range(1, count + 1) if (k, count) not in by_index]
        if absent:
            notes.append(f"MISSING: shard(s) {', '.join(f'{k}/{count}' for k in absent)}: no folder given")
    plan = shards[0].manifest.plan
    for count in sorted(counts):  # who owed the cases of a shard that never arrived: the same split
        for index, part in enumerate(parts(plan, count), start=1):
            for case in part.cases:
                owner.setdefault(case, f"{index}/{count} (no folder given)")
    for _, cases in plan:
        for case in cases:
            owner.setdefault(case, "none (no folder given)")
    return notes, owner


def merge(shard_dirs: Sequence[Path], out_dir: Path, partial: bool = False) -> Merged:
    """Merge shard run folders into ``out_dir``; see the module docstring.

    Writes only when complete, or with ``partial`` when nothing is duplicated. Raises
    ReportInputError for a folder that is not a shard's, shards of different runs, or an
    ``out_dir`` that already holds records or is one of the shards.
    """
    started = time.perf_counter()
    shards = _shards(shard_dirs)
    out_real = out_dir.resolve()
    if any(s.path.resolve() == out_real for s in shards):
        raise ReportInputError(f"--out {out_dir} is one of the shard folders; give a new folder")
    rundir = RunDir(out_dir)
    if rundir.results_path.exists() or (out_dir / MANIFEST_FILE).exists():
        raise ReportInputError(f"--out {out_dir} already holds a run; give a new or empty folder")
    notes, owner = _shard_notes(shards)
    merged = Merged(shards, notes=notes)
    # Read before anything is written, so a broken judge.json, baseline.json or ratings.sqlite
    # stops the merge with nothing half-written.
    merged.sides = [read_side(s.path, s.name, s.part, s.manifest.host) for s in shards]
    merged.baselines = idle_baselines(merged.sides)
    merged.ratings = _ratings_files(shards)
    plan = shards[0].manifest.plan
    runs_count = shards[0].manifest.runs_count
    model_of = {case: model for model, cases in plan for case in cases}
    merged.planned_count = len(model_of) * runs_count

    # One pass, streamed: each record is staged beside --out as it is read, so memory holds the
    # (case, run) keys and not the records; the staged file becomes results.jsonl only if the
    # merge may be written.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.merging-", dir=out_dir.parent))
    try:
        staged = ResultsFile(staging)
        try:
            _stage(shards, staged, merged, model_of)
        finally:
            staged.close()
        for case in model_of:
            missed = [run for run in range(runs_count) if (case, run) not in merged.holders]
            if missed:
                merged.missing[case] = missed
        if merged.missing:
            by_owner: dict[str, int] = defaultdict(int)
            for case in merged.missing:
                by_owner[owner[case]] += 1
            merged.notes += [f"MISSING: {n} cases owed by shard {who}" for who, n in sorted(by_owner.items())]
        if not (merged.duplicates or (merged.missing and not partial)):
            _write(rundir, merged, staged.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    merged.seconds = time.perf_counter() - started
    return merged


def _key(record: dict[str, Any]) -> tuple[str, int]:
    run = record.get("run", 0)
    return str(record["case_id"]), run if isinstance(run, int) else 0


def _successful(record: dict[str, Any]) -> bool:
    """A record a report reads: not a failed run, not one measured again (--wb-contended rerun)."""
    return "error" not in record and not record.get("superseded_by_rerun")


def _case_records(results: ResultsFile, upto: int, fast: bool = False) -> Iterator[dict[str, Any]]:
    """The records of a results file that belong to a case, as far as ``upto`` bytes; ``fast``
    (orjson) where only keys are read: a record written back needs json's exact integers."""
    return (r for r in results.records(fast=fast, upto=upto) if isinstance(r.get("case_id"), str))


def _measured_again(results: ResultsFile, upto: int) -> dict[tuple[str, int], int]:
    """(case, run) -> the position (in _case_records) of its latest successful record, for the
    runs one folder holds more than one successful record of. A shard stopped in the middle of
    a case re-measures the whole case when it resumes (a case is resumed only when all its runs
    are done), so the runs it had finished appear twice; the latest is the one a resume reads."""
    latest: dict[tuple[str, int], int] = {}
    repeated: set[tuple[str, int]] = set()
    for position, record in enumerate(_case_records(results, upto, fast=True)):
        if _successful(record):
            key = _key(record)
            if key in latest:
                repeated.add(key)
            latest[key] = position
    return {key: latest[key] for key in repeated}


def _stage(shards: Sequence[Shard], staged: ResultsFile, merged: Merged, model_of: dict[str, str]) -> None:
    """Every shard's records into ``staged``, each with its host, shard and fingerprint; who
    holds which (case, run), the duplicates, the unplanned cases and the per-host sums."""
    unplanned: dict[str, None] = {}
    for shard in shards:
        spec = shard.manifest.shard
        host = shard.manifest.host
        name = shard.name
        here: set[tuple[str, int]] = set()
        results = RunDir(shard.path).results()
        upto = results.size()  # both passes read the same lines, should the shard still append
        again = _measured_again(results, upto)
        for position, record in enumerate(_case_records(results, upto)):
            key = _key(record)
            here.add(key)
            if key in again and again[key] != position and _successful(record):
                merged.remeasured += 1  # the shard resumed and measured this run again: keep the latest
                continue
            record.setdefault("machine_host", host)
            if spec is not None:
                record.setdefault("shard", str(spec))
            axes.backfill(record)
            if "fingerprint" not in record:  # computed only for records older than the key
                record["fingerprint"] = fingerprint(record)
            timeseries = record.get("timeseries_file")
            if isinstance(timeseries, str) and timeseries:
                record["timeseries_file"] = f"{TIMESERIES_DIR}/{shard.part}/" + timeseries.removeprefix(
                    f"{TIMESERIES_DIR}/")
            # By the record's own host: a merged folder, merged again, holds several.
            totals = merged.hosts.setdefault(str(record["machine_host"]), HostTotals())
            if name not in totals.shards:
                totals.shards.append(name)
            totals.add(record)
            staged.append(record)
            merged.records_count += 1
        for key in here:
            if key in merged.holders:
                merged.duplicates.setdefault(key, [merged.holders[key]]).append(shard.label)
            else:
                merged.holders[key] = shard.label
            if key[0] not in model_of:
                unplanned.setdefault(key[0])
    merged.unplanned = sorted(unplanned)


def _write(rundir: RunDir, merged: Merged, staged: Path) -> None:
    """The merged run folder: records (the staged file, moved), judgements, time series, manifest."""
    rundir.claim()
    try:
        if not staged.exists():  # no shard had a record yet (--partial)
            staged.touch()
        os.replace(staged, rundir.results_path)
        judgements = rundir.judgements()
        try:
            for shard in merged.shards:
                for line in RunDir(shard.path).judgements().records():
                    line.setdefault("machine_host", shard.manifest.host)
                    if shard.manifest.shard is not None:
                        line.setdefault("shard", str(shard.manifest.shard))
                    judgements.append(line)
                    merged.judgements_count += 1
        finally:
            judgements.close()
        for shard in merged.shards:
            series = shard.path / TIMESERIES_DIR
            if series.is_dir():
                shutil.copytree(series, rundir.path / TIMESERIES_DIR / shard.part)
        copy_sides(merged.sides, rundir.path)
        judge = merge_judge(merged.sides)
        if judge is not None:
            write_judge(judge, rundir.path)
            merged.judged_shards = len(judge["shards"])
        _merge_ratings(merged, rundir.path)
        write_manifest(rundir.path, _merged_manifest(merged), extra=_merged_extra(merged))
    finally:
        rundir.release()
    merged.out = rundir.path


def _ratings_files(shards: Sequence[Shard]) -> list[Path]:
    """Each shard's ratings.sqlite (wattbench rate), read once to prove it is one; ReportInputError
    names a file that is not."""
    import sqlite3

    found = []
    for shard in shards:
        path = shard.path / RATINGS_FILE
        if path.is_file():
            try:
                read_ratings(shard.path)
            except sqlite3.Error as exc:
                raise ReportInputError(f"{path}: not a ratings file wattbench rate wrote ({exc}); move "
                                       "it out of the folder to merge without it") from None
            found.append(path)
    return found


def _merge_ratings(merged: Merged, out: Path) -> None:
    """Every shard's human ratings into ``out/ratings.sqlite`` (none written when no shard has any)."""
    if not merged.ratings:
        return
    store = RatingStore.of_run(out)
    try:
        for source in merged.ratings:
            added, copied = store.absorb(source)
            merged.raters_count += added
            merged.ratings_count += copied
    finally:
        store.close()


def _merged_manifest(merged: Merged) -> Manifest:
    first = merged.shards[0].manifest
    hosts = sorted({s.manifest.host for s in merged.shards})
    return Manifest(
        shard=None, plan=first.plan, models=tuple(m for m, _ in first.plan), runs_count=first.runs_count,
        host="+".join(hosts), machine={}, backend=first.backend, wattbench_version=first.wattbench_version,
        started=min(s.manifest.started for s in merged.shards), finished=now_utc(), energy=None,
    )


def _merged_extra(merged: Merged) -> dict[str, Any]:
    hosts = {host: totals.as_json() for host, totals in sorted(merged.hosts.items())}
    for host, baselines in sorted(merged.baselines.items()):
        hosts.setdefault(host, HostTotals().as_json())["idle_baselines"] = baselines
    energies = [h.get("energy_j") for h in hosts.values()]
    total: dict[str, Any] = {"energy_j": None}
    if energies and all(isinstance(e, float) for e in energies):
        total["energy_j"] = sum(e for e in energies if isinstance(e, float))
    else:
        total["energy_j_null_reason"] = "a host has no complete energy_j sum (see hosts)"
    return {
        "merged_from": [{"path": str(s.path), **s.manifest.as_json()} for s in merged.shards],
        "hosts": hosts,
        "total": total,
        "missing": [{"case_id": case, "runs": runs} for case, runs in sorted(merged.missing.items())],
        "unplanned": merged.unplanned,
    }


def add_parser(commands: Any) -> None:
    """Register the ``merge`` subcommand on an argparse subparsers object."""
    cmd = commands.add_parser("merge", help="merge the run folders of a sharded run (--wb-shard) into one")
    cmd.add_argument("shards", type=Path, nargs="+", help="the shards' run folders (each with manifest.json)")
    cmd.add_argument("--out", type=Path, required=True, help="the merged run folder (new or empty)")
    cmd.add_argument("--partial", action="store_true",
                     help="write the merge even when cases are missing (they are listed in its manifest)")


def run(args: argparse.Namespace) -> int:
    """Run ``wattbench merge``: exit 0 merged, 1 incomplete (missing or duplicate cases named);
    ReportInputError (bad input, exit 2) propagates to the caller."""
    merged = merge(args.shards, args.out, partial=args.partial)
    for line in merged.lines():
        problem = line.startswith(("MISSING", "DUPLICATE", "  ", "nothing"))
        print(line, file=sys.stderr if problem else sys.stdout)
    return EXIT_OK if merged.complete else EXIT_INCOMPLETE

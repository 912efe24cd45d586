"""--wb-contended rerun (issue 32): a run measured while other processes burned the CPUs is
measured again once the machine is quiet; the contended record stays in results.jsonl, marked
superseded, and the report and a resume leave it out."""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from test_plugin import records, run_suite

from wattbench.records.results import ResultsFile
from wattbench.report.runs import read_run
from wattbench.run.rerun import ContendedPolicy, parse_contended, wait_for_quiet

CPUS = psutil.cpu_count() or 1
# Busy until the run's first window has closed (its samples are written under timeseries/ with
# --wb-timeseries on, before the record), or a minute passes; then gone.
BURN = (
    "import os, time\nend = time.monotonic() + 60\nnext_look = 0.0\n"
    "while time.monotonic() < end:\n"
    "    if time.monotonic() > next_look:\n"
    "        next_look = time.monotonic() + 0.1\n"
    "        if os.path.exists({path}) and os.path.getsize({path}) > 0: break\n"
)


@contextmanager
def burning_until_first_record(folder: Path) -> Iterator[None]:
    """Half the logical CPUs kept busy, by processes outside this tree, until ``folder`` holds a
    file: the first window is contended, and the machine is quiet after it."""
    marker = f"wattbench-burner-{time.monotonic_ns()}"
    script = f"# {marker}\n" + BURN.format(path=json.dumps(str(folder)))  # no quote that ends sh's
    count = max(1, CPUS // 2)
    subprocess.run(
        ["sh", "-c", " ".join(f"{sys.executable} -c '{script}' >/dev/null 2>&1 &" for _ in range(count))],
        check=True, timeout=10,
    )
    try:
        # Started and burning before the run's first window opens: on a loaded machine a Python
        # process can take seconds to start.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(_burnt(marker)) < 0.3 * count:
            time.sleep(0.1)
        yield
    finally:
        for process in psutil.process_iter(["cmdline"]):
            if any(marker in part for part in process.info["cmdline"] or ()):
                process.kill()


def _burnt(marker: str) -> list[float]:
    """CPU seconds each burner carrying ``marker`` has used so far."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or ()):
            try:
                found.append(sum(process.cpu_times()[:2]))
            except psutil.NoSuchProcess:
                continue
    return found


def test_a_contended_run_is_measured_again_once_the_machine_is_quiet(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    with burning_until_first_record(run_dir / "timeseries"):
        result, data = run_suite(
            suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
            "--wb-levels", "L0", "--wb-run-dir", str(run_dir), "--wb-idle-time", "0.5",
            "--wb-energy-min-window", "0.5", "--wb-contended", "rerun", "--wb-timeseries", "on",
        )
    result.assert_outcomes(passed=2)
    first, *again = records(run_dir)
    assert first["contended"] is True and first["superseded_by_rerun"] is True
    assert again and again[0]["run"] == first["run"] == 0 and again[0]["contended_reruns_count"] == 1
    assert 3.0 <= again[0]["quiet_wait_s"] < 60
    last = again[-1]
    assert "superseded_by_rerun" not in last
    result.stdout.fnmatch_lines(["*contended: 1 run(s) measured again once the machine was quiet*"])
    # The benchmark entry, the report and a resume hold the last measurement only.
    (entry,) = [b for b in data["benchmarks"] if "case_id" in b["extra_info"]]
    assert entry["extra_info"]["energy_j"] == last["energy_j"]
    assert [r["energy_j"] for r in read_run(run_dir)] == [last["energy_j"]]
    assert ResultsFile(run_dir).finished_runs()[last["case_id"]][0]["energy_j"] == last["energy_j"]


def test_keep_is_the_default_and_rerun_takes_a_bound() -> None:
    assert parse_contended("keep").reruns == 0 and parse_contended("rerun").reruns == 2
    assert parse_contended("rerun:5").reruns == 5 and parse_contended("keep").text == "keep"
    for bad in ("rerun:0", "rerun:x", "again"):
        with pytest.raises(argparse.ArgumentTypeError, match="give keep, rerun, or rerun:N"):
            parse_contended(bad)


def test_the_wait_ends_after_three_quiet_seconds_or_gives_up() -> None:
    def machine(loads: list[float]) -> tuple[object, object]:
        clock = itertools.count(0.0, 0.5)
        readings = iter(loads)
        now = [0.0]

        def cpu_percent(_interval: float) -> float:
            now[0] = next(clock) + 0.5
            return next(readings)

        return cpu_percent, lambda: now[0]

    busy_then_quiet = [50.0] * 4 + [2.0] * 20  # busy 2 s, then quiet
    cpu, clock = machine(busy_then_quiet)
    waited = wait_for_quiet(60.0, 10.0, 3.0, cpu, clock)  # type: ignore[arg-type]
    assert waited == pytest.approx(2.0 + 3.0)
    # Quiet moments shorter than 3 s between bursts are not quiet; the wait gives up at 10 s.
    cpu, clock = machine([2.0, 2.0, 50.0] * 20)
    assert wait_for_quiet(10.0, 10.0, 3.0, cpu, clock) is None  # type: ignore[arg-type]


def test_the_summary_counts_what_the_reruns_did() -> None:
    policy = ContendedPolicy(2)
    assert policy.summary_lines() == []
    policy.outcomes.update(rerun=3, clean=2, still=1, no_quiet=1)
    (line,) = policy.summary_lines()
    assert line.startswith("contended: 3 run(s) measured again") and "2 clean now, 1 still contended" in line
    assert "1 kept contended" in line


class _Results:
    def __init__(self) -> None:
        self.lines: list[dict[str, object]] = []

    def append(self, record: dict[str, object]) -> None:
        self.lines.append(dict(record))


class _BusyWork:
    """A workload whose every run is contended (it owns its window: no energy monitor needed)."""

    owns_window = True
    series = "busy"

    def __init__(self) -> None:
        self.units = 0

    def prepare(self, run: int) -> None: ...

    def unit(self, run: int) -> None:
        self.units += 1

    def again(self, run: int) -> None: ...

    def record(self, run: int, measured: object, machine: object) -> list[dict[str, object]]:
        return [{"case_id": "m-qa-short-L0", "run": run, "contended": True}]

    def discard(self) -> None: ...


def test_after_one_wait_with_no_quiet_moment_the_run_waits_no_more() -> None:
    """A machine busy for a whole wait is busy: the issue's 44 contended records must not cost
    44 minutes of waiting."""
    from wattbench.run.runner import Rounds, Runner

    waits: list[float] = []

    def never_quiet(wait_s: float) -> float | None:
        waits.append(wait_s)
        return None

    runner = Runner(None, _Results(), dict, contended=ContendedPolicy(2), quiet=never_quiet)  # type: ignore[arg-type]
    work = _BusyWork()
    rounds = Rounds(runner, work, 3)  # type: ignore[arg-type]
    for run in range(3):
        rounds.setup()
        rounds.unit(run)
        rounds.finish(run)
    assert waits == [60.0] and work.units == 3  # one wait, then none; nothing measured again
    assert runner.contended.outcomes["no_quiet"] == 3 and len(rounds.records) == 3
    assert not any(r.get("superseded_by_rerun") for r in runner.results.lines)  # type: ignore[attr-defined]


def test_a_resume_with_rerun_measures_runs_kept_contended_again(tmp_path: Path) -> None:
    from wattbench.backends.protocol import ModelRef, Sampling
    from wattbench.cases import Case
    from wattbench.records.resume import Resume

    case = Case(ModelRef("m", "m"), "qa", "short", "L0", "Q?", Sampling(), None, {})
    results = ResultsFile(tmp_path)
    record = {"case_id": case.id, "run": 0, "backend": "llamacpp", **case.run_sampling(0).record(),
              "contended": True}
    results.append(record)
    assert Resume(ResultsFile(tmp_path), "llamacpp", 4096, 1).done(case)
    assert not Resume(ResultsFile(tmp_path), "llamacpp", 4096, 1, retry_contended=True).done(case)


def test_the_report_counts_a_run_measured_twice_once(tmp_path: Path) -> None:
    """A kill mid-case, then a resume, measures the case's finished runs again: one record per run."""
    lines = [{"case_id": "m-qa-short-L0", "model": "m", "task": "qa", "load": "short", "level": "L0",
              "run": run, "energy_j": energy} for run, energy in ((0, 10.0), (1, 11.0), (0, 12.0), (1, 13.0))]
    results = ResultsFile(tmp_path)
    for line in lines:
        results.append(line)
    assert [(r["run"], r["energy_j"]) for r in read_run(tmp_path)] == [(0, 10.0), (1, 11.0)]

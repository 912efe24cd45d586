"""The measured window around any unit of work: its --wb-runs rounds under pytest-benchmark.

Per run: the workload prepares (untimed), the energy window opens, the timed unit runs inside
pytest-benchmark's ``pedantic``, the workload repeats the unit, unrecorded, until the window
resolves (--wb-energy-min-window), then the window closes and the workload builds the run's
record from it; the record is checked against the key table and appended before the next run
starts. What the work is, and how its energy divides, is the workload's (``wattbench.run.workload``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wattbench.errors import GenerationError
from wattbench.monitors.meter import Window
from wattbench.records.record import check_keys, summarise
from wattbench.records.results import ResultsFile
from wattbench.run.energy import EnergyMonitor, Measured
from wattbench.run.rerun import ContendedPolicy, wait_for_quiet
from wattbench.run.workload import Workload
from wattbench.scale.workers import WindowLog, sharing_figures
from wattbench.scorers.code import pass_at_k

MAX_WINDOW_UNITS = 1000  # a bound on repeats for --wb-energy-min-window, whatever the speed


class RunFailed(Exception):
    """A run of a case failed; its records so far are already saved."""

    def __init__(self, run: int, error: GenerationError) -> None:
        super().__init__(str(error))
        self.run = run
        self.error = error


class Runner:
    """What every case's runs share: the energy monitor, the results file and the machine."""

    def __init__(
        self, energy: EnergyMonitor, results: ResultsFile, machine: Callable[[], Mapping[str, Any]],
        sharing: WindowLog | None = None, contended: ContendedPolicy | None = None,
        quiet: Callable[[float], float | None] = wait_for_quiet,
    ) -> None:
        self.energy = energy
        self.results = results
        self.machine = machine
        self.sharing = sharing  # pytest-xdist: which windows other workers overlapped
        self.contended = contended or ContendedPolicy()  # --wb-contended
        self.quiet = quiet  # waits for a quiet machine: seconds waited, None when it never was
        self.recorded = 0

    def run(self, workload: Workload, runs: int, benchmark: Any) -> Rounds:
        """``runs`` measured runs of ``workload``; each record is appended as its run ends. Where
        pytest-benchmark is off, the rounds are timed here (``Rounds.durations``).

        Raises RunFailed, naming the run, when one fails.
        """
        self.energy.start()
        current = Rounds(self, workload, runs)
        try:
            if benchmark.enabled:
                benchmark.pedantic(
                    current.unit, setup=current.setup, teardown=current.finish, rounds=runs,
                    iterations=1, warmup_rounds=0,
                )
            else:  # pytest-benchmark is off (--benchmark-disable, xdist): run the rounds ourselves
                for _ in range(runs):
                    (run,), _kwargs = current.setup()
                    start = time.perf_counter()
                    current.unit(run)
                    current.durations.append(time.perf_counter() - start)
                    current.finish(run)
                # A disabled fixture's pedantic() only calls its target: this marks it used, so
                # pytest-benchmark does not warn that it never was.
                benchmark.pedantic(lambda: None)
        except GenerationError as exc:
            raise RunFailed(current.run, exc) from None
        except BaseException:
            # Ctrl-C mid-case: pytest-benchmark would save this case's unfinished stats and crash
            # on them (min() of no rounds). Its finished runs are in results.jsonl already.
            if benchmark.enabled:
                benchmark.has_error = True
            raise
        finally:
            current.discard_open_windows()
        return current

    def summary(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """One record for the case's runs, plus pass@k over them for code."""
        summary = summarise(records)
        passed = [r["code_tests_passed"] for r in records if r.get("code_tests_passed") is not None]
        if passed and len(passed) == len(records):  # pass@k over some runs only would mislead
            summary["code_pass_at_k"] = pass_at_k(len(passed), int(sum(passed)), len(passed))
        return summary


class Rounds:
    """The runs of one workload: pytest-benchmark's setup, timed call and teardown share this."""

    def __init__(self, runner: Runner, workload: Workload, runs: int) -> None:
        self.runner = runner
        self.workload = workload
        self.next_run = iter(range(runs))
        self.run = 0
        self.windows: list[Window] = []
        self.records: list[dict[str, Any]] = []
        self.durations: list[float] = []  # the timed calls, where pytest-benchmark does not time them
        self.reruns: dict[int, tuple[int, float]] = {}  # run -> (times measured again, last quiet wait s)

    def setup(self) -> tuple[tuple[int], dict[str, Any]]:
        """Before the timed call: the workload prepares, then the energy window opens."""
        self.run = run = next(self.next_run)
        self._open(run)
        return (run,), {}

    def _open(self, run: int) -> None:
        """The workload prepares ``run``, then its windows open (outside the timed region, just
        before it)."""
        self.workload.prepare(run)
        if self.runner.sharing is not None:
            self.runner.sharing.begin()
        if not self.workload.owns_window:
            self.windows.append(self.runner.energy.begin())

    def unit(self, run: int) -> None:
        """The timed call."""
        self.workload.unit(run)

    def finish(self, run: int) -> None:
        """After the timed call: lengthen and close the window; the record is built and appended."""
        runner, workload = self.runner, self.workload
        measured: Measured | None = None
        if not workload.owns_window:
            window, energy = self.windows[-1], runner.energy
            units = 1
            while energy.needs_more(window) and units < MAX_WINDOW_UNITS:
                workload.again(run)
                units += 1
            measured = energy.end(self.windows.pop(), f"{workload.series}.r{run}")
        shared: dict[str, Any] = {}
        if runner.sharing is not None:  # as the window closes, before scoring takes its time
            shared = sharing_figures(runner.sharing.end(), runner.sharing.devices)
        records = workload.record(run, measured, runner.machine())
        again, waited = self.reruns.get(run, (0, 0.0))
        for record in records:  # every key checked before any record of the run is appended
            record.update(shared)
            if again:
                record.update(contended_reruns_count=again, quiet_wait_s=waited)
            check_keys(record)
        contended = any(record.get("contended") for record in records)
        policy = runner.contended
        if again:
            policy.outcomes["still" if contended else "clean"] += 1
        quiet = policy.quiet_before_rerun(contended, again, runner.quiet)
        remeasure = quiet is not None
        if quiet is not None:
            self.reruns[run] = (again + 1, quiet)
            for record in records:
                record["superseded_by_rerun"] = True
        for record in records:
            runner.results.append(record)
        runner.recorded += len(records)
        if remeasure:
            policy.outcomes["rerun"] += 1
            self.measure_again(run)
        else:
            self.records.extend(records)

    def measure_again(self, run: int) -> None:
        """Measure ``run`` once more, untimed by pytest-benchmark (--wb-contended rerun)."""
        self._open(run)
        self.workload.unit(run)
        self.finish(run)

    def discard_open_windows(self) -> None:
        """Drop the windows of runs that failed."""
        for window in self.windows:
            self.runner.energy.discard(window)
        self.windows.clear()
        self.workload.discard()


def mark_errored(benchmark: Any) -> None:
    """Tell pytest-benchmark this case errored (it then leaves it out of its JSON), rather than
    let it warn that the fixture was never used."""
    if benchmark.enabled:

        def no_model() -> None:
            raise GenerationError("no model")

        with contextlib.suppress(GenerationError):
            benchmark.pedantic(no_model)

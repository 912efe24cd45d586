"""The run's front: what the plugin calls. The work lives in the rooms behind it:

    cases.build   the case set          runner    one case's runs       record  the flat record
    resume        what is already done  rundir    the run folder        pool    the resident model
    energy        windows and baseline  judging   the judge phase       scorers quality

One WattbenchSession lives in the plugin's state for the whole pytest session. It is built
lazily at collection, so a pytest run that collects no wattbench case never reads a task or a
model.
"""

from __future__ import annotations

import functools
import itertools
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from wattbench import axes
from wattbench.backends.engineprocess import ProcessBackend, crash_of
from wattbench.backends.protocol import Backend, LoadOptions, ModelRef
from wattbench.cases import Case, PromptGroup, user_chat
from wattbench.cases.build import build_cases
from wattbench.errors import (
    ConfigError,
    GpuControlError,
    ModelError,
    ResultsWriteError,
    UnsupportedKnobError,
    WattbenchError,
)
from wattbench.finetune.front import Finetuning
from wattbench.finetune.spec import FinetuneCase
from wattbench.judge.phase import JudgeOptions, JudgePhase
from wattbench.knobs.gpuaxes import left_behind, open_knobs
from wattbench.knobs.reasoning import split_thinking
from wattbench.monitors import MakeSource
from wattbench.monitors.gpu import GpuOptions
from wattbench.records.machine import describe_machine
from wattbench.records.record import CUT_IN_THINKING, failure, figures_line
from wattbench.records.resume import Resume
from wattbench.records.rundir import RunDir
from wattbench.run.energy import EnergyMonitor
from wattbench.run.generation import Conversations, GenerationWork
from wattbench.run.pool import HeldModel, ModelPool, Resident
from wattbench.run.runner import RunFailed, Runner, mark_errored
from wattbench.run.workload import Workload
from wattbench.scale.workers import TIMED_BY_RESUME, WindowLog, benchmark_entry
from wattbench.scorers import Scorers
from wattbench.scorers.codeblock import check_compiles
from wattbench.scorers.protocol import Scorer
from wattbench.serving.loadpoints import LoadPoints
from wattbench.serving.streams import ServingWork
from wattbench.settings import Settings


class WattbenchSession:
    """Cases, the resident model and the run folder of one pytest session."""

    def __init__(
        self, settings: Settings, backend: Backend, make_source: MakeSource | None = None,
        extra_scorers: Sequence[Scorer] = (),
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.case_set = build_cases(settings.case_options(), backend)
        self.knobs = open_knobs(settings)  # --wb-gpu-power-limit, --wb-gpu-clocks; None without
        if self.knobs is not None:  # their points in a seeded random order, each point's cases together
            self.case_set.cases[:] = self.knobs.order(self.case_set.cases)
        self.knob_notes: list[str] = []  # what the start found of earlier runs' GPU settings
        self.rundir = RunDir(settings.run_dir)
        self.results = self.rundir.results()
        self.resume = Resume(self.results, backend.name, settings.context_tokens, settings.runs,
                             retry_contended=settings.contended.reruns > 0)
        self.pool = ModelPool(backend, settings.load_options(), settings.warmup)
        self.energy = EnergyMonitor(settings.energy_options(), make_source)
        self.judging = JudgePhase(
            JudgeOptions(
                modes=settings.judge_modes, model=settings.judge_model,
                backend=settings.judge_backend or settings.backend, max_tokens=settings.judge_max_tokens,
                load=LoadOptions(settings.context_tokens, settings.threads, 0, settings.repack),
            ),
            self.energy, self.rundir,
        )
        self.scorers = Scorers.open(
            settings.scorer_options(), extra_scorers
        )
        self.scorers.count_unscored(self.case_set.cases)
        sharing = None
        if settings.worker is not None:
            sharing = WindowLog(settings.run_dir, settings.worker, settings.option(GpuOptions).gpus)
        self.runner = Runner(self.energy, self.results, lambda: self.machine, sharing, settings.contended)
        self.conversations = Conversations(self.case_set.by_id)
        points = [int(n) for n in settings.axis_values.get("concurrency", ()) if n.isdigit()]
        self.load_points = LoadPoints(backend, max(points, default=1), settings.context_tokens,
                                      settings.threads, settings.repack)
        self.untimed: list[tuple[Any, list[float]]] = []  # (benchmark fixture, durations) under xdist
        self.case_lines: dict[str, str] = {}  # case id -> its figures, for -v
        self.resumed_records: dict[str, list[dict[str, Any]]] = {}  # case id -> its saved runs
        self.resumed_entries: list[dict[str, Any]] = []  # --benchmark-json entries of those cases
        self.selected: list[Case] = []  # the cases this run selected (select())
        self.unsupported: dict[tuple[str, ...], str] = {}  # (model, axis=value...) -> what it said
        self.cut_in_thinking: Counter[str] = Counter()  # "model at config" -> answers cut so

    @functools.cached_property
    def machine(self) -> dict[str, Any]:
        """The machine's record keys, read once at the first record rather than at collection."""
        return describe_machine().record()

    @property
    def cases(self) -> list[Case]:
        return self.case_set.cases

    @property
    def groups(self) -> list[PromptGroup]:
        return self.case_set.groups

    @property
    def engine_crashes(self) -> list[str]:
        """What each engine crash of this run said (in-process engines in worker processes)."""
        backend = self.backend
        return [str(c) for c in backend.crashes] if isinstance(backend, ProcessBackend) else []

    @property
    def recorded(self) -> int:
        """Run records appended in this session."""
        return self.runner.recorded

    @property
    def models(self) -> list[ModelRef]:
        """The run's models, in the order they were named."""
        return self.case_set.models

    def hold(self, name: str) -> HeldModel:
        """Load and warm up the model called ``name`` for the wb_model fixture; a model that
        cannot load is held with its error."""
        ref = self.case_set.model_by_name[name]
        try:
            return HeldModel(ref, resident=self.load(ref))
        except ModelError as exc:
            return HeldModel(ref, error=exc)

    def evict(self, held: HeldModel) -> None:
        """Free the held model (keep-alive 0)."""
        if held.resident is not None:
            self.pool.release()

    def model_of(self, case_id: str | None, group_id: str | None) -> ModelRef | None:
        """The model of the case or level group with that id; None for neither."""
        case = self.case_set.by_id.get(str(case_id))
        if case is not None:
            return case.model
        group = self.case_set.group_by_id.get(str(group_id))
        return None if group is None else group.model

    # -- running ---------------------------------------------------------------------------
    def select(self, case_ids: Iterable[str]) -> None:
        """The cases this run selected (after -k, -m, sharding): their scorers get ready, and
        note what they cannot do here (code tests without a sandbox) for the banner and summary;
        a run that selects no code case never probes the sandbox."""
        self.selected = [self.case_set.by_id[case_id] for case_id in case_ids]
        self.scorers.check_ready(self.selected)

    def start(self) -> None:
        """Before the first case: claim the run folder (writable, not in use); or stop the run
        (ConfigError). The GPU knobs check that they can change the GPUs (and restore what an
        earlier run left changed)."""
        self.rundir.claim()
        if self.knobs is not None:
            self.knobs.start()
        else:
            self.knob_notes = left_behind()

    def already_done(self, case: Case) -> bool:
        """Whether the run folder holds every run of ``case`` under the same settings."""
        done = self.resume.done(case)
        if done:
            self.resumed_records[case.id] = self.resume.records(case)
        return done

    def resumed(self, name: str, nodeid: str, params: Mapping[str, Any], case_id: str) -> None:
        """Test ``nodeid`` was skipped because the run folder holds its case: its entry in
        --benchmark-json comes from the saved records, so a resumed run's JSON holds every case."""
        records = self.resumed_records.get(case_id)
        latencies = [r["latency_s"] for r in records or () if isinstance(r.get("latency_s"), (int, float))]
        if not records or not latencies:
            return
        test = SimpleNamespace(name=name, fullname=nodeid, params=dict(params), param=case_id, group=None)
        self.resumed_entries.append(
            benchmark_entry(test, self.runner.summary(records), latencies, TIMED_BY_RESUME)
        )

    def load(self, ref: ModelRef) -> Resident:
        """The loaded model ``ref``; raises a WattbenchError that says why when it cannot load."""
        if ref.location in self.case_set.unresolved:
            raise self.case_set.unresolved[ref.location]
        return self.pool.get(ref)

    def _fail(self, case: Case, run: int, error: WattbenchError) -> None:
        """Record the failed run, then fail the test with the reason (one line, no traceback).
        An axis point the model cannot take (UnsupportedKnobError) is recorded and skipped, and
        the model's later cases at that point are skipped at once, never asked again."""
        unsupported = isinstance(error, UnsupportedKnobError)
        record = failure(case, run, f"unsupported: {error}" if unsupported else str(error))
        crash = crash_of(error)
        if crash is not None:
            record["engine_crash"] = crash.how
        try:
            self.results.append(record)
        except ResultsWriteError as exc:
            pytest.exit(f"wattbench: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
        if unsupported:
            self.unsupported[self._point_of(case)] = str(error)
            pytest.skip(f"{case.id}: unsupported: {error}")
        pytest.fail(f"{case.id}: {error}", pytrace=False)

    @staticmethod
    def _point_of(case: Case) -> tuple[str, ...]:
        """The model and the axis values a backend acts on: what an unsupported answer holds for."""
        return (case.model.name, *sorted(f"{k}={v}" for k, v in case.variant.items() if k != "concurrency"))

    def measure(self, case: Case, benchmark: Any, held: HeldModel, runs: int | None = None) -> dict[str, Any]:
        """Run ``case`` --wb-runs times under pytest-benchmark; write each run as it ends."""
        if held.resident is None:
            mark_errored(benchmark)
            self._fail(case, 0, held.error or ModelError(f"{held.name} is not loaded"))
        assert held.resident is not None
        known = self.unsupported.get(self._point_of(case))
        if known is not None:  # the model said so at an earlier case: not asked again
            mark_errored(benchmark)
            self._fail(case, 0, UnsupportedKnobError(known))
        failed: RunFailed | None = None
        try:
            work = self.workload(case, held.resident)
            if self.knobs is not None:  # the GPUs at this case's point, and its throttle state recorded
                work = self.knobs.watch(work, self.knobs.enter(case, held.resident))
        except GpuControlError as exc:  # the GPUs cannot be changed (any more): no later case could be
            pytest.exit(f"wattbench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        except WattbenchError as exc:  # a load point whose server cannot take it: this case fails
            mark_errored(benchmark)
            self._fail(case, 0, exc)
        try:
            done = self.runner.run(work, runs or self.settings.runs, benchmark)
        except RunFailed as exc:
            failed = exc
        except ResultsWriteError as exc:  # the disk is full: no later case could be saved either
            pytest.exit(f"wattbench: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
        if failed is not None:
            self._fail(case, failed.run, failed.error)
        summary = self.runner.summary(done.records)
        self.case_lines[case.id] = figures_line(summary)
        for record in done.records:
            if record.get("answer_missing_reason") == CUT_IN_THINKING:
                self.cut_in_thinking[f"{record['model']} at {axes.configuration(record)}"] += 1
        benchmark.extra_info.update(summary)
        if done.durations and self.settings.worker is not None:
            self.untimed.append((benchmark, done.durations))
        self.judging.infos[case.id] = benchmark.extra_info  # the judge's grades join it later
        return summary

    def workload(self, case: Case, resident: Resident) -> Workload:
        """What ``case`` measures: one generation, or a load point of N streams on a server
        (a --wb-concurrency sweep). Raises a WattbenchError when the load point cannot run."""
        streams = case.variant.get("concurrency")
        if streams is None:
            return GenerationWork(case, resident, self.backend, self.scorers, self.conversations,
                                  self.judging.add)
        target = self.load_points.target(resident)
        points = [c for c in self.selected or [case] if c.model == case.model and "concurrency" in c.variant]
        try:
            self.load_points.check(points, target)
        except ConfigError as exc:  # the run cannot work: one message, what is measured is kept
            pytest.exit(f"wattbench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        return ServingWork(case, target.resident, target.engine, self.scorers, self.energy, int(streams),
                           self.settings.stream_requests, self.settings.slo, target.server)

    @functools.cached_property
    def finetuning(self) -> Finetuning:
        """The run's fine-tuning cases (wattbench.finetune), built at their first collection.
        Raises ConfigError for a bad --wb-finetune-model or data file."""
        return Finetuning(self.settings, self.backend, self.energy, self.rundir, self.scorers,
                          lambda: self.machine, self.models, lambda: self.cases)

    def finetune(self, case: FinetuneCase, benchmark: Any) -> dict[str, Any]:
        """Fine-tune ``case``, convert its adapter and judge it (bench/test_finetuning.py); its
        record, also in pytest-benchmark's extra_info. A run that fails fails the test with why."""
        error: WattbenchError | None = None
        try:
            record = self.finetuning.measure(case, benchmark)
        except ResultsWriteError as exc:
            pytest.exit(f"wattbench: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
        except WattbenchError as exc:  # its failure record is saved
            error = exc
        if error is not None:
            pytest.fail(f"{case.id}: {error}", pytrace=False)
        benchmark.extra_info.update(record)
        self.case_lines[case.id] = self.finetuning.lines[-1].removeprefix(f"{case.id}: ")
        return record

    @property
    def finetune_lines(self) -> list[str]:
        """A line per fine-tuning case measured in this session (none if none ran)."""
        return self.finetuning.lines if "finetuning" in self.__dict__ else []

    # -- invariants ------------------------------------------------------------------------
    def check_answer(self, case: Case, record: Mapping[str, Any]) -> None:
        """Invariants on the answer and the quality floors; the record is already saved."""
        broken = [v for f in self.settings.quality_floors if (v := f.violation(case.task, record))]
        if broken:
            pytest.fail(f"{case.id}: " + "; ".join(broken), pytrace=False)
        if case.is_code:
            for run in record.get("per_run", [record]):
                if run["code_compiles"]:
                    continue
                answer = split_thinking(run["output_text"])[1]
                reason = check_compiles(answer, case.extra.get("entry_point")).reason
                pytest.fail(  # one line: the answer itself is in results.jsonl and the report
                    f"{case.id}: the answer's code does not compile: {reason}", pytrace=False
                )

    def check_growth(self, group: PromptGroup, held: HeldModel) -> dict[str, int]:
        """Prompt tokens grow strictly from level to level, in the model's own tokenizer."""
        if held.resident is None:
            pytest.fail(f"{group.id}: {held.error}", pytrace=False)
        error: WattbenchError | None = None
        try:
            counts = {
                level: held.resident.model.count_prompt_tokens(user_chat(prompt, group.system))
                for level, prompt in group.prompts.items()
            }
        except WattbenchError as exc:  # a server that cannot count fails this check, not the run
            error = exc
        if error is not None:
            pytest.fail(f"{group.id}: cannot count prompt tokens: {error}", pytrace=False)
        for before, after in itertools.pairwise(counts):
            assert counts[before] < counts[after], (
                f"{group.id}: prompt tokens do not grow from {before} to {after}: {counts}"
            )
        return counts

    # -- the end -----------------------------------------------------------------------------
    def energy_done(self) -> None:
        """After the last case: idle power again, when --wb-idle-after asks for it."""
        self.energy.finish()

    def judge(self, make_backend: Callable[[str], Backend]) -> None:
        """The judge phase, once the last model is freed; a failure is reported, never raised."""
        self.pool.release()
        if not self.judging.enabled or not self.judging.answers:
            return
        try:
            self.judging.run(make_backend)
        except WattbenchError as exc:
            self.judging.summary = {"error": f"the judge phase could not run: {exc}"}

    def case_line(self, case_id: str) -> str | None:
        """A measured case's figures in one line (tok/s, TTFT, J, quality); None if not measured."""
        return self.case_lines.get(case_id)

    def benchmark_entries(self) -> list[dict[str, Any]]:
        """pytest-benchmark-format entries of the cases this xdist worker timed itself."""
        timed = [benchmark_entry(bench, bench.extra_info, durations) for bench, durations in self.untimed]
        return timed + self.resumed_entries

    def worker_output(self, lines: list[tuple[str, bool]]) -> dict[str, Any]:
        """What an xdist worker sends its controller: entries, counts and its summary ``lines``
        (terminal.summary_lines of this session)."""
        return {
            "worker": self.settings.worker, "benchmarks": self.benchmark_entries(),
            "recorded": self.recorded, "results": str(self.results.path),
            "lines": lines, "wattbench": self.benchmark_json(),
        }

    def benchmark_json(self) -> dict[str, Any]:
        """wattbench's part of pytest-benchmark's JSON: the energy set-up and the judge summary."""
        out: dict[str, Any] = {"energy": self.energy.summary()}
        if self.judging.summary is not None:
            out["judge"] = self.judging.summary
        return out

    def knob_lines(self) -> list[str]:
        """The GPU knobs' lines for the banner and the summary (none without them)."""
        return (self.knobs.lines() if self.knobs is not None else []) + self.knob_notes

    def close(self) -> None:
        """Free whatever is still loaded, stop the sampler, close the files, release the folder;
        put the GPUs' settings back whatever else fails."""
        try:
            self.pool.release()
            self.load_points.close()
            self.energy.close()
            self.results.close()
            self.rundir.release()
        finally:
            if self.knobs is not None:
                for line in self.knobs.close():
                    sys.stderr.write(f"wattbench: WARNING: {line}\n")

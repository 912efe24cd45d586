"""The run's state and the work each case does: measure, record, check.

One WattbenchSession lives in ``config.stash`` for the whole pytest session. It is built lazily
at collection, so a pytest run that collects no wattbench case never reads a task or a model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from wattbench import __version__
from wattbench.backends.protocol import Backend, Generation, LoadOptions, Message, ModelRef
from wattbench.casefile import parse_case_file
from wattbench.cases import (
    Case,
    PromptGroup,
    from_entries,
    from_problems,
    from_questions,
    from_table,
    matrix,
    user_chat,
    with_system_prompts,
)
from wattbench.codeblock import check_compiles
from wattbench.energy import EnergyMonitor
from wattbench.errors import (
    ConfigError,
    ContextOverflowError,
    GenerationError,
    ModelError,
    OutOfMemoryError,
    WattbenchError,
)
from wattbench.humaneval import load_problems
from wattbench.judging import JudgePhase
from wattbench.machine import describe_machine, fingerprint
from wattbench.metrics import unknown_keys
from wattbench.modelfile import model_name
from wattbench.monitors.meter import Window
from wattbench.pool import ModelPool, Resident
from wattbench.prompttable import load_prompt_table
from wattbench.questions import load_questions
from wattbench.record import engine_figures, now_utc, summarise, timing
from wattbench.results import ResultsFile, same_settings
from wattbench.scorers import SCORERS, score
from wattbench.scorers.bertscore import NOT_GIVEN as BERTSCORE_NOT_GIVEN
from wattbench.scorers.bertscore import open_bertscore
from wattbench.scorers.code import pass_at_k
from wattbench.scorers.protocol import Scorer
from wattbench.settings import Sampling, Settings
from wattbench.tasks import Task, load_padding, load_task_dir

MAX_WINDOW_GENERATIONS = 1000  # a bound on repeats for --wb-energy-min-window, whatever the speed
MIN_DEGRADED_TOKENS = 16  # out of memory or context: halve max_tokens down to this, then give up


class WattbenchSession:
    """Cases, the resident model and the results file of one pytest session."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.pool = ModelPool(
            backend,
            LoadOptions(settings.context_tokens, settings.threads, settings.sampling.seed),
            settings.warmup,
        )
        self.results = ResultsFile(settings.run_dir)
        self.unresolved: dict[str, ModelError] = {}
        self.cases, self.groups = self._build()
        self.by_id = {case.id: case for case in self.cases}
        self.group_by_id = {group.id: group for group in self.groups}
        self._finished = self.results.finished_runs()
        self.recorded = 0
        self.energy = EnergyMonitor(settings)
        self._answers: dict[tuple[str, int], str] = {}  # (case id, run) -> answer, for later turns
        self.judging = JudgePhase(settings, self.energy)
        self.scorers: list[Scorer] = list(SCORERS)
        self.quality_notes: list[str] = []
        if settings.bertscore_model is not None:
            self.scorers.append(open_bertscore(settings.bertscore_model, settings.bertscore_layers))
        else:
            self.quality_notes.append(BERTSCORE_NOT_GIVEN)

    @functools.cached_property
    def machine(self) -> dict[str, Any]:
        """The machine's record keys, read once at the first record rather than at collection."""
        return describe_machine().record()

    # -- building the matrix -------------------------------------------------------------
    def _resolve(self, spec: str) -> list[ModelRef]:
        """Models for ``spec``; an unknown one becomes a model whose cases fail with the reason."""
        try:
            return self.backend.resolve(spec)
        except ModelError as exc:
            ref = ModelRef(name=model_name(Path(spec)), location=f"unresolved:{spec}")
            self.unresolved[ref.location] = exc
            return [ref]

    def _build(self) -> tuple[list[Case], list[PromptGroup]]:
        s = self.settings
        models = list(dict.fromkeys(ref for spec in s.models for ref in self._resolve(spec)))

        # The task folder and its padding are read once, and only when a source needs them.
        @functools.cache
        def available() -> dict[str, Task]:
            return load_task_dir(s.task_dir) if s.task_dir else {}

        @functools.cache
        def padding() -> tuple[str, ...]:
            return load_padding(s.task_dir) if s.task_dir else ()

        parts: list[tuple[list[Case], list[PromptGroup]]] = []
        if s.tasks and s.task_dir is not None:
            names = list(available()) if "all" in [t.lower() for t in s.tasks] else list(s.tasks)
            missing = [n for n in names if n not in available()]
            if missing:
                raise ConfigError(
                    f"unknown task {missing[0]!r} (--wb-tasks / wb_tasks); tasks in "
                    f"{s.task_dir}: {', '.join(available()) or 'none'}"
                )
            chosen = [available()[n] for n in names]
            if chosen:
                parts.append(matrix(models, chosen, s.loads, s.levels, padding(), s.sampling))
        parts += [
            from_questions(models, load_questions(path), s.levels, padding(), s.sampling)
            for path in s.question_files
        ]
        parts += [
            from_problems(
                models, load_problems(path), available().get("code"), s.levels, padding(), s.sampling
            )
            for path in s.humaneval_files
        ]
        parts += [
            from_table(models, load_prompt_table(path), s.levels, s.sampling) for path in s.prompt_tables
        ]
        cases = [case for part_cases, _ in parts for case in part_cases]
        groups = [group for _, part_groups in parts for group in part_groups]
        for path in s.case_files:
            cases.extend(from_entries(parse_case_file(path), models, self._resolve, s.sampling))
        if s.system_prompts != ("default",):
            cases, groups = with_system_prompts(cases, groups, self._system_prompts())
        seen: set[str] = set()
        for case in cases:
            if case.id in seen:
                raise ConfigError(
                    f"two cases share the id {case.id!r}; give the models or case files "
                    "distinct names"
                )
            seen.add(case.id)
        return cases, groups

    def _system_prompts(self) -> dict[str, str | None]:
        """name -> text for --wb-system-prompts; 'default' is no system prompt."""
        s = self.settings
        known: dict[str, str] = {}
        if s.system_prompt_file.is_file():
            try:
                known = json.loads(s.system_prompt_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{s.system_prompt_file}: not JSON: {exc.msg}") from None
            if not isinstance(known, dict) or not all(isinstance(v, str) for v in known.values()):
                raise ConfigError(f"{s.system_prompt_file}: must be an object of name -> prompt text")
        prompts: dict[str, str | None] = {}
        for name in s.system_prompts:
            if name == "default":
                prompts[name] = None
            elif name in known:
                prompts[name] = known[name]
            else:
                raise ConfigError(
                    f"unknown system prompt {name!r} (--wb-system-prompts); {s.system_prompt_file} "
                    f"defines: {', '.join(known) or 'none'}; 'default' means none"
                )
        return prompts

    # -- running a case ------------------------------------------------------------------
    def _expected_settings(self, case: Case, run: int) -> dict[str, Any]:
        """The settings a finished record of ``case``'s run must match to count for a rerun."""
        return {
            "backend": self.backend.name,
            **dataclasses.asdict(self._sampling(case, run)),
            "context_tokens": self.settings.context_tokens,
        }

    def already_done(self, case: Case) -> bool:
        """Whether the run directory holds every run of ``case`` under the same settings."""
        runs = self._finished.get(case.id, {})
        return all(
            run in runs and same_settings(runs[run], self._expected_settings(case, run))
            for run in range(self.settings.runs)
        )

    def load(self, ref: ModelRef) -> Resident:
        """The loaded model ``ref``; raises a WattbenchError that says why when it cannot load."""
        if ref.location in self.unresolved:
            raise self.unresolved[ref.location]
        return self.pool.get(ref)

    def _labels(self, case: Case, run: int) -> dict[str, Any]:
        return {
            "case_id": case.id,
            "model": case.model.name,
            "task": case.task,
            "load": case.load,
            "level": case.level,
            "system_prompt": case.system_name,
            "run": run,
        }

    def _fail(self, case: Case, run: int, error: WattbenchError) -> NoReturn:
        """Record the failed run, then fail the test with the reason."""
        self.results.append({**self._labels(case, run), "timestamp": now_utc(), "error": str(error)})
        pytest.fail(f"{case.id}: {error}", pytrace=False)

    @staticmethod
    def _mark_errored(benchmark: Any) -> None:
        """Tell pytest-benchmark this case errored (it then leaves it out of its JSON), rather
        than let it warn that the fixture was never used."""
        if benchmark.enabled:

            def no_model() -> None:
                raise GenerationError("no model")

            with contextlib.suppress(GenerationError):
                benchmark.pedantic(no_model)

    def _record(
        self, case: Case, resident: Resident, run: int, generation: Generation,
        measured: Mapping[str, Any],
    ) -> dict[str, Any]:
        sampling = self._sampling(case, run)
        record: dict[str, Any] = {
            **self._labels(case, run),
            "timestamp": now_utc(),
            **timing(generation),
            **engine_figures(generation.engine),
            **measured,
            "model_load_s": resident.model.load_s,
            "warmup_s": resident.warmup_s,
            "cold_start": resident.generations == 0,
            **resident.model.metadata,
            "backend": self.backend.name,
            "engine_version": self.backend.engine_version,
            "wattbench_version": __version__,
            **self.machine,
            **dataclasses.asdict(sampling),
            "output_text": generation.text,
        }
        record["fingerprint"] = fingerprint(record)
        if case.is_code:
            record["code_compiles"] = check_compiles(generation.text).ok
        record.update(score(case, generation.text, self.scorers))  # after the window: no joules
        unknown = unknown_keys(record)
        if unknown:
            raise AssertionError(f"record keys not defined in wattbench.metrics: {unknown}")
        resident.generations += 1
        return record

    def _repeat_until_resolved(
        self, window: Window, chat: Sequence[Message], case: Case, run: int, resident: Resident
    ) -> list[Generation]:
        """Generate the run again, same seed, until its energy window is long enough to resolve.

        The timed generation stays the one that is recorded; repeats only lengthen the window,
        and the energy figures are divided by the number of generations in it.
        """
        repeats: list[Generation] = []
        while self.energy.needs_more(window) and len(repeats) < MAX_WINDOW_GENERATIONS - 1:
            repeats.append(self._generate(resident, chat, self._sampling(case, run))[0])
        return repeats

    def _chat(self, resident: Resident, case: Case, run: int) -> tuple[Message, ...]:
        """The chat of ``case``'s run: for a later turn, the conversation so far, then this turn.

        The model's answers to earlier turns come from their own cases' same run where those
        ran (cases run in order), else they are generated here, unrecorded.
        """
        if case.previous is None:
            return case.messages
        before = self.by_id[case.previous]
        earlier = self._chat(resident, before, run)
        answer = self._answers.get((before.id, run))
        if answer is None:
            answer = self._generate(resident, earlier, self._sampling(before, run))[0].text
            self._answers[before.id, run] = answer
        return (*earlier, {"role": "assistant", "content": answer}, *case.messages)

    @staticmethod
    def _generate(
        resident: Resident, chat: Sequence[Message], sampling: Sampling
    ) -> tuple[Generation, str]:
        """One generation; out of memory or context, retried with half the max_tokens each time.

        Returns the generation and what was reduced ('' when nothing was).
        """
        asked, reason = sampling.max_tokens, ""
        while True:
            try:
                generation = resident.model.generate(chat, sampling)
                break
            except (OutOfMemoryError, ContextOverflowError) as exc:
                smaller = sampling.max_tokens // 2
                if smaller < MIN_DEGRADED_TOKENS:
                    raise GenerationError(f"{exc} (still at max_tokens {sampling.max_tokens})") from None
                sampling, reason = dataclasses.replace(sampling, max_tokens=smaller), str(exc)
        if sampling.max_tokens == asked:
            return generation, ""
        return generation, f"max_tokens {asked} -> {sampling.max_tokens} after: {reason}"

    def _sampling(self, case: Case, run: int) -> Sampling:
        return dataclasses.replace(case.sampling, seed=case.sampling.seed + run)

    def measure(self, case: Case, benchmark: Any) -> dict[str, Any]:
        """Run ``case`` --wb-runs times under pytest-benchmark; write each run as it ends."""
        load_error: WattbenchError | None = None
        try:
            resident = self.load(case.model)
        except WattbenchError as exc:
            load_error = exc
        if load_error is not None:  # failed outside the except block: no chained traceback
            self._mark_errored(benchmark)
            self._fail(case, 0, load_error)
        self.energy.start()
        runs = iter(range(self.settings.runs))
        generations: list[Generation] = []
        records: list[dict[str, Any]] = []
        current = {"run": 0}
        windows: list[Window] = []

        degraded: dict[int, str] = {}
        chats: dict[int, tuple[Message, ...]] = {}

        def setup() -> tuple[tuple[int], dict[str, Any]]:
            current["run"] = run = next(runs)
            chats[run] = self._chat(resident, case, run)  # earlier turns: before the window opens
            windows.append(self.energy.begin())  # outside the timed region, just before it
            return (run,), {}

        def generate(run: int) -> None:
            generation, degraded[run] = self._generate(resident, chats[run], self._sampling(case, run))
            generations.append(generation)

        def finish(run: int) -> None:
            # Runs outside the timed region: the record is written before the next run starts.
            generation = generations.pop()
            self._answers[case.id, run] = generation.text
            self.judging.add(case, run, generation.text)
            window = windows[-1]
            repeats = self._repeat_until_resolved(window, chats[run], case, run, resident)
            tokens = [
                (g.completion_tokens, g.prompt_tokens + g.completion_tokens)
                for g in (generation, *repeats)
            ]
            measured = self.energy.end(windows.pop(), tokens, f"{case.id}.r{run}")
            if degraded[run]:
                measured["degraded"] = degraded[run]
            record = self._record(case, resident, run, generation, measured)
            resident.generations += len(repeats)
            self.results.append(record)
            self.recorded += 1
            records.append(record)

        failure: GenerationError | None = None
        try:
            if benchmark.enabled:
                benchmark.pedantic(
                    generate, setup=setup, teardown=finish, rounds=self.settings.runs,
                    iterations=1, warmup_rounds=0,
                )
            else:  # pytest-benchmark is off (--benchmark-disable, xdist): run the rounds ourselves
                for _ in range(self.settings.runs):
                    (run,), _kwargs = setup()
                    generate(run)
                    finish(run)
        except GenerationError as exc:
            failure = exc
        finally:
            for window in windows:
                self.energy.discard(window)
        if failure is not None:
            self._fail(case, current["run"], failure)
        summary = summarise(records)
        passed = [r["code_tests_passed"] for r in records if "code_tests_passed" in r]
        if passed:
            summary["code_pass_at_k"] = pass_at_k(len(passed), int(sum(passed)), len(passed))
        benchmark.extra_info.update(summary)
        self.judging.infos[case.id] = benchmark.extra_info  # the judge's grades join it later
        return summary

    # -- invariants ----------------------------------------------------------------------
    def check_answer(self, case: Case, record: Mapping[str, Any]) -> None:
        """Invariants on the answer and the quality floors; the record is already saved."""
        broken = [v for f in self.settings.quality_floors if (v := f.violation(case.task, record))]
        if broken:
            raise AssertionError(f"{case.id}: " + "; ".join(broken))
        if case.is_code:
            for run in record.get("per_run", [record]):
                if run["code_compiles"]:
                    continue
                text = run["output_text"]
                reason = check_compiles(text).reason
                raise AssertionError(
                    f"{case.id}: the answer's code does not compile: {reason}\n"
                    f"--- answer ---\n{text[:1500]}"
                )

    def check_growth(self, group: PromptGroup) -> dict[str, int]:
        """Prompt tokens grow strictly from level to level, in the model's own tokenizer."""
        load_error: WattbenchError | None = None
        try:
            resident = self.load(group.model)
        except WattbenchError as exc:
            load_error = exc
        if load_error is not None:
            pytest.fail(f"{group.id}: {load_error}", pytrace=False)
        count_error: WattbenchError | None = None
        try:
            counts = {
                level: resident.model.count_prompt_tokens(user_chat(prompt, group.system))
                for level, prompt in group.prompts.items()
            }
        except WattbenchError as exc:  # a server that cannot count fails this check, not the run
            count_error = exc
        if count_error is not None:
            pytest.fail(f"{group.id}: cannot count prompt tokens: {count_error}", pytrace=False)
        for before, after in itertools.pairwise(counts):
            assert counts[before] < counts[after], (
                f"{group.id}: prompt tokens do not grow from {before} to {after}: {counts}"
            )
        return counts

"""Running one case: its --wb-runs generations under pytest-benchmark, each measured and recorded.

Per run: the conversation so far is replayed (later turns), the energy window opens, the timed
generation runs inside pytest-benchmark's ``pedantic`` (out of memory or context: retried with
half the max_tokens), the window is lengthened by unrecorded repeats until it resolves, then the
record is built, scored and appended before the next run starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wattbench.backends.protocol import Backend, Generation, Message, Sampling
from wattbench.cases import Case
from wattbench.codeblock import check_compiles
from wattbench.energy import EnergyMonitor
from wattbench.errors import ContextOverflowError, GenerationError, OutOfMemoryError
from wattbench.monitors.meter import Window
from wattbench.pool import Resident
from wattbench.reasoning import split_thinking
from wattbench.record import build, check_keys, summarise
from wattbench.results import ResultsFile
from wattbench.scorers import Scorers
from wattbench.scorers.code import pass_at_k
from wattbench.workers import WindowLog, sharing_figures

MAX_WINDOW_GENERATIONS = 1000  # a bound on repeats for --wb-energy-min-window, whatever the speed
MIN_DEGRADED_TOKENS = 16  # out of memory or context: halve max_tokens down to this, then give up


def generate(resident: Resident, chat: Sequence[Message], sampling: Sampling) -> tuple[Generation, str]:
    """One generation; out of memory or context, retried with half the max_tokens each time.

    Returns the generation and what was reduced ('' when nothing was). Raises GenerationError
    once max_tokens would fall below MIN_DEGRADED_TOKENS.
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


class RunFailed(Exception):
    """A run of a case failed; its records so far are already saved."""

    def __init__(self, run: int, error: GenerationError) -> None:
        super().__init__(str(error))
        self.run = run
        self.error = error


class Runner:
    """What every case's runs share: the backend, energy, results file, scorers and answers."""

    def __init__(
        self, backend: Backend, energy: EnergyMonitor, results: ResultsFile, scorers: Scorers,
        machine: Callable[[], Mapping[str, Any]], by_id: Mapping[str, Case],
        on_answer: Callable[[Case, int, str], None], sharing: WindowLog | None = None,
    ) -> None:
        self.backend = backend
        self.energy = energy
        self.results = results
        self.scorers = scorers
        self.machine = machine
        self.by_id = by_id
        self.on_answer = on_answer
        self.sharing = sharing  # pytest-xdist: which windows other workers overlapped
        self.recorded = 0
        self.answers: dict[tuple[str, int], str] = {}  # (case id, run) -> answer, for later turns

    def chat(self, resident: Resident, case: Case, run: int) -> tuple[Message, ...]:
        """The chat of ``case``'s run: for a later turn, the conversation so far, then this turn.

        The model's answers to earlier turns come from their own cases' same run where those
        ran (cases run in order), else they are generated here, unrecorded.
        """
        if case.previous is None:
            return case.messages
        before = self.by_id[case.previous]
        earlier = self.chat(resident, before, run)
        answer = self.answers.get((before.id, run))
        if answer is None:
            answer = generate(resident, earlier, before.run_sampling(run))[0].text
            self.answers[before.id, run] = answer
        return (*earlier, {"role": "assistant", "content": answer}, *case.messages)

    def run(self, case: Case, resident: Resident, runs: int, benchmark: Any) -> CaseRuns:
        """``runs`` measured runs of ``case``; each record is appended as its run ends. Where
        pytest-benchmark is off, the rounds are timed here (``CaseRuns.durations``).

        Raises RunFailed, naming the run, when one fails.
        """
        self.energy.start()
        current = CaseRuns(self, case, resident, runs)
        try:
            if benchmark.enabled:
                benchmark.pedantic(
                    current.generate, setup=current.setup, teardown=current.finish, rounds=runs,
                    iterations=1, warmup_rounds=0,
                )
            else:  # pytest-benchmark is off (--benchmark-disable, xdist): run the rounds ourselves
                for _ in range(runs):
                    (run,), _kwargs = current.setup()
                    start = time.perf_counter()
                    current.generate(run)
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


class CaseRuns:
    """The runs of one case: pytest-benchmark's setup, timed call and teardown share this state."""

    def __init__(self, runner: Runner, case: Case, resident: Resident, runs: int) -> None:
        self.runner = runner
        self.case = case
        self.resident = resident
        self.next_run = iter(range(runs))
        self.run = 0
        self.chats: dict[int, tuple[Message, ...]] = {}
        self.windows: list[Window] = []
        self.generations: list[Generation] = []
        self.degraded: dict[int, str] = {}
        self.records: list[dict[str, Any]] = []
        self.durations: list[float] = []  # the timed calls, where pytest-benchmark does not time them

    def setup(self) -> tuple[tuple[int], dict[str, Any]]:
        """Before the timed call: replay earlier turns, then open the energy window."""
        self.run = run = next(self.next_run)
        self.chats[run] = self.runner.chat(self.resident, self.case, run)
        if self.runner.sharing is not None:
            self.runner.sharing.begin()
        self.windows.append(self.runner.energy.begin())  # outside the timed region, just before it
        return (run,), {}

    def generate(self, run: int) -> None:
        """The timed call: one generation."""
        sampling = self.case.run_sampling(run)
        generation, self.degraded[run] = generate(self.resident, self.chats[run], sampling)
        self.generations.append(generation)

    def finish(self, run: int) -> None:
        """After the timed call: close the window, build, score and append the record."""
        runner, case = self.runner, self.case
        generation = self.generations.pop()
        runner.answers[case.id, run] = generation.text
        answer = split_thinking(generation.text)[1]  # scorers and the judge see only the answer
        runner.on_answer(case, run, answer)
        window = self.windows[-1]
        repeats = self._repeat_until_resolved(window, run)
        tokens = [
            (g.completion_tokens, None if g.prompt_tokens is None else g.prompt_tokens + g.completion_tokens)
            for g in (generation, *repeats)
        ]
        measured = runner.energy.end(self.windows.pop(), tokens, f"{case.id}.r{run}")
        if runner.sharing is not None:
            measured.update(sharing_figures(runner.sharing.end(), runner.sharing.devices))
        if self.degraded[run]:
            measured["degraded"] = self.degraded[run]
        record = build(case, run, case.run_sampling(run), generation, measured, self.resident,
                       runner.backend, runner.machine())
        answers = record.get("answer_tokens")
        if isinstance(record.get("energy_j"), float) and answers:
            record["energy_per_answer_token_j"] = record["energy_j"] / answers
        if case.is_code:
            record["code_compiles"] = check_compiles(answer, case.extra.get("entry_point")).ok
        record.update(runner.scorers.score(case, answer))  # after the window: no joules
        check_keys(record)
        self.resident.generations += 1 + len(repeats)
        runner.results.append(record)
        runner.recorded += 1
        self.records.append(record)

    def _repeat_until_resolved(self, window: Window, run: int) -> list[Generation]:
        """Generate the run again, same seed, until its energy window is long enough to resolve.

        The timed generation stays the one that is recorded; repeats only lengthen the window,
        and the energy figures are divided by the number of generations in it.
        """
        repeats: list[Generation] = []
        energy = self.runner.energy
        while energy.needs_more(window) and len(repeats) < MAX_WINDOW_GENERATIONS - 1:
            repeats.append(generate(self.resident, self.chats[run], self.case.run_sampling(run))[0])
        return repeats

    def discard_open_windows(self) -> None:
        """Drop the windows of runs that failed."""
        for window in self.windows:
            self.runner.energy.discard(window)
        self.windows.clear()


def mark_errored(benchmark: Any) -> None:
    """Tell pytest-benchmark this case errored (it then leaves it out of its JSON), rather than
    let it warn that the fixture was never used."""
    if benchmark.enabled:

        def no_model() -> None:
            raise GenerationError("no model")

        with contextlib.suppress(GenerationError):
            benchmark.pedantic(no_model)

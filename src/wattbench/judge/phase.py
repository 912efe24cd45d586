"""The judge phase: after the last case, a judge model grades the run's answers.

It runs after generation has finished and the benchmarked model is freed, so the judge's time
and energy never mix into the judged model's figures; both are recorded separately, per
judgement, in ``<run dir>/judgements.jsonl`` and in total in ``judge.json``. Grades are added to
each case's pytest-benchmark entry (``judge_*`` keys) before the JSON file is written.

A judgement that fails (the engine or server raised) is recorded with its error and counted;
it never stops the phase. Each line says how the judge was asked (``judge_output_format``:
'json schema' or 'free') and whether the system text was folded into the user turn.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from wattbench import axes
from wattbench.backends.protocol import Backend, LoadOptions
from wattbench.cases import Case
from wattbench.errors import WattbenchError
from wattbench.judge.grading import Judge, Judgement
from wattbench.records.record import now_utc
from wattbench.records.rundir import RunDir
from wattbench.run.energy import EnergyMonitor

NO_PAIRS = ("no pairs to judge: pairwise compares two models' answers to the same case (task, load, "
            "level, system prompt and run), and no case was answered by two models")


@dataclass(frozen=True)
class JudgeOptions:
    """The judge phase's settings (--wb-judge*): modes, model, backend, room for its reply."""

    modes: tuple[str, ...] = ()  # any of single, rubric, pairwise
    model: str = "default"
    backend: str = "llamacpp"  # the run's backend unless --wb-judge-backend names another
    max_tokens: int = 512
    load: LoadOptions = field(default_factory=lambda: LoadOptions(seed=0))


@dataclass
class Answer:
    """One run's answer, waiting for the judge."""

    case: Case
    run: int
    text: str


class JudgePhase:
    """Collects answers during the run; grades them all at the end."""

    def __init__(self, options: JudgeOptions, energy: EnergyMonitor, rundir: RunDir) -> None:
        self.options = options
        self.energy = energy
        self.rundir = rundir
        self.answers: list[Answer] = []
        self.infos: dict[str, MutableMapping[str, Any]] = {}  # case id -> benchmark extra_info
        self.summary: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        """Whether --wb-judge asked for any mode."""
        return bool(self.options.modes)

    def add(self, case: Case, run: int, text: str) -> None:
        """Keep one run's answer for the judge."""
        if self.enabled:
            self.answers.append(Answer(case, run, text))

    def _measured(
        self, ask: Callable[..., Judgement], *args: Any
    ) -> tuple[dict[str, Any], float, float | None]:
        """(the judgement's fields, seconds, joules or None), in its own energy window. An error
        fails this judgement only: its fields say so (parse_ok false, judge_error)."""
        window = self.energy.begin()
        start = time.perf_counter()
        try:
            judgement = ask(*args)
        except Exception as exc:  # one judgement's failure, whatever the backend raised
            self.energy.discard(window)
            return {"parse_ok": False, "judge_error": f"{type(exc).__name__}: {exc}"}, \
                time.perf_counter() - start, None
        except BaseException:
            self.energy.discard(window)
            raise
        seconds = time.perf_counter() - start
        fields = {
            "parse_ok": judgement.parse_ok, **judgement.figures, **judgement.extra,
            "judge_output_format": judgement.output_format,
            "system_prompt_folded": judgement.system_prompt_folded, "judge_text": judgement.text,
        }
        return fields, seconds, self.energy.gross_joules(window)

    def run(self, make_backend: Callable[[str], Backend]) -> dict[str, Any]:
        """Grade every kept answer in every mode; returns (and keeps) the phase's summary."""
        o = self.options
        backend = make_backend(o.backend)
        refs = backend.resolve(o.model)
        if not refs:
            raise WattbenchError(f"no judge model for {o.model!r}")
        self.energy.start()
        model = backend.load(refs[0], o.load)
        judge = Judge(model, o.max_tokens)
        out = self.rundir.judgements()
        # mode -> [judged, parse failures, errors, weighted grades]
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for mode in self.options.modes:  # a mode with nothing to judge is said, not left out
            counts[mode] = [0, 0, 0, 0]
        formats: dict[str, set[str]] = defaultdict(set)
        grades: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        seconds_total = joules_total = 0.0
        unmeasured = 0  # judgements whose window has no energy figure: the total is then unknown
        try:
            for answer, mode, result, seconds, joules in self._judgements(judge):
                seconds_total += seconds
                if joules is None:
                    unmeasured += 1
                else:
                    joules_total += joules
                line = {
                    "timestamp": now_utc(), "case_id": answer.case.id, "run": answer.run, "mode": mode,
                    "judge_model": refs[0].name, "judge_latency_s": seconds, "judge_energy_j": joules,
                    **result,
                }
                out.append(line)
                counts[mode][0] += 1
                counts[mode][1] += not result["parse_ok"]
                counts[mode][2] += "judge_error" in result
                counts[mode][3] += any(k.endswith("_weighted") for k in result)
                if "judge_output_format" in result:
                    formats[mode].add(result["judge_output_format"])
                for key, value in result.items():
                    if key.startswith("judge_") and isinstance(value, float):
                        grades[answer.case.id][key].append(value)
        finally:
            model.close()
            out.close()
        for case_id, figures in grades.items():
            info = self.infos.get(case_id)
            if info is not None:
                info.update({key: statistics.fmean(values) for key, values in figures.items()})
        self.summary = {
            "judge_model": refs[0].name,
            "modes": {
                mode: {
                    "judged": n, "parse_failures": failed, "parse_failure_rate": failed / n if n else None,
                    "errors": errors, "weighted": weighted, "output_formats": sorted(formats[mode]),
                }
                for mode, (n, failed, errors, weighted) in counts.items()
            },
            **({"pairwise_note": NO_PAIRS} if "pairwise" in counts and not counts["pairwise"][0] else {}),
            "judge_latency_s": seconds_total,
            "judge_energy_j": joules_total if self.energy.measures and not unmeasured else None,
            "judge_energy_unmeasured_count": unmeasured if self.energy.measures else None,
        }
        self.rundir.judge_summary_path.write_text(json.dumps(self.summary, indent=2) + "\n")
        return self.summary

    def _judgements(self, judge: Judge) -> Any:
        """(answer, mode, result fields, seconds, joules) for each judgement, in order."""
        modes = self.options.modes
        for answer in self.answers:
            question = answer.case.prompt
            if "single" in modes:
                result, sec, j = self._measured(judge.single, question, answer.text, answer.case.reference)
                yield answer, "single", result, sec, j
            if "rubric" in modes:
                result, sec, j = self._measured(judge.rubric, question, answer.text)
                yield answer, "rubric", result, sec, j
        if "pairwise" in modes:
            yield from self._pairs(judge)

    def _pairs(self, judge: Judge) -> Any:
        """The first model against each other model, within every other axis (task, load, level,
        system prompt, ...) and run: pairwise judging compares models, never a model with itself."""
        same: dict[tuple[tuple[str, ...], int], list[Answer]] = defaultdict(list)
        for answer in self.answers:
            same[axes.pairing_key(answer.case), answer.run].append(answer)
        for group in same.values():
            first, *others = group
            for other in others:
                if other.case.model.name == first.case.model.name:
                    continue  # the same model twice in one group: nothing to compare
                result, sec, j = self._measured(judge.pairwise, first.case.prompt, first.text, other.text)
                yield first, "pairwise", {**result, "judge_opponent": other.case.id}, sec, j

"""The judge phase: after the last case, a judge model grades the run's answers.

It runs after generation has finished and the benchmarked model is freed, so the judge's time
and energy never mix into the judged model's figures; both are recorded separately, per
judgement, in ``<run dir>/judgements.jsonl`` and in total in ``judge.json``. Grades are added to
each case's pytest-benchmark entry (``judge_*`` keys) before the JSON file is written.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from wattbench.backends.protocol import Backend, LoadOptions
from wattbench.cases import Case
from wattbench.energy import EnergyMonitor
from wattbench.errors import WattbenchError
from wattbench.judge import RUBRIC_PARTS, Judge
from wattbench.monitors.idle import total_joules
from wattbench.record import now_utc
from wattbench.results import ResultsFile
from wattbench.settings import Settings

JUDGEMENTS_FILE = "judgements.jsonl"
SUMMARY_FILE = "judge.json"


@dataclass
class Answer:
    """One run's answer, waiting for the judge."""

    case: Case
    run: int
    text: str


class JudgePhase:
    """Collects answers during the run; grades them all at the end."""

    def __init__(self, settings: Settings, energy: EnergyMonitor) -> None:
        self.settings = settings
        self.energy = energy
        self.answers: list[Answer] = []
        self.infos: dict[str, MutableMapping[str, Any]] = {}  # case id -> benchmark extra_info
        self.summary: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        """Whether --wb-judge asked for any mode."""
        return bool(self.settings.judge_modes)

    def add(self, case: Case, run: int, text: str) -> None:
        """Keep one run's answer for the judge."""
        if self.enabled:
            self.answers.append(Answer(case, run, text))

    def _measured(self, ask: Callable[..., Any], *args: Any) -> tuple[Any, float, float | None]:
        """(ask(*args), seconds, joules or None) of one judgement, in its own energy window."""
        meter = self.energy.meter
        window = meter.begin() if meter.sources else None
        start = time.perf_counter()
        result = ask(*args)
        seconds = time.perf_counter() - start
        joules = None
        if window is not None:
            joules = total_joules(meter, meter.end(window))
        return result, seconds, joules

    def run(self, make_backend: Callable[[str], Backend]) -> dict[str, Any]:
        """Grade every kept answer in every mode; returns (and keeps) the phase's summary."""
        s = self.settings
        backend = make_backend(s.judge_backend or s.backend)
        refs = backend.resolve(s.judge_model)
        if not refs:
            raise WattbenchError(f"no judge model for {s.judge_model!r}")
        self.energy.start()
        model = backend.load(refs[0], LoadOptions(s.context_tokens, s.threads, 0))
        judge = Judge(model, s.judge_max_tokens)
        out = ResultsFile(s.run_dir, JUDGEMENTS_FILE)
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # mode -> [judged, parse failures]
        grades: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        seconds_total = joules_total = 0.0
        try:
            for answer, mode, result, seconds, joules in self._judgements(judge):
                seconds_total += seconds
                joules_total += joules or 0.0
                line = {
                    "timestamp": now_utc(), "case_id": answer.case.id, "run": answer.run, "mode": mode,
                    "judge_model": refs[0].name, "judge_latency_s": seconds, "judge_energy_j": joules,
                    **result,
                }
                out.append(line)
                counts[mode][0] += 1
                counts[mode][1] += not result["parse_ok"]
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
                mode: {"judged": n, "parse_failures": failed, "parse_failure_rate": failed / n if n else None}
                for mode, (n, failed) in counts.items()
            },
            "judge_latency_s": seconds_total,
            "judge_energy_j": joules_total if self.energy.meter.sources else None,
        }
        (s.run_dir / SUMMARY_FILE).write_text(json.dumps(self.summary, indent=2) + "\n")
        return self.summary

    def _judgements(self, judge: Judge) -> Any:
        """(answer, mode, result fields, seconds, joules) for each judgement, in order."""
        modes = self.settings.judge_modes
        for answer in self.answers:
            question = answer.case.prompt
            if "single" in modes:
                (rating, text), sec, j = self._measured(
                    judge.single, question, answer.text, answer.case.reference
                )
                yield answer, "single", {"parse_ok": rating is not None, "judge_score": rating,
                                         "judge_text": text}, sec, j
            if "rubric" in modes:
                (rubric, text), sec, j = self._measured(judge.rubric, question, answer.text)
                result: dict[str, Any] = {"parse_ok": rubric is not None, "judge_text": text}
                if rubric is not None:
                    result["judge_rubric_total"] = rubric.total
                    result.update({f"judge_{p}": rubric.parts[p] for p in RUBRIC_PARTS})
                    result["judge_reason"] = rubric.reason
                yield answer, "rubric", result, sec, j
        if "pairwise" in modes:
            yield from self._pairs(judge)

    def _pairs(self, judge: Judge) -> Any:
        """The first model against each other model, on the same task, load, level and run."""
        same: dict[tuple[str, str, str, int], list[Answer]] = defaultdict(list)
        for answer in self.answers:
            c = answer.case
            same[c.task, c.load, c.level, answer.run].append(answer)
        for group in same.values():
            first, *others = group
            for other in others:
                (verdict, texts), sec, j = self._measured(
                    judge.pairwise, first.case.prompt, first.text, other.text
                )
                yield first, "pairwise", {
                    "parse_ok": verdict is not None, "judge_verdict": verdict,
                    "judge_opponent": other.case.id, "judge_text": texts,
                }, sec, j

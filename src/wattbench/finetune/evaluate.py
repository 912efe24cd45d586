"""The adapter judged by the same suite: evaluation cases run on the base model and on base +
adapter (and on the payback's reference model, where one is named) on the same llama.cpp engine,
at the run's sampling, each generation measured and scored as a suite case is (the generation
workload, the runner's energy windows, the run's scorers), its record appended to
finetune-eval.jsonl with the fine-tuning case and the variant that produced it.

Quality before and after are means over the evaluation items and runs with Student-t 95%
intervals; the gain is the mean of the paired differences (same item, same run, same seed) with
its own interval, so an item's difficulty cancels.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.backends.protocol import Backend, LoadOptions, ModelRef
from wattbench.cases import Case
from wattbench.errors import GenerationError, WattbenchError
from wattbench.records.results import ResultsFile
from wattbench.run.energy import EnergyMonitor, Measured
from wattbench.run.generation import Conversations, GenerationWork
from wattbench.run.pool import WARMUP_MESSAGES, WARMUP_SAMPLING, Resident
from wattbench.run.runner import RunFailed, Runner
from wattbench.scorers import Scorers

BASE, TUNED, REFERENCE = "base", "tuned", "reference"


@dataclass(frozen=True)
class Variant:
    """One model evaluated: its role, the model, and the GGUF adapter applied to it (if any)."""

    role: str
    ref: ModelRef
    lora: Path | None = None


class Unrecorded:
    """The benchmark fixture's stand-in for the evaluation's rounds: pytest-benchmark times the
    training, which is the case; the runner then times each evaluation itself."""

    enabled = False
    extra_info: dict[str, Any] = {}  # noqa: RUF012  (never written: the runner does not use it)

    def pedantic(self, target: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        target()


class Labelled:
    """A workload whose records also name the fine-tuning case and the variant."""

    def __init__(self, work: GenerationWork, labels: Mapping[str, Any]) -> None:
        self.work = work
        self.labels = dict(labels)
        self.series = work.series
        self.owns_window = work.owns_window

    def prepare(self, run: int) -> None:
        self.work.prepare(run)

    def unit(self, run: int) -> None:
        self.work.unit(run)

    def again(self, run: int) -> None:
        self.work.again(run)

    def record(self, run: int, measured: Measured | None, machine: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{**r, **self.labels} for r in self.work.record(run, measured, machine)]

    def discard(self) -> None:
        self.work.discard()


@dataclass(frozen=True)
class Evaluator:
    """What the evaluation runs on: the engine, how it loads, the run's meter, scorers and files."""

    backend: Backend
    load: LoadOptions
    energy: EnergyMonitor
    scorers: Scorers
    results: ResultsFile
    machine: Callable[[], Mapping[str, Any]]
    runs: int
    warmup: bool = True

    def run(self, case_id: str, variant: Variant, cases: Sequence[Case]) -> list[dict[str, Any]]:
        """Every run of every case on ``variant``; raises WattbenchError when the model (or its
        adapter) does not load or a generation fails."""
        options = dataclasses.replace(self.load, lora=None if variant.lora is None else str(variant.lora))
        model = self.backend.load(variant.ref, options)
        try:
            resident = Resident(model)
            if self.warmup:  # as the pool warms every model up before its first case
                model.generate(WARMUP_MESSAGES, WARMUP_SAMPLING)
            runner = Runner(self.energy, self.results, self.machine)
            own = [dataclasses.replace(case, model=variant.ref) for case in cases]
            conversations = Conversations({case.id: case for case in own})
            records: list[dict[str, Any]] = []
            labels = {"finetune_case": case_id, "finetune_variant": variant.role}
            for case in own:
                work = GenerationWork(case, resident, self.backend, self.scorers, conversations,
                                      lambda _case, _run, _answer: None)
                try:
                    records += runner.run(Labelled(work, labels), self.runs, Unrecorded()).records
                except RunFailed as exc:
                    raise GenerationError(f"{variant.role} model, {case.id}: {exc.error}") from None
            return records
        finally:
            model.close()


def quality(record: Mapping[str, Any]) -> float | None:
    """A record's primary quality (its quality_metric's value), None where unscored."""
    value = record.get(str(record.get("quality_metric")))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def interval(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high): the Student-t 95% interval of the mean; no interval for fewer than two
    values, and none of anything for no values."""
    if not values:
        return None, None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    from scipy.stats import t

    half = float(t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _key(record: Mapping[str, Any]) -> tuple[str, str, int]:
    """What pairs a base answer with the tuned one: the item (task, level) and the run."""
    return str(record.get("task")), str(record.get("level")), int(record.get("run", 0))


def _mean_energy(records: Sequence[Mapping[str, Any]]) -> float | None:
    values = [r.get("energy_j") for r in records]
    if not values or not all(isinstance(v, (int, float)) for v in values):
        return None
    return statistics.fmean(float(v) for v in values if isinstance(v, (int, float)))


def figures(
    by_role: Mapping[str, Sequence[Mapping[str, Any]]], finetune_j: float | None,
) -> dict[str, Any]:
    """The fine-tuning record's evaluation figures: quality before and after with intervals, the
    paired gain, the gain per kJ of fine-tuning, and the payback against the reference."""
    base, tuned = by_role.get(BASE, ()), by_role.get(TUNED, ())
    metrics = {str(r.get("quality_metric")) for r in (*base, *tuned)}
    out: dict[str, Any] = {
        "finetune_quality_metric": ", ".join(sorted(metrics)),
        "finetune_eval_items_count": len({_key(r)[:2] for r in base}),
        "finetune_eval_runs_count": len(base),
    }
    before = [q for r in base if (q := quality(r)) is not None]
    after = [q for r in tuned if (q := quality(r)) is not None]
    for name, values in (("before", before), ("after", after)):
        mean, low, high = interval(values)
        out.update({f"finetune_quality_{name}": mean, f"finetune_quality_{name}_low": low,
                    f"finetune_quality_{name}_high": high})
    paired = {_key(r): quality(r) for r in base}
    gains = [
        q - b for r in tuned
        if (q := quality(r)) is not None and (b := paired.get(_key(r))) is not None
    ]
    gain, low, high = interval(gains)
    out.update(finetune_quality_gain=gain, finetune_quality_gain_low=low, finetune_quality_gain_high=high)
    out["finetune_quality_gain_per_kj"] = (
        gain / (finetune_j / 1000.0) if gain is not None and finetune_j else None
    )
    base_j, tuned_j = _mean_energy(base), _mean_energy(tuned)
    out.update(finetune_base_query_j=base_j, finetune_tuned_query_j=tuned_j)
    reference = by_role.get(REFERENCE)
    if reference is None:
        out["finetune_payback_reason"] = (
            "no reference configuration: name one of the tuned model's quality with "
            "--wb-finetune-reference MODEL"
        )
        return out
    reference_j = _mean_energy(reference)
    out["finetune_reference_query_j"] = reference_j
    out["finetune_quality_reference"] = interval([q for r in reference if (q := quality(r)) is not None])[0]
    if finetune_j is None or reference_j is None or tuned_j is None:
        out["finetune_payback_reason"] = "no energy figure: the run measured no energy (--wb-energy)"
    elif reference_j <= tuned_j:
        out["finetune_payback_reason"] = (
            f"the tuned model uses no less energy per query ({tuned_j:.4g} J) than the reference "
            f"({reference_j:.4g} J): the fine-tune never pays for itself against it"
        )
    else:
        out["finetune_payback_queries_count"] = finetune_j / (reference_j - tuned_j)
    return out


def evaluation_error(exc: WattbenchError) -> dict[str, Any]:
    """The record's figures when the evaluation could not run: why."""
    return {"finetune_eval_reason": f"the evaluation failed: {exc}"}

"""The fine-tuning workload: one LoRA run as the runner's measured unit.

Per run: ``prepare`` loads the model and builds every batch (untimed, outside the window);
``unit`` opens the energy window, runs the planned steps and closes it; ``record`` then, outside
the window, saves the adapter (peft's format and a GGUF adapter), runs the evaluation (base and
base + adapter on llama.cpp, wattbench.finetune.evaluate) and builds the run's one record.

The window is the workload's own (``owns_window``): a training run is never repeated to lengthen
it. Beside the monitor's window, a second meter window over the same samples gives the joules
spent up to the end of every step: the loss curve against cumulative joules, the energy to the
target loss (--wb-target-loss, as Zeus's energy-to-accuracy), and the rates over the steps after
the warm-up (--wb-finetune-warmup), which are left out of tokens/s, s/step and J per token as
optimum-benchmark leaves its warm-up out.
"""

from __future__ import annotations

import csv
import importlib.metadata
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench import __version__
from wattbench.errors import GenerationError, WattbenchError
from wattbench.finetune.adapter import AdapterError, write_gguf_adapter
from wattbench.finetune.spec import FinetuneCase
from wattbench.finetune.train import Step, Trainer
from wattbench.monitors.figures import window_energy
from wattbench.monitors.meter import Window, WindowReading
from wattbench.records.record import now_utc
from wattbench.run.energy import EnergyMonitor, Measured

MAX_MARKS = 500  # cumulative joules are computed at most at this many steps (evenly spread)


@dataclass(frozen=True)
class Cumulative:
    """Joules from the start of training to the end of one step (None without a figure)."""

    gross_j: float | None
    net_j: float | None


def marks(count: int, needed: Sequence[int] = ()) -> list[int]:
    """The steps (0-based) to compute cumulative joules at: every one up to MAX_MARKS, else an
    even spread with the last step and the ``needed`` ones."""
    if count <= MAX_MARKS:
        return list(range(count))
    every = -(-count // MAX_MARKS)
    return sorted({*range(every - 1, count, every), count - 1, *needed})


def training_figures(steps: Sequence[Step], warmup: int) -> dict[str, Any]:
    """Rates over the steps after the warm-up (at least one step is kept)."""
    kept = steps[min(warmup, len(steps) - 1):]
    span = kept[-1].ended_at - kept[0].started_at
    tokens = sum(s.tokens for s in kept)
    return {
        "finetune_steps_count": len(steps),
        "finetune_warmup_steps_count": len(steps) - len(kept),
        "finetune_tokens": sum(s.tokens for s in steps),
        "finetune_rate_tokens": tokens,
        "finetune_train_s": steps[-1].ended_at - steps[0].started_at,
        "finetune_step_s": span / len(kept),
        "finetune_train_tokens_per_s": tokens / span if span > 0 else None,
        "finetune_loss_start_nats": steps[0].loss,
        "finetune_loss_end_nats": steps[-1].loss,
        "finetune_loss_min_nats": min(s.loss for s in steps),
    }


def target_figures(
    steps: Sequence[Step], cumulative: Mapping[int, Cumulative], target: float | None,
) -> dict[str, Any]:
    """Energy, time and steps to the first step whose loss reached ``target``, or why none."""
    if target is None:
        return {}
    figures: dict[str, Any] = {"finetune_target_loss_nats": target}
    reached = next((i for i, s in enumerate(steps) if s.loss <= target), None)
    if reached is None:
        figures["finetune_target_reason"] = (
            f"the loss never reached {target:g} nats in {len(steps)} steps (lowest "
            f"{min(s.loss for s in steps):.4g}): train longer (--wb-finetune-steps) or aim higher"
        )
        return figures
    figures["finetune_steps_to_target_count"] = reached + 1
    figures["finetune_time_to_target_s"] = steps[reached].ended_at - steps[0].started_at
    figures["finetune_energy_to_target_j"] = cumulative[reached].gross_j if reached in cumulative else None
    return figures


def write_loss_curve(path: Path, steps: Sequence[Step], cumulative: Mapping[int, Cumulative]) -> None:
    """The loss curve as CSV: step, elapsed_s, tokens, loss_nats, energy_j, energy_net_j (joules
    from the start of training to the step's end, empty where not computed or not measured)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    start = steps[0].started_at if steps else 0.0
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["step", "elapsed_s", "tokens", "loss_nats", "energy_j", "energy_net_j"])
        for index, step in enumerate(steps):
            mark = cumulative.get(index, Cumulative(None, None))
            out.writerow([index + 1, f"{step.ended_at - start:.6f}", step.tokens, f"{step.loss:.6f}",
                          "" if mark.gross_j is None else f"{mark.gross_j:.6f}",
                          "" if mark.net_j is None else f"{mark.net_j:.6f}"])


def engine_version() -> str:
    """The training stack's versions: torch, transformers, peft."""
    parts = []
    for name in ("torch", "transformers", "peft"):
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


@dataclass
class _Done:
    steps: list[Step]
    measured: Measured | None
    reading: WindowReading | None
    offset: float  # monotonic - perf_counter


class FinetuneWork:
    """One fine-tuning case's run (see the module doc)."""

    owns_window = True

    def __init__(
        self, case: FinetuneCase, make_trainer: Callable[[], Trainer], energy: EnergyMonitor, folder: Path,
        run_dir: Path, evaluate: Callable[[FinetuneCase, Path | None, float | None], dict[str, Any]],
    ) -> None:
        self.case = case
        self.make_trainer = make_trainer
        self.energy = energy
        self.folder = folder
        self.run_dir = run_dir
        self.evaluate = evaluate
        self.series = case.id
        self.trainer: Trainer | None = None
        self._windows: list[tuple[Window, Window | None]] = []
        self._done: dict[int, _Done] = {}

    def prepare(self, run: int) -> None:
        """Load the model and plan every step, outside the window (a rerun starts afresh)."""
        if self.trainer is not None:
            self.trainer.close()
        self.trainer = self.make_trainer()
        self.trainer.load()

    def unit(self, run: int) -> None:
        """The planned steps, inside the energy window."""
        trainer = self.trainer
        assert trainer is not None
        energy = self.energy
        window = energy.begin()
        raw = energy.meter.begin() if energy.measures else None  # the same samples, for the marks
        self._windows.append((window, raw))
        offset = time.monotonic() - time.perf_counter()  # the meter's clock is monotonic
        try:
            steps = [trainer.step(index) for index in range(len(trainer.planned))]
        except RuntimeError as exc:  # torch: out of memory, a shape error
            raise GenerationError(f"training step failed: {exc}") from None
        reading = energy.meter.end(raw) if raw is not None else None
        measured = energy.end(window, f"{self.series}.r{run}")
        self._windows.clear()
        self._done[run] = _Done(steps, measured, reading, offset)

    def again(self, run: int) -> None:
        """Never called: this workload owns its window."""

    def _cumulative(self, done: _Done, needed: Sequence[int]) -> dict[int, Cumulative]:
        reading = done.reading
        if reading is None or not reading.samples:
            return {}
        meter, idle, start = self.energy.meter, self.energy.idle_before, reading.samples[0].t
        out: dict[int, Cumulative] = {}
        for index in marks(len(done.steps), needed):
            end = min(done.steps[index].ended_at + done.offset, reading.samples[-1].t)
            if end <= start:
                continue
            part = window_energy(meter, reading.between(start, end), idle, self.energy.options.pue)
            out[index] = Cumulative(part.gross_j, part.net_j)
        return out

    def _per_token(self, done: _Done, warmup: int) -> dict[str, Any]:
        """J per training token over the steps after the warm-up: gross, net, per channel."""
        reading = done.reading
        steps = done.steps
        first = min(warmup, len(steps) - 1)
        if reading is None or not reading.samples:
            return {}
        begin = max(steps[first].started_at + done.offset, reading.samples[0].t)
        end = min(steps[-1].ended_at + done.offset, reading.samples[-1].t)
        if end <= begin:
            return {}
        part = window_energy(self.energy.meter, reading.between(begin, end), self.energy.idle_before,
                             self.energy.options.pue)
        tokens = sum(s.tokens for s in steps[first:])

        def per(joules: float | None) -> float | None:
            return None if joules is None or not tokens else joules / tokens

        return {
            "finetune_energy_per_token_j": per(part.gross_j),
            "finetune_energy_net_per_token_j": per(part.net_j),
            "finetune_components_per_token_j": {k: per(j) for k, j in part.components_j.items()},
        }

    def record(self, run: int, measured: Measured | None, machine: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The run's record: training figures, energy, the adapter, and the evaluation."""
        done = self._done.pop(run)
        case, trainer = self.case, self.trainer
        assert trainer is not None
        steps = done.steps
        if not steps:
            raise GenerationError("no training step ran (an empty token budget?)")
        target = case.options.target_loss
        reached = [i for i, s in enumerate(steps) if target is not None and s.loss <= target][:1]
        cumulative = self._cumulative(done, reached)
        figures = training_figures(steps, case.options.warmup_steps)
        window = done.measured
        energy = window.energy if window is not None else None
        record: dict[str, Any] = {
            "case_id": case.id, "model": case.model, "finetune_data": case.data,
            "finetune_method": case.method_label(), "finetune_lora_rank": str(case.rank),
            "finetune_lora_alpha": str(case.alpha), "finetune_targets": "+".join(case.targets),
            "finetune_batch_count": case.options.batch, "finetune_seq_tokens": case.options.seq_tokens,
            "finetune_learning_rate": case.options.learning_rate, "seed": case.options.seed,
            "finetune_device": trainer.device, "model_file": case.location.name,
            "model_architecture": trainer.architecture, "run": run, "timestamp": now_utc(),
            "finetune_trainable_params_count": trainer.trainable_params,
            "finetune_total_params_count": trainer.total_params, "finetune_load_s": trainer.load_s,
            "engine_version": engine_version(), "wattbench_version": __version__,
            **machine, **figures,
        }
        if window is not None:
            record.update(window.figures)
        if energy is not None:
            record.update(energy.labels)
            record["finetune_energy_j"] = energy.gross_j
            if "idle_power_w" in energy.labels:
                record["finetune_energy_net_j"] = energy.net_j
            record.update(self._per_token(done, case.options.warmup_steps))
        record.update(target_figures(steps, cumulative, target))
        loss = self.folder / "loss.csv"
        write_loss_curve(loss, steps, cumulative)
        record["finetune_loss_file"] = loss.relative_to(self.run_dir).as_posix()
        adapter = self._save(trainer, record)
        trainer.close()  # the training's memory, freed before the evaluation loads its models
        self.trainer = None
        try:
            record.update(self.evaluate(case, adapter, record.get("finetune_energy_j")))
        except WattbenchError as exc:
            record["finetune_eval_reason"] = f"the evaluation failed: {exc}"
        return [record]

    def _save(self, trainer: Trainer, record: dict[str, Any]) -> Path | None:
        """The adapter in peft's format and as GGUF; the GGUF's path, or None (and why)."""
        peft = trainer.save(self.folder / "peft")
        record["finetune_peft_dir"] = peft.relative_to(self.run_dir).as_posix()
        path = self.folder / "adapter.gguf"
        try:
            write_gguf_adapter(path, trainer.architecture, trainer.lora_pairs(), self.case.alpha,
                               int(trainer.model.config.num_hidden_layers), trainer.heads, self.case.id)
        except AdapterError as exc:
            record["finetune_adapter_reason"] = str(exc)
            return None
        record["finetune_adapter_file"] = path.relative_to(self.run_dir).as_posix()
        record["finetune_adapter_bytes"] = path.stat().st_size
        return path

    def discard(self) -> None:
        """Drop the windows of a run that failed mid-way, and the training's memory."""
        for window, raw in self._windows:
            self.energy.discard(window)
            if raw is not None:
                self.energy.meter.discard(raw)
        self._windows.clear()
        if self.trainer is not None:
            self.trainer.close()
            self.trainer = None

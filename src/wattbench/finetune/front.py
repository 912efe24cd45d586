"""What the session calls: the run's fine-tuning cases, whether each can run, and its measurement.

Records go to the run folder beside results.jsonl (their keys are not a generation's):

    finetune.jsonl           one record per fine-tuning run (wattbench.metrics' finetune_* keys)
    finetune-eval.jsonl      one record per evaluation generation, a suite record plus
                             finetune_case and finetune_variant (base, tuned, reference)
    finetune/<case id>/      loss.csv (the loss curve), adapter.gguf, peft/ (peft's own format)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattbench.backends.modelfile import is_gguf, model_name
from wattbench.backends.protocol import Backend, ModelRef, Sampling
from wattbench.cases import Case
from wattbench.errors import ConfigError, WattbenchError
from wattbench.finetune import data as finetune_data
from wattbench.finetune import evaluate as ev
from wattbench.finetune.spec import EVAL_HOLDOUT, FinetuneCase, FinetuneOptions
from wattbench.finetune.train import Trainer, missing, qlora_missing
from wattbench.finetune.work import FinetuneWork
from wattbench.ids import id_part, model_part
from wattbench.records.record import now_utc
from wattbench.records.results import ResultsFile
from wattbench.records.rundir import RunDir
from wattbench.run.energy import EnergyMonitor
from wattbench.run.runner import RunFailed, Runner
from wattbench.scorers import Scorers

if TYPE_CHECKING:  # a type only: settings imports finetune.spec, so front names Settings for mypy alone
    from wattbench.settings import Settings

FINETUNE_FILE = "finetune.jsonl"
EVAL_FILE = "finetune-eval.jsonl"
FOLDER = "finetune"
HOLDOUT_TASK = "finetune_holdout"


def model_location(spec: str, base: Path | None) -> Path:
    """--wb-finetune-model's item as a GGUF file or a Hugging Face folder (config.json). Raises
    ConfigError naming the item and the accepted forms."""
    path = Path(spec).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.is_file() and is_gguf(path):
        return path.resolve()
    if path.is_dir() and (path / "config.json").is_file():
        return path.resolve()
    raise ConfigError(
        f"--wb-finetune-model {spec}: not a GGUF file nor a Hugging Face model folder (one with "
        "config.json); name a local .gguf file or folder (nothing is downloaded), or leave the option "
        "out to fine-tune the run's --wb-model files"
    )


def build_cases(
    options: FinetuneOptions, models: Sequence[ModelRef], base: Path | None,
) -> list[FinetuneCase]:
    """One case per model x data x method x rank x targets. The models are --wb-finetune-model's,
    else the run's models that are local files. Raises ConfigError for a model or data file
    that cannot be used (CaseFileError names the line)."""
    if options.models:
        located = [(model_location(spec, base), None) for spec in options.models]
        named = [(model_name(p) if p.is_file() else model_part(p.name), p) for p, _ in located]
    else:
        named = [(m.name, Path(m.location)) for m in models if Path(m.location).is_file()]
    datasets: list[tuple[str, Path | None]] = []
    for spec in options.data:
        if spec == "builtin":
            datasets.append(("builtin", None))
            continue
        path = Path(spec).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        finetune_data.read_examples(path)  # a bad file stops the run now, naming its line
        datasets.append((id_part(path.stem, "data"), path))
    return [
        FinetuneCase(name, location, data_name, data_path, method, rank, targets, options)
        for (name, location), (data_name, data_path), method, rank, targets in itertools.product(
            named, datasets, options.methods, options.ranks, options.targets,
        )
    ]


def summary_line(record: Mapping[str, Any]) -> str:
    """A fine-tuning record in one line: rate, J per token, loss, and quality before -> after."""

    def num(key: str, digits: str = ".3g") -> str:
        value = record.get(key)
        return "n/a" if not isinstance(value, (int, float)) else format(value, digits)

    parts = [f"{num('finetune_train_tokens_per_s')} train tok/s", f"{num('finetune_step_s')} s/step",
             f"{num('finetune_energy_per_token_j')} J/token",
             f"loss {num('finetune_loss_start_nats')} -> {num('finetune_loss_end_nats')}"]
    if record.get("finetune_quality_before") is not None:
        parts.append(f"{record.get('finetune_quality_metric')} {num('finetune_quality_before')} -> "
                     f"{num('finetune_quality_after')} (gain {num('finetune_quality_gain')} "
                     f"[{num('finetune_quality_gain_low')}, {num('finetune_quality_gain_high')}])")
    else:
        parts.append(f"not evaluated: {record.get('finetune_eval_reason')}")
    return ", ".join(parts)


def examples(case: FinetuneCase) -> tuple[finetune_data.Example, ...]:
    """The case's examples (the built-in set, or its file's)."""
    return finetune_data.read_examples(case.data_path or finetune_data.builtin_file())


def holdout_cases(
    case: FinetuneCase, held: Sequence[finetune_data.Example], sampling: Sampling,
) -> list[Case]:
    """The held-out examples as evaluation cases: the conversation before the last reply is
    asked, the reply is the reference, chrF (any language) is the quality."""
    ref = ModelRef(case.model, str(case.location))
    cases = []
    for index, example in enumerate(held, 1):
        question = next((m["content"] for m in reversed(example.prompt) if m["role"] == "user"), "")
        cases.append(Case(
            model=ref, task=HOLDOUT_TASK, load=id_part(case.data, "data"), level=f"H{index}", prompt=question,
            sampling=sampling, reference=example.reply, chat=example.prompt, metric="chrf", kind="general",
        ))
    return cases


class Finetuning:
    """The run's fine-tuning cases and their measurement (see the module doc)."""

    def __init__(
        self, settings: Settings, backend: Backend, energy: EnergyMonitor, rundir: RunDir, scorers: Scorers,
        machine: Callable[[], Mapping[str, Any]], models: Sequence[ModelRef],
        suite_cases: Callable[[], Sequence[Case]],
    ) -> None:
        self.settings = settings
        self.options: FinetuneOptions = settings.finetune
        self.backend = backend
        self.energy = energy
        self.rundir = rundir
        self.scorers = scorers
        self.machine = machine
        self.suite_cases = suite_cases
        self.cases = build_cases(self.options, models, settings.model_base)
        self.by_id = {case.id: case for case in self.cases}
        self.results = ResultsFile(rundir.path, FINETUNE_FILE)
        self.eval_results = ResultsFile(rundir.path, EVAL_FILE)
        self.lines: list[str] = []  # one per case measured, for -v and the terminal summary

    def skip_reason(self, case: FinetuneCase) -> str | None:
        """Why ``case`` does not run now: the extra is missing, QLoRA without a GPU, or the run
        folder holds it already (a resume); None when it runs."""
        reason = missing()
        if reason is not None:
            return reason
        if case.method == "qlora":
            reason = qlora_missing()
            if reason is not None:
                return f"{case.id}: {reason}"
        if any(r.get("case_id") == case.id and "error" not in r for r in self.results.records()):
            return f"already measured in {self.results.path}"
        return None

    def measure(self, case: FinetuneCase, benchmark: Any) -> dict[str, Any]:
        """Train, convert, evaluate; append and return the record. Raises WattbenchError (its
        failure record appended first) when the run fails."""
        train, held = finetune_data.split(examples(case), self.options.holdout)
        folder = self.rundir.path / FOLDER / case.id
        threads = self.settings.threads

        def evaluate(tuned: FinetuneCase, adapter: Path | None, energy_j: float | None) -> dict[str, Any]:
            return self.evaluate(tuned, held, adapter, energy_j)

        work = FinetuneWork(case, lambda: Trainer(case, train, threads), self.energy, folder,
                            self.rundir.path, evaluate)
        runner = Runner(self.energy, self.results, self.machine, None, self.settings.contended)
        error: WattbenchError | None = None
        try:
            done = runner.run(work, 1, benchmark)
        except RunFailed as exc:
            error = exc.error
        except WattbenchError as exc:
            error = exc
        if error is not None:
            self.results.append({"case_id": case.id, "model": case.model, "run": 0,
                                 "timestamp": now_utc(), "error": str(error)})
            raise error
        record = done.records[-1]
        self.lines.append(f"{case.id}: {summary_line(record)}")
        return record

    def evaluate(
        self, case: FinetuneCase, held: Sequence[finetune_data.Example], adapter: Path | None,
        energy_j: float | None,
    ) -> dict[str, Any]:
        """The evaluation's figures, or why it did not run (finetune_eval_reason)."""
        options = self.options
        if options.eval == "off":
            return {"finetune_eval_reason": "--wb-finetune-eval off"}
        if adapter is None:
            return {"finetune_eval_reason": "no GGUF adapter (see finetune_adapter_reason)"}
        if not case.is_gguf:
            return {"finetune_eval_reason": "the model is a Hugging Face folder: llama.cpp evaluates a "
                    "GGUF base with the adapter; convert the model to GGUF and name that file"}
        if self.backend.name != "llamacpp":
            return {"finetune_eval_reason": f"the adapter is evaluated on llama.cpp, not on --wb-backend "
                    f"{self.backend.name}: run with --wb-backend llamacpp"}
        sampling = self.settings.sampling
        if options.eval == EVAL_HOLDOUT:
            cases = holdout_cases(case, held, sampling)
            if not cases:
                return {"finetune_eval_reason": "no held-out example (--wb-finetune-holdout 0, or the data "
                        "has one example)"}
        else:
            cases = self._task_cases(options.eval)
        evaluator = ev.Evaluator(self.backend, self.settings.load_options(), self.energy, self.scorers,
                                 self.eval_results, self.machine, self.settings.runs, self.settings.warmup)
        base = ModelRef(case.model, str(case.location))
        tuned = ModelRef(f"{case.model}+lora", base.location)
        variants = [ev.Variant(ev.BASE, base), ev.Variant(ev.TUNED, tuned, adapter)]
        if options.reference is not None:
            variants.append(ev.Variant(ev.REFERENCE, self.reference()))
        by_role = {v.role: evaluator.run(case.id, v, cases) for v in variants}
        return ev.figures(by_role, energy_j)

    def _task_cases(self, task: str) -> list[Case]:
        """The run's cases of ``task``, once per prompt (whatever model they were built for)."""
        seen: dict[tuple[str, str, str, str], Case] = {}
        for case in self.suite_cases():
            if case.task == task and case.previous is None:
                seen.setdefault((case.task, case.load, case.level, case.system_name), case)
        if not seen:
            raise ConfigError(f"--wb-finetune-eval {task}: the run has no case of that task; name a task of "
                              "--wb-tasks, holdout or off")
        return list(seen.values())

    def reference(self) -> ModelRef:
        """The payback's reference model, resolved as --wb-model resolves a model."""
        spec = self.options.reference
        assert spec is not None
        refs = self.backend.resolve(spec)
        if len(refs) != 1:
            raise ConfigError(f"--wb-finetune-reference {spec}: names {len(refs)} models; name one")
        return refs[0]

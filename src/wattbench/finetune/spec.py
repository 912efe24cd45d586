"""What a fine-tuning case is: its options (--wb-finetune-*) and its parameters.

Plain data, importing nothing heavy: settings hold a :class:`FinetuneOptions`, the session turns
it into :class:`FinetuneCase` rows (model x data x method x rank x targets), and pytest runs one
test per row, its id starting ``finetune-`` so that ``-k finetune`` selects them.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.ids import id_part

METHODS = ("lora", "qlora")
"""lora: LoRA on the model's weights as loaded (float32 on a CPU, bfloat16 on a GPU); qlora: the
same on 4-bit NF4 weights (bitsandbytes), only where a CUDA GPU is."""

EVAL_HOLDOUT = "holdout"
"""--wb-finetune-eval's default: the held-out examples of the fine-tuning data, scored by chrF
against their reference replies."""


@dataclass(frozen=True)
class FinetuneOptions:
    """The --wb-finetune-* settings (and --wb-target-loss); every case of the run shares them."""

    models: tuple[str, ...] = ()
    """GGUF files or Hugging Face folders; () means the run's --wb-model files."""
    data: tuple[str, ...] = ("builtin",)
    """'builtin' or ShareGPT / Alpaca JSONL files."""
    methods: tuple[str, ...] = ("lora",)
    ranks: tuple[int, ...] = (8,)
    targets: tuple[tuple[str, ...], ...] = (("q_proj", "v_proj"),)
    steps: int = 8
    tokens: int | None = None
    """A budget in training tokens: training stops at whichever of steps and tokens comes first."""
    warmup_steps: int = 1
    batch: int = 4
    learning_rate: float = 2e-4
    seq_tokens: int = 256
    holdout: int = 4
    target_loss: float | None = None
    eval: str = EVAL_HOLDOUT
    """'holdout', 'off', or a task name of the run's task set."""
    reference: str | None = None
    """A model (as --wb-model names it) of the quality the tuned model reaches: the payback's
    reference configuration."""
    seed: int = 42


@dataclass(frozen=True)
class FinetuneCase:
    """One fine-tuning run: a model, its data, a method at a rank on target modules."""

    model: str
    """The model's name in ids."""
    location: Path
    """A GGUF file or a Hugging Face model folder."""
    data: str
    """The data's name in ids: builtin, or the file's stem."""
    data_path: Path | None
    """None: the built-in set."""
    method: str
    rank: int
    targets: tuple[str, ...]
    options: FinetuneOptions

    @property
    def alpha(self) -> int:
        """LoRA's alpha: twice the rank (the common choice), so the update's scale is 2."""
        return 2 * self.rank

    @property
    def id(self) -> str:
        """finetune-model-data-method_rN-targets: -k finetune (or any part) selects it."""
        targets = "+".join(id_part(t) for t in self.targets)
        return f"finetune-{self.model}-{id_part(self.data)}-{self.method}_r{self.rank}-{targets}"

    @property
    def is_gguf(self) -> bool:
        """Whether the model is a GGUF file (else a Hugging Face folder)."""
        return self.location.is_file()

    def method_label(self) -> str:
        """The method as records show it, e.g. 'lora r=8 alpha=16 q_proj+v_proj'."""
        return f"{self.method} r={self.rank} alpha={self.alpha} {'+'.join(self.targets)}"


def rank_list(value: str) -> tuple[int, ...]:
    """--wb-finetune-rank: '8' or '4,8,16' (each a case). Raises argparse.ArgumentTypeError."""
    items = [item for item in value.replace(",", " ").split() if item]
    try:
        ranks = tuple(dict.fromkeys(int(item) for item in items))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: ranks are whole numbers, e.g. 8 or 4,8,16") from None
    if not ranks or min(ranks) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give one or more ranks of 1 or more, e.g. 8 or 4,8,16")
    return ranks


def target_sets(value: str) -> tuple[tuple[str, ...], ...]:
    """--wb-finetune-targets: module sets, comma-separated, each '+'-joined, e.g.
    'q_proj+v_proj,all-linear' (each a case). Raises argparse.ArgumentTypeError."""
    sets = []
    for item in (item for item in value.replace(" ", ",").split(",") if item):
        modules = tuple(m for m in item.split("+") if m)
        bad = [m for m in modules if not m.replace("_", "").replace("-", "").isalnum()]
        if not modules or bad:
            raise argparse.ArgumentTypeError(
                f"{item!r}: a target set is module names joined by '+', e.g. q_proj+v_proj, or all-linear"
            )
        sets.append(modules)
    if not sets:
        raise argparse.ArgumentTypeError("no target modules given; e.g. q_proj+v_proj")
    return tuple(dict.fromkeys(sets))


def resolve_path(spec: str, base: Path) -> str:
    """A path given on the command line (relative to the current directory) or in the ini file
    (relative to it), made absolute."""
    path = Path(spec).expanduser()
    return str(path if path.is_absolute() else base / path)


def finetune_options(values: Mapping[str, Any], bases: Mapping[str, Path]) -> FinetuneOptions:
    """The --wb-finetune-* values (wattbench.options' parsed ``values`` by option name, and each
    option's path base) as FinetuneOptions."""
    return FinetuneOptions(
        models=tuple(resolve_path(m, bases["finetune-model"]) for m in values["finetune-model"] or ()),
        data=tuple(d if d == "builtin" else resolve_path(d, bases["finetune-data"])
                   for d in values["finetune-data"] or ("builtin",)),
        methods=values["finetune-method"], ranks=values["finetune-rank"],
        targets=values["finetune-targets"], steps=values["finetune-steps"], tokens=values["finetune-tokens"],
        warmup_steps=values["finetune-warmup"], batch=values["finetune-batch"],
        learning_rate=values["finetune-lr"], seq_tokens=values["finetune-seq"],
        holdout=values["finetune-holdout"], target_loss=values["target-loss"], eval=values["finetune-eval"],
        reference=values["finetune-reference"], seed=values["seed"],
    )

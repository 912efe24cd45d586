"""Run records with chosen figures, for testing what reports and comparisons conclude from them.

Real runs of the tiny model give every case the same answer, so they cannot show a report
telling configurations apart; these records carry the keys a real record carries, with
figures a test chooses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def record(
    model: str = "m", task: str = "qa", load: str = "short", level: str = "L0", run: int = 0, **figures: Any
) -> dict[str, Any]:
    """A successful run record; ``figures`` override or add keys."""
    base: dict[str, Any] = {
        "case_id": f"{model}-{task}-{load}-{level}",
        "model": model,
        "task": task,
        "load": load,
        "level": level,
        "run": run,
        "timestamp": "2026-11-21T00:00:00+00:00",
        "latency_s": 2.0,
        "ttft_s": 0.2,
        "decode_tokens_per_s": 100.0,
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "energy_j": 100.0,
        "energy_per_token_j": 2.0,
        "energy_method": "measured",
        "energy_source": "nvml",
        "rouge_l": 0.5,
        "backend": "llamacpp",
        "engine_version": "llama-cpp-python 0.3.36",
        "machine_cpu": "Test CPU",
        "machine_gpus": "none",
        "model_sha256": f"sha-{model}",
        "output_text": f"answer of {model} {task} {level} run {run}",
    }
    return {**base, **figures}


def write_run(run_dir: Path, records: Iterable[dict[str, Any]]) -> Path:
    """A run folder holding these records as results.jsonl."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "results.jsonl").open("w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps(r) + "\n")
    return run_dir

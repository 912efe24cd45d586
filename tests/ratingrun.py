"""A run folder of answers to rate: records with a question_text, and a hostile answer among them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studyrecords import record, write_run

HOSTILE = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"> fine answer'
DIMENSIONS = ("correctness", "helpfulness", "clarity", "safety")


def rating_records(answers: int = 10, levels: tuple[str, ...] = ("L0", "L1")) -> list[dict[str, Any]]:
    """``answers`` records over questions q0.. (one answer per level each), the first one HOSTILE."""
    out: list[dict[str, Any]] = []
    for n in range(answers):
        question, level = divmod(n, len(levels))
        out.append(record("m", "qa", f"q{question}", levels[level], 0,
                          question_text=f"Question {question}: what is {question} + {question}?",
                          output_text=HOSTILE if n == 0 else f"It is {2 * question} (answer {n})."))
    return out


def rating_run(path: Path, answers: int = 10, **judge: list[float]) -> Path:
    """A run folder of rating_records(answers); ``judge`` keys write judgements.jsonl grades."""
    records = rating_records(answers)
    write_run(path, records)
    if judge:
        import json

        with (path / "judgements.jsonl").open("w", encoding="utf-8") as out:
            for i, r in enumerate(records):
                line = {"case_id": r["case_id"], "run": 0, "mode": "single", "parse_ok": True}
                line.update({key: values[i] for key, values in judge.items()})
                out.write(json.dumps(line) + "\n")
    return path

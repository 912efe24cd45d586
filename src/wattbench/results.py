"""The run's results file: one JSON line per run, appended and flushed as each run finishes.

A crash loses at most the run in progress. A rerun pointed at the same run directory reads the
file back and skips every case whose runs all finished under the same settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"

# A finished record counts for a rerun only if it was made with the same values of these.
SETTINGS_KEYS = ("backend", "max_tokens", "temperature", "top_p", "seed", "context_tokens")


class ResultsFile:
    """Append-only JSON Lines file of run records."""

    def __init__(self, run_dir: Path, name: str = RESULTS_FILE) -> None:
        self.path = run_dir / name
        self._fd: int | None = None

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as one line, in one write(2) on an O_APPEND descriptor."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                # A crash tore the last line: end it, so the next record starts on a line of its own.
                os.write(self._fd, b"\n")
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        os.write(self._fd, line.encode("utf-8"))

    def close(self) -> None:
        """Close the file descriptor (appending again reopens it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record in the file; a torn last line (a crash mid-write) is skipped."""
        try:
            handle = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record

    def finished_runs(self) -> dict[str, dict[int, dict[str, Any]]]:
        """case_id -> run index -> the latest successful record of that run."""
        done: dict[str, dict[int, dict[str, Any]]] = {}
        for record in self.records():
            case_id, run = record.get("case_id"), record.get("run")
            if not isinstance(case_id, str) or not isinstance(run, int):
                continue
            runs = done.setdefault(case_id, {})
            if "error" in record:
                runs.pop(run, None)
            else:
                runs[run] = record
        return done


def same_settings(record: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """True when ``record`` was made under the settings in ``expected`` (SETTINGS_KEYS only)."""
    return all(record.get(key) == expected.get(key) for key in SETTINGS_KEYS)

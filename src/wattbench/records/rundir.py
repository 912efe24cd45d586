"""The run folder: its layout, and the only way into it.

    <run-dir>/
        results.jsonl      one JSON line per generation (wattbench.records.results), appended as it ends
        judgements.jsonl   one JSON line per judgement (the judge phase)
        judge.json         the judge phase's summary
        baseline.json      the energy set-up and idle baseline
        timeseries/        per-window samples as CSV (--wb-timeseries on)
        finetune.jsonl     one JSON line per fine-tuning run; finetune-eval.jsonl: its evaluation's
                           generations; finetune/<case id>/: loss.csv, adapter.gguf, peft/
                           (wattbench.finetune.front names them)
        .lock              held by the pytest session writing the folder (filelock)

Everything that reads or writes a run goes through :class:`RunDir`, so the layout is written
down once.
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from wattbench.errors import RunDirError
from wattbench.records.results import RESULTS_FILE, ResultsFile

if TYPE_CHECKING:
    from filelock import BaseFileLock

JUDGEMENTS_FILE = "judgements.jsonl"
JUDGE_SUMMARY_FILE = "judge.json"
BASELINE_FILE = "baseline.json"
TIMESERIES_DIR = "timeseries"
LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder"  # pid and host of the session holding the lock, for the message


class RunDir:
    """One run folder: where each file of a run lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: BaseFileLock | None = None
        self._made = False  # claim() created the folder: release() removes it if left empty

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS_FILE

    @property
    def judgements_path(self) -> Path:
        return self.path / JUDGEMENTS_FILE

    @property
    def judge_summary_path(self) -> Path:
        return self.path / JUDGE_SUMMARY_FILE

    @property
    def baseline_path(self) -> Path:
        return self.path / BASELINE_FILE

    def timeseries_path(self, series: str) -> Path:
        """The CSV file of one window's samples."""
        return self.path / TIMESERIES_DIR / f"{series}.csv"

    def results(self) -> ResultsFile:
        """The run's records file."""
        return ResultsFile(self.path, RESULTS_FILE)

    def judgements(self) -> ResultsFile:
        """The judge phase's records file."""
        return ResultsFile(self.path, JUDGEMENTS_FILE)

    def claim(self) -> None:
        """Create the folder, prove it writable and take its lock, before any model loads.

        Raises RunDirError naming the folder and the fix when it cannot be written, or naming
        the process that holds it when another pytest session is writing it.
        """
        try:
            self._made = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(
                f"the run folder {self.path} cannot be written ({exc.strerror or exc}); "
                "point --wb-run-dir at a writable folder"
            ) from None
        import filelock  # a dependency; imported here so reading a run never needs it

        lock = filelock.FileLock(str(self.path / LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = self.path / HOLDER_FILE
            who = holder.read_text(encoding="utf-8").strip() if holder.is_file() else "another process"
            raise RunDirError(
                f"the run folder {self.path} is in use by another pytest session ({who}); wait for "
                "it to finish, or give this run its own --wb-run-dir"
            ) from None
        (self.path / HOLDER_FILE).write_text(f"pid {os.getpid()} on {platform.node()}\n", encoding="utf-8")
        self._lock = lock

    def release(self) -> None:
        """Give the lock back (the session ends). A folder this session made and left empty (a
        run that stopped at start-up, or selected nothing) is removed: no empty run-<time>
        folders pile up in reports/."""
        lock, self._lock = self._lock, None
        if lock is not None:
            (self.path / HOLDER_FILE).unlink(missing_ok=True)
            lock.release()
            if self._made:
                with contextlib.suppress(OSError):
                    if {p.name for p in self.path.iterdir()} <= {LOCK_FILE}:
                        (self.path / LOCK_FILE).unlink(missing_ok=True)
                        self.path.rmdir()

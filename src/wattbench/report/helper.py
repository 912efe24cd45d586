"""A second process that writes the run files (report/runfiles.py) while this one builds the
study, so a large report uses two cores.

At 100,000 records the two halves cost about the same: reading the records, accumulating the
groups, the bootstrap and stats.csv here; results.csv (a float's repr is most of it) and the
workbook there. Each process reads the sources itself: parsing is a tenth of the work, and
sending 100,000 records between processes would cost more than reading them again.

The process is started with "spawn" on every platform: it is what Windows has, and forking a
pytest session (the report after a run) with its monitor threads alive is not safe.

Protocol on one pipe: the helper streams the sources into RunFiles, then reads messages in
order: rows for the workbook's study sheets (workbook.group_sheets() as soon as the groups are
rated, then study_sheets(): a few MB where the study itself is a hundred), FINISH to close its
files, or None to discard them (the report failed; the helper looks for it every thousand
records, so a failed report does not wait for its pass). It answers with (files, notes) or the
exception it raised.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from wattbench.errors import WattbenchError
from wattbench.report.runfiles import RunFiles, add_runs
from wattbench.report.workbook import Sheets

# Below this many bytes of saved runs (about 15,000 records) one process is faster: starting a
# second interpreter and importing the report costs ~0.4 s.
SPLIT_BYTES = 16 * 2**20
FINISH = "finish"  # the message after the last sheets


def worth_splitting(sources: Sequence[Path]) -> bool:
    """Whether a report of ``sources`` should write its run files in a second process."""
    return _cpus() > 1 and sum(_size(s) for s in sources) >= SPLIT_BYTES


def _cpus() -> int:
    """CPUs this process may run on (its affinity where the OS has one, as under taskset or a
    container's cpuset), else the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _size(source: Path) -> int:
    path = source / "results.jsonl" if source.is_dir() else source
    try:
        return path.stat().st_size
    except OSError:
        return 0


class HelperLost(WattbenchError):
    """The helper process ended without an answer (it could not start, or it was killed)."""


class RunFilesHelper:
    """RunFiles written by a helper process that reads ``sources`` itself."""

    def __init__(
        self, sources: Sequence[Path], out_dir: Path, texts: bool, primary: Mapping[str, str] | None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(list(sources), out_dir, texts, dict(primary or {}), theirs),
            name="wattbench-report-run-files",
            daemon=True,  # never outlives the report
        )
        self._sender: threading.Thread | None = None
        self._process.start()
        theirs.close()

    def add_sheets(self, sheets: Sheets) -> None:
        """Hand the helper rows for the workbook's study sheets, from a thread: the helper reads
        them only once its pass is done, and this process has the study to finish meanwhile."""
        self._sending(sheets)

    def _sending(self, message: Sheets | str | None) -> None:
        previous = self._sender
        self._sender = threading.Thread(
            target=self._send_after, args=(previous, message), name="wattbench-report-send"
        )
        self._sender.start()

    def _send_after(self, previous: threading.Thread | None, message: Sheets | str | None) -> None:
        if previous is not None:
            previous.join()  # messages go in the order they were given
        self._send(message)

    def finish(self) -> tuple[list[str], list[str]]:
        """Tell the helper every sheet has been sent; once it is done, its (files written, notes).

        Re-raises the exception the helper raised; raises HelperLost when it ended without an
        answer.
        """
        self._sending(FINISH)
        assert self._sender is not None
        self._sender.join()
        try:
            answer = self._pipe.recv()
        except (EOFError, OSError):
            self.stop()
            raise HelperLost(
                "the report's second process (results.csv, texts, report.xlsx) ended without an "
                f"answer (exit code {self._process.exitcode})"
            ) from None
        self._process.join(timeout=5)  # it has answered: let it exit on its own
        self.stop()
        if isinstance(answer, BaseException):
            raise answer
        files, notes = answer
        return list(files), list(notes)

    def discard(self) -> None:
        """Tell the helper to remove what it wrote (the report failed), and wait for it."""
        self._sending(None)
        assert self._sender is not None
        self._sender.join()
        with contextlib.suppress(EOFError, OSError):
            self._pipe.recv()
        self._process.join(timeout=5)
        self.stop()

    def stop(self) -> None:
        """End the helper (at once if it is still working) and close the pipe."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._pipe.close()

    def _send(self, message: Sheets | str | None) -> None:
        with contextlib.suppress(OSError):  # a helper that already failed has its answer waiting
            self._pipe.send(message)


def _serve(
    sources: list[Path], out_dir: Path, texts: bool, primary: dict[str, str], pipe: Connection
) -> None:
    files: RunFiles | None = None
    inbox: list[Sheets | str | None] = []

    def discarded() -> bool:
        """Read what the report has sent so far; whether it said discard (it failed)."""
        while pipe.poll():
            inbox.append(pipe.recv())
        return None in inbox

    try:
        files = RunFiles(out_dir, texts)
        add_runs(files, sources, primary or None, discarded)
        while not discarded():
            message = inbox.pop(0) if inbox else pipe.recv()
            if message is None:
                inbox.append(message)
            elif isinstance(message, str):  # FINISH
                pipe.send(files.finish())
                return
            else:
                files.add_sheets(message)
        files.discard()
        pipe.send(([], []))
    except BaseException as exc:  # every failure goes back to the report
        if files is not None:
            with contextlib.suppress(Exception):
                files.discard()
        with contextlib.suppress(OSError):  # the report itself may be gone
            pipe.send(_portable(exc))
    finally:
        pipe.close()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (custom __init__ signatures may not), else its message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # whatever unpickling an odd exception raises
        return WattbenchError(f"{type(exc).__name__}: {exc}")
    return exc

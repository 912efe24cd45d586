"""A second process that writes the run files (report/runfiles.py) while this one builds the
study, so a large report uses two cores.

At 100,000 records the two halves cost about the same: reading the records, accumulating the
groups, the bootstrap and stats.csv here; results.csv (a float's repr is most of it) and the
workbook there. Each process reads the sources itself: parsing is a tenth of the work, and
sending 100,000 records between processes would cost more than reading them again.

The helper is a fresh interpreter (``python -c``, this one's sys.path) that imports only this
module, never the caller's ``__main__``: multiprocessing's "spawn" re-runs the main script,
which in a script that calls ``pytest.main()`` without an ``if __name__ == "__main__"`` guard
would start the whole benchmark again in the helper. "fork" is no better: forking a pytest
session with its monitor threads alive is not safe, and Windows has no fork.

Protocol: pickles on the helper's stdin and stdout (its stray prints go to stderr). The report
sends its sys.path, then (sources, out_dir, texts, primary); the helper streams the sources into
RunFiles, then takes, in order: rows for the workbook's study sheets (workbook.group_sheets() as
soon as the groups are rated, then study_sheets(): a few MB where the study itself is a
hundred), FINISH to close its files, or None to discard them (the report failed; the helper
looks for it every thousand records, so a failed report does not wait for its pass). It answers
with (files, notes) or the exception it raised.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from wattbench.errors import WattbenchError
from wattbench.report.runfiles import RunFiles, add_runs
from wattbench.report.workbook import Sheets

# Below this many bytes of saved runs (about 15,000 records) one process is faster: starting a
# second interpreter and importing the report costs ~0.3 s.
SPLIT_BYTES = 16 * 2**20
FINISH = "finish"  # the message after the last sheets
_BOOT = "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); " \
    "from wattbench.report.helper import serve; serve()"


def worth_splitting(sources: Sequence[Path]) -> bool:
    """Whether a report of ``sources`` should write its run files in a second process."""
    return bool(sys.executable) and _cpus() > 1 and sum(_size(s) for s in sources) >= SPLIT_BYTES


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
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin: IO[bytes] = self._process.stdin
        self._stdout: IO[bytes] = self._process.stdout
        # One thread writes every message, in order: the helper reads the study's sheets only
        # once its pass is done, and this process has the study to finish meanwhile.
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._sender = threading.Thread(target=self._send_all, name="wattbench-report-send", daemon=True)
        self._sender.start()
        self._outbox.put(sys.path)
        self._outbox.put((list(sources), out_dir, texts, dict(primary or {})))

    def add_sheets(self, sheets: Sheets) -> None:
        """Hand the helper rows for the workbook's study sheets (sent in the background)."""
        self._outbox.put(sheets)

    def finish(self) -> tuple[list[str], list[str]]:
        """Tell the helper every sheet has been sent; once it is done, its (files written, notes).

        Re-raises the exception the helper raised; raises HelperLost when it ended without an
        answer.
        """
        answer = self._last(FINISH)
        if answer is None:
            raise HelperLost(
                "the report's second process (results.csv, texts, report.xlsx) ended without an "
                f"answer (exit code {self._process.returncode})"
            )
        if isinstance(answer, BaseException):
            raise answer
        files, notes = answer
        return list(files), list(notes)

    def discard(self) -> None:
        """Tell the helper to remove what it wrote (the report failed), and wait for it."""
        self._last(None)

    def _last(self, message: str | None) -> Any:
        """Send the last message, then the helper's answer (None when it gave none); stop it."""
        if not self._sender.is_alive():  # finish() or discard() came before: nothing to say
            return None
        self._outbox.put(message)
        self._outbox.put(_CLOSE)
        self._sender.join()
        try:
            answer = pickle.load(self._stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            answer = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)  # it has answered: let it exit on its own
        self.stop()
        return answer

    def stop(self) -> None:
        """End the helper (at once if it is still working) and close its pipes."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for stream in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                stream.close()

    def _send_all(self) -> None:
        while (message := self._outbox.get()) is not _CLOSE:
            try:
                pickle.dump(message, self._stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._stdin.flush()
            except OSError:  # the helper is gone; finish() says so
                continue
        with contextlib.suppress(OSError):
            self._stdin.close()


_CLOSE = object()  # tells the sender thread that nothing more will be sent


def serve() -> None:
    """The helper process: see the module docstring. Run as ``python -c`` by RunFilesHelper."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot break the protocol
    sys.stdout = sys.stderr
    inbox: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=_receive_all, args=(sys.stdin.buffer, inbox), daemon=True).start()
    files: RunFiles | None = None
    try:
        sources, out_dir, texts, primary = inbox.get()
        files = RunFiles(out_dir, texts)
        early: list[Any] = []

        def discarded() -> bool:
            """Whether the report has said discard (or gone) so far; keeps what else came."""
            while not inbox.empty():
                early.append(inbox.get())
            return any(m is None for m in early)

        add_runs(files, sources, primary or None, discarded)
        while not discarded():
            message = early.pop(0) if early else inbox.get()
            if message is None:
                early.append(message)
            elif isinstance(message, str):  # FINISH
                pickle.dump(files.finish(), answers)
                return
            else:
                files.add_sheets(message)
        files.discard()
        pickle.dump(([], []), answers)
    except BaseException as exc:  # every failure goes back to the report
        if files is not None:
            with contextlib.suppress(Exception):
                files.discard()
        with contextlib.suppress(OSError):  # the report itself may be gone
            pickle.dump(_portable(exc), answers)
    finally:
        with contextlib.suppress(OSError):
            answers.close()


def _receive_all(stream: IO[bytes], inbox: queue.Queue[Any]) -> None:
    """Every message from the report, in order, up to the last (FINISH or None); None (discard)
    when the report goes away before it."""
    try:
        while True:
            message = pickle.load(stream)
            inbox.put(message)
            if message is None or isinstance(message, str):
                return
    except (EOFError, OSError, pickle.UnpicklingError):
        inbox.put(None)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (custom __init__ signatures may not), else its message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # whatever unpickling an odd exception raises
        return WattbenchError(f"{type(exc).__name__}: {exc}")
    return exc

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
sends its sys.path, then (sources, out_dir, texts, primary, sizes, temp folder); the helper
streams the sources into RunFiles (as far as the sizes the report took at its start, so a run
still being appended to gives both processes the same records), then takes, in order: rows for
the workbook's study sheets (workbook.group_sheets() as soon as the groups are rated, then
study_sheets(): a few MB where the study itself is a hundred), FINISH to close its files, or
None to discard them (the report failed; the helper looks for it every thousand records, so a
failed report does not wait for its pass). It answers with (files, notes), or with the
exception it raised and its traceback.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from wattbench.errors import WattbenchError
from wattbench.records.results import ResultsFile
from wattbench.report.runfiles import RESULTS_CSV, WORKBOOK, RunFiles, add_runs
from wattbench.report.workbook import Sheets

# Below this many bytes of saved runs (about 15,000 records) one process is faster: starting a
# second interpreter and importing the report costs ~0.3 s.
SPLIT_BYTES = 16 * 2**20
STOP_GRACE_S = 5.0  # stop() waits this long for the killed helper, then for the sender thread
FINISH = "finish"  # the message after the last sheets
_BOOT = "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); " \
    "from wattbench.report.helper import serve; serve()"


def worth_splitting(sources: Sequence[Path]) -> bool:
    """Whether a report of ``sources`` should write its run files in a second process: run
    folders only (a --benchmark-json file is read whole, so two processes would hold it twice),
    large enough, with a second CPU and a Python that can start itself (a frozen app's
    executable is the app: it would run again)."""
    if not sys.executable or getattr(sys, "frozen", False) or _cpus() < 2:
        return False
    if not all(source.is_dir() for source in sources):
        return False
    return sum(ResultsFile(s).size() for s in sources) >= SPLIT_BYTES


def _cpus() -> int:
    """CPUs this process may run on (its affinity where the OS has one, as under taskset or a
    container's cpuset), else the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class HelperLost(WattbenchError):
    """The helper process ended without an answer (it could not start, or it was killed)."""


class HelperTraceback(WattbenchError):
    """Where in the helper process an error it sends back was raised (its traceback, as text)."""


class RunFilesHelper:
    """RunFiles written by a helper process that reads ``sources`` itself (as far as ``sizes``)."""

    def __init__(
        self,
        sources: Sequence[Path],
        out_dir: Path,
        texts: bool,
        primary: Mapping[str, str] | None,
        sizes: Mapping[Path, int],
    ) -> None:
        self._stopped = False
        self._out_dir = out_dir
        # The helper's temp files live here: it removes them, and so does stop(), killed or not.
        # Made first: a helper started before a failure here would wait for its input until exit.
        self._temp = Path(tempfile.mkdtemp(prefix="wattbench-report-"))
        # -I: the helper imports nothing from the current folder or PYTHON* variables before
        # it takes this process's sys.path (a pickle.py in the folder would have run first).
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except BaseException:
            shutil.rmtree(self._temp, ignore_errors=True)
            raise
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin: IO[bytes] = self._process.stdin
        self._stdout: IO[bytes] = self._process.stdout
        # One thread writes every message, in order: the helper reads the study's sheets only
        # once its pass is done, and this process has the study to finish meanwhile.
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._sender = threading.Thread(target=self._send_all, name="wattbench-report-send", daemon=True)
        self._sender.start()
        self._outbox.put(sys.path)
        self._outbox.put((list(sources), out_dir, texts, dict(primary or {}), dict(sizes), self._temp))

    def add_sheets(self, sheets: Sheets) -> None:
        """Hand the helper rows for the workbook's study sheets (sent in the background)."""
        self._outbox.put(sheets)

    def raise_if_failed(self) -> None:
        """Re-raise the helper's error now if it has already stopped (it stops early only when it
        fails), so the report fails before writing anything more. A helper that stopped without
        an answer is left for finish() to report as lost."""
        if self._process.poll() is not None:
            answer = self._last(None)
            if answer is not None:
                self._raise(answer)

    def finish(self) -> tuple[list[str], list[str]]:
        """Tell the helper every sheet has been sent; once it is done, its (files written, notes).

        Re-raises the exception the helper raised (caused by a HelperTraceback that shows where);
        raises HelperLost when it ended without an answer.
        """
        answer = self._last(FINISH)
        self._raise(answer)
        files, notes = answer
        return list(files), list(notes)

    def discard(self) -> None:
        """Tell the helper to remove what it wrote (the report failed), wait for it, and remove
        its files here too (it may have been stopped first, by an interrupt)."""
        self._last(None)
        for name in (RESULTS_CSV, WORKBOOK):
            with contextlib.suppress(OSError):
                (self._out_dir / name).unlink(missing_ok=True)

    def _raise(self, answer: Any) -> None:
        if answer is None:
            raise HelperLost(
                "the report's second process (results.csv, texts, report.xlsx) ended without an "
                f"answer (exit code {self._process.returncode})"
            )
        if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], BaseException):
            error, where = answer
            raise error from HelperTraceback(f"in the report's second process:\n{where}")

    def _last(self, message: str | None) -> Any:
        """Send the last message, then the helper's answer (None when it gave none); stop it,
        whatever happens meanwhile (an interrupt included)."""
        if self._stopped:
            return None
        try:
            self._outbox.put(message)
            self._outbox.put(_CLOSE)
            self._sender.join()
            try:
                answer = pickle.load(self._stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                return None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)  # it has answered: let it exit on its own
            return answer
        finally:
            self.stop()  # at once when interrupted before the answer

    def stop(self) -> None:
        """End the helper (at once if it is still working), close its pipes, remove its temp files;
        within seconds: a helper or sender thread that does not end is left, said on stderr."""
        self._stopped = True
        if self._process.poll() is None:
            self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=STOP_GRACE_S)
        self._outbox.put(_CLOSE)  # the sender's last message, if an interrupt came before it
        self._sender.join(timeout=STOP_GRACE_S)  # a write to a helper gone fails at once
        streams = [self._stdout]
        if not self._sender.is_alive():  # else it holds stdin's lock, and close() would wait
            streams.append(self._stdin)
        for stream in streams:
            with contextlib.suppress(OSError):
                stream.close()
        shutil.rmtree(self._temp, ignore_errors=True)
        if self._process.returncode is None or self._sender.is_alive():
            with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed, or None
                sys.stderr.write(
                    f"wattbench: the report's second process (pid {self._process.pid}) has not ended "
                    f"{STOP_GRACE_S:g} s after it was killed; left running, the exit does not wait for it\n"
                )

    def _send_all(self) -> None:
        while (message := self._outbox.get()) is not _CLOSE:
            try:
                pickle.dump(message, self._stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._stdin.flush()
            except (OSError, ValueError):  # the helper is gone (or its pipe closed): finish() says so
                continue
        with contextlib.suppress(OSError):
            self._stdin.close()


_CLOSE = object()  # tells the sender thread that nothing more will be sent


def serve() -> None:
    """The helper process: see the module docstring. Run as ``python -I -c`` by RunFilesHelper."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    if sys.stderr is not None:  # pythonw has none: a stray print then goes nowhere
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot break the protocol
    else:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    inbox: queue.Queue[Any] = queue.Queue()
    threading.Thread(
        target=_receive_all, args=(sys.stdin.buffer, inbox), name="wattbench-report-receive", daemon=True
    ).start()
    files: RunFiles | None = None
    temp: Path | None = None
    try:
        sources, out_dir, texts, primary, sizes, temp = inbox.get()
        files = RunFiles(out_dir, texts, temp)
        early: list[Any] = []

        def discarded() -> bool:
            """Whether the report has said discard (or gone) so far; keeps what else came."""
            while not inbox.empty():
                early.append(inbox.get())
            return any(m is None for m in early)

        add_runs(files, sources, primary or None, sizes, discarded)
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
    except BaseException as exc:  # every failure goes back to the report, with where it happened
        if files is not None:
            files.discard()
        with contextlib.suppress(OSError):  # the report itself may be gone
            pickle.dump((_portable(exc), traceback.format_exc()), answers)
    finally:
        with contextlib.suppress(OSError):
            answers.close()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
        sys.stderr.flush()
        # Not a normal exit: the thread reading stdin may hold its lock, and finalisation would
        # then abort ("Fatal Python error: _enter_buffered_busy", a core file). Every file is
        # closed by now.
        os._exit(0)


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

"""In-process engines in a process of their own: one worker process per loaded model.

Why: an in-process engine is native code, and native code can die. llama.cpp's AMX path
segfaults on some Xeons (llama.cpp#20824); a new quant type, a driver or a CUDA error can abort;
the kernel's OOM killer can take the process. In pytest's own process that ends the whole run and
every model after it. In a worker, the case in flight fails with the signal named
(EngineCrashedError), the model's other cases fail at once with the same reason, and the next
model starts a fresh worker. pytest-xdist treats a crashed worker the same way: the item that was
running is reported as crashed, and the run goes on in a new worker.

Design:

- ``ProcessBackend`` wraps a Backend whose class says ``in_process = True``. ``resolve`` runs
  here (file look-ups); ``load`` starts a worker that builds the same backend class from the same
  BackendOptions and loads the model there. ``EngineProcess`` is the loaded model's proxy.
- The worker is a fresh interpreter (``python -I -c``, with this process's sys.path), as the
  report's helper is: multiprocessing's "spawn" re-runs the caller's ``__main__`` (a script that
  calls ``pytest.main()`` unguarded would start its benchmark again), and forking a pytest session
  whose sampler threads are running is not safe (and Windows has no fork).
- Protocol: pickles over the worker's stdin and stdout. The worker first moves its stdout to a
  private descriptor and points descriptor 1 at stderr, so nothing the engine's C code prints can
  corrupt the stream. A thread here reads its stderr and keeps the last lines for a crash message.
- Timestamps stay where the tokens are made: the engine stamps each token with
  ``time.perf_counter`` in the worker. That is the system's monotonic clock (CLOCK_MONOTONIC,
  QueryPerformanceCounter, mach_absolute_time), shared by both processes; the worker's clock is
  checked against this one once per load, and an offset, where one shows, is taken out.
- Energy windows open and close here, around the call: one pipe round trip (about 0.1 ms,
  bench/overhead.py) inside a window as long as the generation.
- The worker ignores SIGINT: Ctrl-C interrupts pytest here, which then stops the worker; a worker
  whose parent is gone reads end-of-file on its stdin and exits.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from wattbench.backends.protocol import (
    Backend,
    BackendOptions,
    Generation,
    LoadedModel,
    LoadOptions,
    Message,
    ModelRef,
    OutputFormat,
    Sampling,
)
from wattbench.errors import (
    EngineCrashedError,
    GenerationError,
    ModelLoadError,
    WattbenchError,
)
from wattbench.monitors.gauges import own_tree

_BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from wattbench.backends.engineprocess import serve; serve()"
)
STOP_TIMEOUT_S = 10.0  # a worker asked to close that has not exited by then is killed
LOG_LINES = 40  # the worker's last stderr lines kept for a crash message
WINDOWS_CRASHES = {  # NTSTATUS codes, as Windows reports a crashed process's exit status
    0xC0000005: "an access violation (0xC0000005)", 0xC00000FD: "a stack overflow (0xC00000FD)",
    0xC0000409: "a fail-fast abort (0xC0000409)",
}


def isolate(backend: Backend, options: BackendOptions, isolation: str) -> Backend:
    """``backend`` with its models in worker processes where it runs in-process (its class says
    ``in_process = True``) and ``isolation`` is 'process' (--wb-isolation); else itself."""
    if isolation == "process" and getattr(backend, "in_process", False):
        return ProcessBackend(backend, options)
    return backend


def crash_of(error: BaseException) -> EngineCrashedError | None:
    """The engine crash behind ``error`` (itself, or what a failed warm-up was caused by)."""
    for candidate in (error, error.__cause__):
        if isinstance(candidate, EngineCrashedError):
            return candidate
    return None


def class_path(backend: Backend) -> str:
    """'module:QualifiedName' of the backend's class, which the worker imports."""
    cls = type(backend)
    return f"{cls.__module__}:{cls.__qualname__}"


def how_it_ended(returncode: int) -> str:
    """A process's end in words: 'SIGSEGV (signal 11)', 'exit status 3', ..."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        else:
            name = f"{name} (signal {-returncode})"
        if -returncode == getattr(signal, "SIGKILL", 9):
            name += ": killed, e.g. by the kernel's out-of-memory killer"
        return name
    return WINDOWS_CRASHES.get(returncode & 0xFFFFFFFF, f"exit status {returncode}")


class ProcessBackend:
    """``inner``, with each loaded model in a worker process of its own (see the module doc)."""

    in_process = False  # the wrapper itself is not wrapped again

    def __init__(self, inner: Backend, options: BackendOptions) -> None:
        self.inner = inner
        self.name = inner.name
        self.engine_version = inner.engine_version
        self.options = options
        self.crashes: list[EngineCrashedError] = []  # for the run's summary

    def resolve(self, spec: str) -> list[ModelRef]:
        """The inner backend's models (looked up in this process)."""
        return self.inner.resolve(spec)

    def load(self, ref: ModelRef, options: LoadOptions) -> EngineProcess:
        """Start a worker and load ``ref`` in it; ModelLoadError when either fails."""
        return EngineProcess(class_path(self.inner), self.options, ref, options, self.crashes.append)


class _Log:
    """The worker's stderr, read by a thread; the last LOG_LINES lines are kept."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._thread = threading.Thread(target=self._read, args=(stream,), name="wattbench-engine-log",
                                        daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in stream:
                self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def last_words(self) -> str:
        """The line that says most about a crash: Python's 'Fatal Python error' line where there
        is one (faulthandler), else the last line the worker printed; '' for none."""
        self._thread.join(timeout=2.0)  # the worker has ended: its last lines are on their way
        lines = [line.strip() for line in self.lines if line.strip()]
        for line in lines:
            if line.startswith("Fatal Python error"):
                return line
        return lines[-1] if lines else ""


class EngineProcess:
    """A model loaded in a worker process (LoadedModel); see the module doc."""

    def __init__(
        self, backend_class: str, backend_options: BackendOptions, ref: ModelRef, options: LoadOptions,
        on_crash: Callable[[EngineCrashedError], None] | None = None,
    ) -> None:
        self.ref = ref
        self.load_s: float | None = None
        self.metadata: Mapping[str, object] = {}
        self._on_crash = on_crash
        self._crash: EngineCrashedError | None = None
        self._busy = False  # a call is in flight: an interrupt left the worker mid-answer
        self._clock_offset_s = 0.0
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise ModelLoadError(f"{ref.name}: could not start the engine's worker process ({exc})") from None
        own_tree().refresh()  # its CPU time is the case's: the estimate and gauges must see it now
        assert self._process.stdin and self._process.stdout and self._process.stderr
        self._stdin: IO[bytes] = self._process.stdin
        self._stdout: IO[bytes] = self._process.stdout
        self._log = _Log(self._process.stderr)
        try:
            with contextlib.suppress(OSError):  # a worker that died at once is reported by _call
                pickle.dump(sys.path, self._stdin)
            self.load_s, metadata = self._call("loading the model", "load", backend_class,
                                               backend_options, ref, options)
            self._clock_offset_s = self._measure_clock()
        except EngineCrashedError as exc:
            raise ModelLoadError(str(exc)) from None
        except BaseException:
            self._stop()
            raise
        self.metadata = {**metadata, "engine_isolation": "process"}

    # -- the calls ---------------------------------------------------------------------------
    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt length in the model's own tokens, counted in the worker."""
        count: int = self._call("counting prompt tokens", "count_prompt_tokens", _plain(messages))
        return count

    def generate(
        self, messages: Sequence[Message], sampling: Sampling, output: OutputFormat | None = None
    ) -> Generation:
        """One generation in the worker; EngineCrashedError when the worker dies doing it (and at
        once on every later call)."""
        if output is not None and output.schema is not None:  # a read-only mapping does not pickle
            output = dataclasses.replace(output, schema=json.loads(json.dumps(output.schema)))
        # Without an output format the call is the two-argument one the in-process loop makes: a
        # conftest's wrapper of generate(messages, sampling) works the same in the worker.
        args = (_plain(messages), sampling) if output is None else (_plain(messages), sampling, output)
        generation: Generation = self._call("generating", "generate", *args)
        if self._clock_offset_s:
            generation = _shifted(generation, -self._clock_offset_s)
        return generation

    def close(self) -> None:
        """Free the model and end the worker (killed when it does not end within STOP_TIMEOUT_S,
        and at once when an interrupt left it in the middle of a call)."""
        if self._busy:
            self._process.kill()
        elif self._crash is None and self._process.poll() is None:
            with contextlib.suppress(WattbenchError):
                self._call("closing the model", "close")
        self._stop()

    # -- the pipe ----------------------------------------------------------------------------
    def _call(self, doing: str, method: str, *args: Any) -> Any:
        if self._crash is not None:
            raise self._crash
        self._busy = True
        try:
            pickle.dump((method, args), self._stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._stdin.flush()
            kind, value = pickle.load(self._stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise self._crashed(doing) from None
        self._busy = False
        if kind == "error":
            raise value
        return value

    def _measure_clock(self) -> float:
        """The worker's time.perf_counter minus this one's: 0 where the two share a clock."""
        before = time.perf_counter()
        theirs: float = self._call("reading the clock", "clock")
        after = time.perf_counter()
        return 0.0 if before <= theirs <= after else theirs - (before + after) / 2

    def _crashed(self, doing: str) -> EngineCrashedError:
        """The error for a worker that ended without an answer; remembered for later calls."""
        try:
            code = self._process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # it closed its pipe but lives on: end it
            self._process.kill()
            code = self._process.wait()
        how = how_it_ended(code)
        said = self._log.last_words()
        error = EngineCrashedError(
            f"{self.ref.name}: the engine's process died of {how} while {doing}"
            + (f" (its last words: {said!r})" if said else "")
            + "; the model's other cases fail without running, and the run goes on with the next model",
            how,
        )
        self._crash = error
        self._busy = False
        self._stop()
        if self._on_crash is not None:
            self._on_crash(error)
        return error

    def _stop(self) -> None:
        for stream in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _plain(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Messages as plain dicts (a read-only mapping does not pickle)."""
    return [dict(m) for m in messages]


def _shifted(generation: Generation, by: float) -> Generation:
    """``generation`` with every timestamp moved by ``by`` seconds."""
    moved = {
        name: getattr(generation, name) + by
        for name in ("requested_at", "first_token_at", "last_token_at", "done_at", "first_answer_at")
        if getattr(generation, name) is not None
    }
    return dataclasses.replace(generation, **moved)


# -- the worker's side ---------------------------------------------------------------------------
def _portable(error: BaseException, fallback: type[WattbenchError]) -> BaseException:
    """``error`` itself where it survives a pickle round trip, else ``fallback`` with its text."""
    error.__traceback__ = None
    error.__cause__ = error.__context__ = None
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return fallback(f"{type(error).__name__}: {error}")
    return error


def serve() -> None:
    """The worker's loop: load one model, then answer calls until 'close' or end of input."""
    import faulthandler

    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the engine's own prints go to stderr, never into the pickles
    sys.stdout = sys.stderr
    faulthandler.enable()  # a segfault prints Python's stack and 'Fatal Python error' on stderr
    with contextlib.suppress(AttributeError, ValueError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = sys.stdin.buffer
    model: LoadedModel | None = None

    def answer(kind: str, value: Any) -> None:
        pickle.dump((kind, value), channel, protocol=pickle.HIGHEST_PROTOCOL)
        channel.flush()

    handlers: Mapping[str, Callable[..., Any]] = {}
    while True:
        try:
            method, args = pickle.load(inbox)
        except EOFError:
            break
        if method == "load":
            backend_class, backend_options, ref, options = args
            try:
                model = _load(backend_class, backend_options, ref, options)
            except BaseException as exc:
                answer("error", _portable(exc, ModelLoadError))
                continue
            handlers = {"generate": model.generate, "count_prompt_tokens": model.count_prompt_tokens}
            answer("ok", (model.load_s, dict(model.metadata)))
        elif method == "clock":
            answer("ok", time.perf_counter())
        elif method == "close":
            if model is not None:
                model.close()
            answer("ok", None)
            break
        else:
            try:
                result = handlers[method](*args)
            except BaseException as exc:
                answer("error", _portable(exc, GenerationError))
                continue
            answer("ok", result)
    channel.close()


def _load(backend_class: str, options: BackendOptions, ref: ModelRef, load: LoadOptions) -> LoadedModel:
    """Build ``backend_class`` from ``options`` and load ``ref`` with it, in the worker."""
    module_name, _, qualname = backend_class.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(
            f"the engine's worker process cannot import {backend_class} ({exc}); make it importable "
            "(a module on sys.path, not a test file), or run engines in pytest's process with "
            "--wb-isolation off"
        ) from None
    backend: Backend = found(options)
    return backend.load(ref, load)

"""The test harness that runs INSIDE the sandbox: loads the tests, then the answer, runs the tests.

This file is executed as a script by a bare interpreter (``python -I -S -B harness.py ...``): it
imports the standard library only, never wattbench. Its contract with ``sandbox.py``:

- argv: ``FOLDER MODE FD CPU_S MEMORY_MB FILE_SIZE_BYTES PROCESSES``; FOLDER holds ``setup.py`` (the
  task's helper code, may be empty), ``answer.py`` (the model's code) and ``tests.py``; MODE is
  ``bwrap`` or ``guard`` (guard adds today's in-process refusals, for hosts without bubblewrap).
- stdin: the nonce, one line, written by the parent and then closed. The harness reads it before
  any answer code exists and replaces stdin with /dev/null.
- fd FD: the verdict channel, a pipe to the parent. The harness writes ONE JSON line,
  ``{"nonce", "passed", "error", "forked", "suspicious"}``; the parent counts a pass only when that line
  carries its nonce and says passed. Writing it is the job of an audit hook (PEP 578) whose
  closure is the only holder of the nonce: the answer can find the fd, but not what to write to it.

Order: read and compile all three files (so the tests are loaded before the answer and rewriting
a file later changes nothing), set the rlimits, install the hook, run the setup, then import the
answer as the module ``solution`` (``__name__ != "__main__"``), then run the tests' code in a
namespace of their own with a fresh copy of the builtins. The answer's functions reach the tests
through wrappers that fail a result comparing equal to anything.

While answer code can run, the hook refuses what would let it reach the harness's state: stack
frames (``sys._getframe`` raises ValueError, which the standard library's callers expect;
``tb_frame``/``gi_frame``), ``gc`` object walks, ``sys.settrace``/``setprofile``, ctypes,
opening anything under /proc (``/proc/self/mem``), threads and further audit hooks. The verdict
event is honoured only from the harness's own ``main`` frame, in the harness's own process, once.
A pass also needs: no ``SystemExit`` from the answer and builtins unchanged; each is a failure
with a ``suspicious`` reason. The harness ends with ``os._exit`` right after its verdict, so exit
handlers (``atexit``, which the standard library's logging registers too) never run and cannot
change a result.

Limits (said plainly): this is one interpreter shared with the answer. It closes the known ways
for code to *happen* to pass (early exits, patched builtins, always-equal objects) and the direct
ways to forge the signal; it is not a proof against code written to defeat this particular file.
What holds regardless is the OS sandbox around it: such code can fail to be scored correctly,
but not escape, leak or outlive the run.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import resource
import sys
import types
from collections.abc import Callable
from typing import Any

FILES = ("setup.py", "answer.py", "tests.py")
# Line numbers are shifted per file, so a traceback's line numbers alone say which file failed:
# the harness never needs the frames it refuses to the answer.
LINE_OFFSET = 1_000_000
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
PROCESS_EVENTS = frozenset({
    "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
    "subprocess.Popen", "pty.spawn",
})
PATH_EVENTS = frozenset({
    "os.remove", "os.rmdir", "os.rename", "os.chmod", "os.chown", "os.link", "os.symlink",
    "os.truncate", "shutil.rmtree", "os.mkdir",
})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_MISSING = object()


class _Unequal:
    """Equal to nothing but itself: what a real result compares unequal to."""

    __slots__ = ()


def _equals_anything(
    value: Any, depth: int = 0, *, _bool: Any = bool, _type: Any = type, _list: Any = list,
    _unequal: Any = _Unequal,
) -> bool:
    """True when ``value`` (or an element, 3 levels down) claims equality with a fresh object.

    The builtins it uses are bound at definition, before any answer code exists.
    """
    probe = _unequal()
    try:
        if _bool(value == probe) or not _bool(value != probe):
            return True
    except Exception:  # a comparison that raises is not an always-equal object
        return False
    if depth >= 3:
        return False
    kind = _type(value)
    items: list[Any] = []
    if kind in (list, tuple, set, frozenset):
        items = _list(value)[:1000]
    elif kind is dict:
        for key, item in _list(value.items())[:1000]:
            items += [key, item]
    for item in items:  # noqa: SIM110 - any() is a builtin the answer may have patched by now
        if _equals_anything(item, depth + 1):
            return True
    return False


def _make_guard(
    audit: Callable[..., None], equals: Callable[[Any], bool]
) -> tuple[Callable[[str], None], Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """``flag(reason)`` and ``guarded(function)``, closed over what they use (no global lookups)."""

    def flag(reason: str) -> None:
        audit("wattbench.flag", reason)

    def guarded(function: Callable[..., Any]) -> Callable[..., Any]:
        """The answer's function as the tests see it: a result equal to anything is a failure."""

        def call(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            if equals(result):
                reason = "returns an object that compares equal to anything"
                flag(reason)
                raise AssertionError("sandbox: the answer " + reason)
            return result

        call.__name__ = getattr(function, "__name__", "answer")
        call.__qualname__ = getattr(function, "__qualname__", call.__name__)
        call.__doc__ = getattr(function, "__doc__", None)
        call.__wrapped__ = function  # type: ignore[attr-defined]
        return call

    return flag, guarded


def _compile(name: str, source: str) -> types.CodeType:
    tree = ast.parse(source, name)
    ast.increment_lineno(tree, LINE_OFFSET * (FILES.index(name) + 1))
    return compile(tree, name, "exec")


def _where(lineno: int, sources: dict[str, str]) -> str:
    index, line = divmod(lineno, LINE_OFFSET)
    if not 1 <= index <= len(FILES):
        return ""
    name = FILES[index - 1]
    lines = sources[name].splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return f" at {name} line {line}: {text[:160]}"


def _describe(error: BaseException, exception_types: frozenset[type], sources: dict[str, str]) -> str:
    """'AssertionError at tests.py line 2: assert ...': no frame and no answer code is touched."""
    kind = type(error)
    name: str = type.__dict__["__name__"].__get__(kind)  # the real name, whatever a metaclass says
    if kind in exception_types and all(type(arg) in (str, int, float) for arg in error.args):
        message = ", ".join(str(arg) for arg in error.args)[:200]
        if message:
            name += f": {message}"
    deepest = 0
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_lineno > LINE_OFFSET:
            deepest = tb.tb_lineno
        tb = tb.tb_next
    return name + _where(deepest, sources)


def _install_hook(nonce: str, fd: int, main_code: types.CodeType, guard_root: str | None) -> None:
    """The audit hook: the only holder of the nonce; writes the verdict; refuses what it must."""
    # Everything the hook calls is bound here, before any answer code exists: patching os,
    # os.path or builtins later changes nothing the hook does.
    write, exit_now, getpid, getframe = os.write, os._exit, os.getpid, sys._getframe
    realpath, dumps, sep = os.path.realpath, json.dumps, os.sep
    is_instance, to_bool, to_str, length, any_of = isinstance, bool, str, len, any
    type_of, fspath = type, os.fspath

    def decode(path: Any) -> str:
        """A path as str without os.fsdecode, whose own isinstance calls a patch would reach."""
        kind = type_of(path)
        if kind is str:
            return path  # type: ignore[no-any-return]
        if kind is bytes:
            return path.decode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
        return decode(fspath(path))

    def resolve(name: str) -> str:
        try:
            return realpath(name)
        except Exception:  # a patched builtin broke posixpath: refuse rather than guess
            refuse("opening a path that cannot be resolved (" + name + ")", True)
            raise
    pid = getpid()
    builtins_now = builtins.__dict__
    builtins_then = dict(builtins_now)
    state: dict[str, Any] = {"phase": "trusted", "busy": False, "done": False, "flags": []}
    flags: list[str] = state["flags"]

    def send(passed: bool, error: str) -> None:
        line = dumps({"nonce": nonce, "passed": passed, "error": error, "forked": getpid() != pid,
                      "suspicious": "; ".join(dict.fromkeys(flags)) or None})
        write(fd, line.encode() + b"\n")

    def refuse(what: str, suspicious: bool, error: type[Exception] = PermissionError) -> None:
        if suspicious:
            flags.append(what)
        raise error("sandbox: " + what + " is not allowed")

    def verdict(passed: bool, error: str) -> None:
        state["busy"] = True
        caller = getframe(2)  # 0: this function, 1: the hook, 2: who called sys.audit
        if getpid() != pid:
            flags.append("forks a copy of the harness (os.fork) that reached the verdict")
            send(False, "a process the answer forked tried to report a result")
            exit_now(1)
        if caller.f_code is not main_code or state["done"]:
            flags.append("forges the harness's verdict")
            send(False, "the answer tried to report its own result")
            exit_now(1)
        state["done"] = True
        changed = sorted(k for k, v in builtins_then.items() if builtins_now.get(k, _MISSING) is not v)
        if changed:
            flags.append("patches builtins: " + ", ".join(changed[:8]))
        if flags and passed:
            passed, error = False, "suspicious: " + "; ".join(dict.fromkeys(flags))
        send(passed, error)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if state["busy"]:
            return
        if event == "wattbench.verdict":
            verdict(to_bool(args[0]), to_str(args[1]))
            return
        if event == "wattbench.flag":
            flags.append(to_str(args[0])[:200])
            return
        if event == "wattbench.phase":
            state["phase"] = "answer"  # one way only: nothing turns the refusals off again
            return
        if state["phase"] != "answer":
            return
        if event in ("sys._getframe", "sys._current_frames"):
            refuse("inspecting the call stack", False, ValueError)  # stdlib callers expect ValueError
        elif event == "object.__getattr__" and length(args) > 1 and args[1] in FRAME_ATTRIBUTES:
            refuse("reading stack frames", True, AttributeError)
        elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
            refuse("walking the interpreter's objects (" + event + ")", True)
        elif event in ("sys.settrace", "sys.setprofile", "sys.addaudithook"):
            refuse(event, True)
        elif event.startswith("ctypes."):
            refuse("ctypes", True)
        elif event == "_thread.start_new_thread":
            refuse("starting threads", False)
        elif event == "open":
            path, mode, open_flags = args
            if is_instance(path, int):
                return
            name = decode(path)
            real = "/proc" if name.startswith("/proc") else resolve(name)
            if real == "/proc" or real.startswith("/proc/"):
                refuse("reading /proc (" + name + ")", True)
            if guard_root is not None:
                writing = (is_instance(mode, str) and any_of(c in mode for c in "wax+")) or to_bool(
                    (open_flags or 0) & WRITE_FLAGS
                )
                if writing and not inside(real, guard_root):
                    refuse("writing outside the sandbox directory (" + name + ")", True)
        elif guard_root is not None:
            guard(event, args, guard_root)

    def inside(real: str, root: str) -> bool:
        return real == root or real.startswith(root + sep)

    def guard(event: str, args: tuple[Any, ...], root: str) -> None:
        """The weaker guard's extra refusals (no OS sandbox): network, processes, signals, paths."""
        if event.startswith("socket."):
            refuse("network access", True)
        elif event in PROCESS_EVENTS:
            refuse("starting processes", True)
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            refuse("sending signals", True)
        elif event in PATH_EVENTS and args:
            try:
                real = realpath(decode(args[0]))
            except Exception:  # not a path, or a patched builtin broke posixpath
                real = ""
            if not inside(real, root):
                refuse(event + " outside the sandbox directory", True)

    sys.addaudithook(hook)


def _set_limits(cpu_s: int, memory_mb: int, file_size: int, processes: int) -> None:
    """Set each rlimit, never above the hard limit this process already has (it could not)."""
    wanted = (
        (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),
        (resource.RLIMIT_AS, memory_mb * 1024 * 1024, memory_mb * 1024 * 1024),
        (resource.RLIMIT_FSIZE, file_size, file_size),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, processes, processes),
    )
    for which, soft, hard in wanted:
        ceiling = resource.getrlimit(which)[1]
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(which, (soft, hard))


def main() -> None:
    """Run setup, answer and tests of argv[1]; report on fd argv[3]; exit without running exit hooks."""
    exit_now, audit, streams = os._exit, sys.audit, (sys.stdout, sys.stderr)
    nonce = os.read(0, 256).decode("ascii", "replace").strip()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    folder, mode = sys.argv[1], sys.argv[2]
    fd, cpu_s, memory_mb, file_size, processes = (int(value) for value in sys.argv[3:8])
    sources: dict[str, str] = {}
    for name in FILES:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            sources[name] = handle.read()
    guard_root = os.path.realpath(os.getcwd()) if mode == "guard" else None
    _install_hook(nonce, fd, main.__code__, guard_root)
    del nonce
    flag, guarded = _make_guard(audit, _equals_anything)
    # Every builtin used once answer code has run is bound now: patching builtins (and putting
    # them back before the verdict's check) cannot change how the harness runs the tests.
    run, is_function, function_type, copy = exec, isinstance, types.FunctionType, dict
    early_exit, anything = SystemExit, BaseException
    # The answer cannot reach (and patch) this module by name: `import __main__` finds nothing.
    sys.modules.pop("__main__", None)
    exception_types = frozenset(
        v for v in vars(builtins).values() if isinstance(v, type) and issubclass(v, BaseException)
    )
    clean_builtins = dict(vars(builtins))
    failure: str | None = None
    try:
        codes = {name: _compile(name, sources[name]) for name in FILES}
    except SyntaxError as error:
        failure = f"SyntaxError in {error.filename}: {error.msg}"
    _set_limits(cpu_s, memory_mb, file_size, processes)
    if failure is None:
        module = types.ModuleType("solution")
        module.__file__ = "answer.py"
        sys.modules["solution"] = module
        namespace = module.__dict__
        exec(codes["setup.py"], namespace)
        before = dict(namespace)
        audit("wattbench.phase", "answer")
        try:
            run(codes["answer.py"], namespace)
        except early_exit:
            flag("exits (sys.exit) while it is imported, before the tests ran")
            failure = "the answer exited before the tests ran"
        except anything as error:  # the answer's own failure, whatever it is
            failure = _describe(error, exception_types, sources)
    if failure is None:
        tests: dict[str, Any] = {
            key: guarded(value) if is_function(value, function_type) and before.get(key) is not value
            else value
            for key, value in namespace.items()
        }
        tests["__builtins__"] = copy(clean_builtins)
        tests["__name__"] = "tests"
        try:
            run(codes["tests.py"], tests)
        except early_exit:
            flag("exits (sys.exit) during the tests")
            failure = "the answer exited during the tests"
        except anything as error:
            failure = _describe(error, exception_types, sources)
    for stream in streams:  # the real ones, whatever the answer put in sys.stdout
        try:  # noqa: SIM105 - contextlib is a module the answer may have patched by now
            stream.flush()
        except (OSError, ValueError):  # a full disk, a stream the answer closed
            pass
    audit("wattbench.verdict", failure is None, failure or "")
    exit_now(0)  # atexit handlers and finalizers the answer left do not run


if __name__ == "__main__":
    main()

"""Running model-written Python, which is untrusted, in a sandbox.

Layers, each enough for some attacks and together for the ones the tests try:
- its own session and process group, killed whole (SIGKILL) when the run ends or times out;
- a wall-clock timeout, and rlimits: CPU seconds, address space (memory), file size, processes;
- a fresh temporary directory as working directory and HOME, removed afterwards;
- an environment of PATH, HOME and LANG only: no API keys, no proxies, nothing of the parent's;
- when wattbench runs as root: a new network namespace (no interfaces but loopback, down) and
  the nobody user, so the code can neither reach a network nor signal or read root's processes;
- inside the interpreter, an audit hook (PEP 578) that refuses sockets, new processes, signals,
  ctypes, and writing or deleting outside the sandbox directory;
- stdout and stderr go to files capped by RLIMIT_FSIZE, and only their first kilobytes are read.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
CLONE_NEWNET = 0x40000000
OUTPUT_LIMIT_BYTES = 1 << 20  # RLIMIT_FSIZE: the most any file, stdout included, may grow to
OUTPUT_READ_BYTES = 4000  # how much of stdout/stderr the result keeps

# Runs first in the child: the audit hook, then the solution and its tests in one namespace.
RUNNER = r'''
import os, sys
ROOT = os.path.realpath(sys.argv[1])
def _inside(path):
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return real == ROOT or real.startswith(ROOT + os.sep)
def _deny(what):
    raise PermissionError("sandbox: " + what + " is not allowed")
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int):
            return
        name = os.fsdecode(path)
        if name.startswith("/proc/") and not name.startswith("/proc/self/"):
            _deny("reading other processes under /proc")
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE)
        if writing and not _inside(path):
            _deny("writing outside the sandbox directory (" + name + ")")
    elif event.startswith("socket."):
        _deny("network access")
    elif event in ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "subprocess.Popen", "pty.spawn"):
        _deny("starting processes")
    elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
        _deny("sending signals")
    elif event.startswith("ctypes."):
        _deny("ctypes")
    elif event in ("os.remove", "os.rmdir", "os.rename", "os.chmod", "os.chown", "os.link",
                   "os.symlink", "os.truncate", "shutil.rmtree", "os.mkdir"):
        if args and not _inside(args[0]):
            _deny(event + " outside the sandbox directory")
sys.addaudithook(_hook)
namespace = {"__name__": "__main__"}
for part in sys.argv[2:]:
    with open(part) as handle:
        source = handle.read()
    exec(compile(source, part, "exec"), namespace)
'''


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    processes: int = 64


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed run ended: ``passed`` when it exited 0; else ``reason`` says why."""

    passed: bool
    reason: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float


def _interpreter(drop_root: bool) -> str:
    """A Python the sandbox user may execute (a venv under root's 0700 home is out of reach)."""
    if not drop_root:
        return sys.executable
    for candidate in (sys.executable, shutil.which("python3") or "", "/usr/bin/python3"):
        real = Path(candidate).resolve() if candidate else None
        if real and real.exists() and all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]):
            return str(real)
    raise RuntimeError("no Python interpreter that the nobody user can execute; install python3")


def _limit(limits: Limits, drop_root: bool, home: str) -> None:
    """In the child, before exec: rlimits, then (as root) no network and the nobody user."""
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if drop_root:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(CLONE_NEWNET)  # best effort: a kernel without namespaces leaves the hook
        os.chown(home, NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def _read(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(OUTPUT_READ_BYTES).decode("utf-8", "replace")


def run_python(sources: dict[str, str], limits: Limits | None = None) -> SandboxResult:
    """Run the files of ``sources`` (name -> code), in order, in one namespace, in a sandbox."""
    limits = limits or Limits()
    drop_root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="wattbench-sandbox-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o700)
        (root / "_runner.py").write_text(RUNNER)
        for name, source in sources.items():
            (root / name).write_text(source)
        out, err = root / "_stdout", root / "_stderr"
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            if drop_root:
                for path in (root, *root.iterdir()):
                    os.chown(path, NOBODY, NOBODY)
            process = subprocess.Popen(
                [_interpreter(drop_root), "-I", "-S", "-B", str(root / "_runner.py"), tmp,
                 *(str(root / name) for name in sources)],
                cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                start_new_session=True, preexec_fn=lambda: _limit(limits, drop_root, tmp),
            )
            timed_out = False
            try:
                process.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # Kill the whole group, whatever it started, and reap the child.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        duration = time.perf_counter() - start
        status = process.returncode
        stderr_text = _read(err)
        if timed_out:
            reason = f"timed out after {limits.wall_s:g} s"
        elif status == 0:
            reason = ""
        elif status == -signal.SIGXCPU:
            reason = f"killed: CPU time limit ({limits.cpu_s} s)"
        elif status < 0:
            reason = f"killed by signal {signal.Signals(-status).name}"
        else:
            last = [line for line in stderr_text.strip().splitlines() if line.strip()]
            reason = last[-1][:300] if last else f"exited with {status}"
        passed = status == 0 and not timed_out
        return SandboxResult(passed, reason, status, _read(out), stderr_text, duration)

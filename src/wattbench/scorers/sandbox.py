"""Running model-written Python, which is untrusted: in a bubblewrap sandbox, or refused.

Two implementations of one small ``Sandbox`` protocol; ``make_sandbox`` picks one:

``BwrapSandbox`` (``code_sandbox: "bwrap"``), the default. Isolation comes from the kernel, via
bubblewrap (``bwrap``, the tool Flatpak uses; Debian/Ubuntu package ``bubblewrap``, >= 0.8 for
``--size``; see ``bwrap.py``): new user, PID, network, IPC, UTS and cgroup namespaces, so every
process the answer starts dies with the namespace's init; ``--die-with-parent`` and
``--new-session``; read-only binds of /usr and the Python installation; a size-limited tmpfs as
the only writable place (also the working directory and HOME); no /proc (neither the host's nor
one of its own), no home, no /etc but the dynamic linker's cache; an empty environment.

``GuardSandbox`` (``code_sandbox: "guard"``), only with ``unsafe_code=True`` (``--wb-unsafe-code``)
where bubblewrap is missing or cannot create namespaces (or on a system that is not Linux). It
is the earlier sandbox: a child process in its own session, killed as a group; as root the
nobody user and a new network namespace; an in-process audit hook (PEP 578) that refuses
sockets, processes, signals, ctypes and writes outside its folder. CPython documents audit hooks
as NOT a security boundary, and code can walk past it (``_posixsubprocess.fork_exec``): hence
the opt-in.

Both run the same harness (``harness.py``): rlimits (CPU seconds, address space, file size,
processes) set inside, tests loaded before the answer, and a pass only on the harness's signal
through a pipe with a nonce; plus the parent's wall-clock kill. Errors:
``SandboxUnavailableError`` (a ``ConfigError``) when neither may run; the code scorer does not
stop the run on it: it skips the tests and records why (``code_tests_skipped_reason``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from wattbench.errors import SandboxUnavailableError
from wattbench.scorers import bwrap

NOBODY = 65534
CLONE_NEWNET = 0x40000000
OUTPUT_LIMIT_BYTES = 1 << 20  # RLIMIT_FSIZE: the most any file, stdout included, may grow to
OUTPUT_READ_BYTES = 4000  # how much of stdout/stderr the result keeps
VERDICT_READ_BYTES = 1 << 16
HARNESS = Path(__file__).with_name("harness.py")
SandboxKind = Literal["bwrap", "guard"]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run: seconds, MB, and a process count."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512  # address space (RLIMIT_AS)
    processes: int = 64  # RLIMIT_NPROC, counted per user id of the host
    disk_mb: int = 64  # size of the sandbox's tmpfs, its only writable place (bwrap only)


@dataclass(frozen=True)
class SandboxResult:
    """How a run ended. ``passed`` only on the harness's own signal; else ``reason`` says why.

    ``suspicious`` names what the answer did to the harness or the process (an early exit,
    patched builtins, an always-equal result, a forged verdict), or is None.
    """

    passed: bool
    reason: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    sandbox: SandboxKind
    suspicious: str | None = None


class Sandbox(Protocol):
    """Runs an answer against its tests, isolated; ``kind`` is recorded as ``code_sandbox``."""

    kind: SandboxKind

    def run(self, answer: str, tests: str, setup: str = "", limits: Limits | None = None) -> SandboxResult:
        """Run ``setup``, then ``answer`` as the module ``solution``, then ``tests``."""
        ...


def make_sandbox(unsafe_code: bool = False) -> Sandbox:
    """bubblewrap where it works; else the guard if ``unsafe_code``; else SandboxUnavailableError."""
    problem = bwrap.problem()
    if problem is None:
        return BwrapSandbox()
    if unsafe_code:
        return GuardSandbox()
    raise SandboxUnavailableError(problem)


def _write_inputs(folder: Path, answer: str, tests: str, setup: str) -> None:
    shutil.copyfile(HARNESS, folder / "harness.py")
    for name, text in (("setup.py", setup), ("answer.py", answer), ("tests.py", tests)):
        (folder / name).write_text(text, encoding="utf-8")


def _harness_argv(python: str, folder: str, mode: SandboxKind, fd: int, limits: Limits) -> list[str]:
    return [
        python, "-I", "-S", "-B", f"{folder}/harness.py", folder, mode, str(fd),
        str(limits.cpu_s), str(limits.memory_mb), str(OUTPUT_LIMIT_BYTES), str(limits.processes),
    ]


def _read(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(OUTPUT_READ_BYTES).decode("utf-8", "replace")


def _execute(
    argv: Callable[[int], Sequence[str]],
    work: Path,
    kind: SandboxKind,
    limits: Limits,
    *,
    cwd: str,
    env: dict[str, str],
    preexec: Callable[[], None] | None = None,
    status: Callable[[int], int] = lambda code: code,
    user: int | None = None,
) -> SandboxResult:
    """Start ``argv(fd)``, hand it the nonce, kill it at the wall limit, and read its verdict."""
    nonce = secrets.token_hex(16)
    read_end, write_end = os.pipe()
    out, err = work / "stdout", work / "stderr"
    start = time.perf_counter()
    try:
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                argv(write_end), cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=stdout,
                stderr=stderr, pass_fds=(write_end,), start_new_session=True, preexec_fn=preexec,
                user=user, group=user, extra_groups=[] if user is not None else None,
            )
            os.close(write_end)
            write_end = -1
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(nonce.encode() + b"\n")
                process.stdin.close()
            timed_out = False
            try:
                process.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # Kill the whole group (the guard's children; bwrap, whose init then takes the
                # PID namespace down with it), and reap the child.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        duration = time.perf_counter() - start
        # Non-blocking: under the guard a process that escaped may still hold the write end.
        os.set_blocking(read_end, False)
        try:
            channel = os.read(read_end, VERDICT_READ_BYTES)
        except BlockingIOError:
            channel = b""
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    code = status(process.returncode)
    return _judge(channel, nonce, code, timed_out, limits, kind, _read(out), _read(err), duration)


def _judge(
    channel: bytes, nonce: str, code: int, timed_out: bool, limits: Limits, kind: SandboxKind,
    stdout: str, stderr: str, duration: float,
) -> SandboxResult:
    """The result: a pass needs exactly one verdict with our nonce, saying passed, and exit 0."""
    verdicts: list[dict[str, object]] = []
    foreign = False
    for line in channel.decode("utf-8", "replace").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("nonce") == nonce:
            verdicts.append(data)
        else:
            foreign = True
    # The harness's own verdict first; one from a process the answer forked comes after it.
    verdicts.sort(key=lambda verdict: verdict.get("forked") is True)
    flags: list[str] = []
    if foreign:
        flags.append("writes to the harness's result channel")
    if len(verdicts) > 1:
        flags.append("more than one verdict (a forked process reached the harness)")
    flags[:0] = [str(v["suspicious"]) for v in verdicts if isinstance(v.get("suspicious"), str)]
    passed = len(verdicts) == 1 and verdicts[0].get("passed") is True and code == 0 and not flags
    if timed_out:
        reason = f"timed out after {limits.wall_s:g} s"
    elif passed:
        reason = ""
    elif verdicts and verdicts[0].get("error"):
        reason = str(verdicts[0]["error"])[:300]
    elif code == -signal.SIGXCPU:
        reason = f"killed: CPU time limit ({limits.cpu_s} s)"
    elif code < 0:
        reason = f"killed by signal {signal.Signals(-code).name}"
    elif code == 0 and not verdicts:
        flags.append("exits before the tests finished (os._exit)")
        reason = "the process ended without the harness's result"
    else:
        last = [line for line in stderr.strip().splitlines() if line.strip()]
        reason = last[-1][:300] if last else f"exited with {code}"
    if flags and not reason:
        reason = "suspicious: " + "; ".join(flags)
    suspicious = "; ".join(dict.fromkeys(flags)) or None
    return SandboxResult(passed, reason, code, stdout, stderr, duration, kind, suspicious)


class BwrapSandbox:
    """The OS sandbox: bubblewrap namespaces, read-only system, a small tmpfs (see ``bwrap``)."""

    kind: SandboxKind = "bwrap"

    def run(self, answer: str, tests: str, setup: str = "", limits: Limits | None = None) -> SandboxResult:
        """Run ``setup``, ``answer`` (module ``solution``) and ``tests`` in a bubblewrap sandbox."""
        limits = limits or Limits()
        chosen = bwrap.interpreter()
        if chosen is None:
            raise SandboxUnavailableError(str(bwrap.problem()))
        python, prefix = chosen
        user = bwrap.run_as()
        with tempfile.TemporaryDirectory(prefix="wattbench-sandbox-") as tmp:
            work = Path(tmp)
            inputs = work / "in"
            inputs.mkdir()
            _write_inputs(inputs, answer, tests, setup)
            if user is not None:  # bwrap runs as nobody: it must read the inputs
                for path in (work, inputs, *inputs.iterdir()):
                    os.chown(path, user, user)

            def argv(fd: int) -> list[str]:
                mounts = bwrap.sandbox_args(limits.disk_mb * 1024 * 1024, python, prefix)
                inside = _harness_argv(python, bwrap.INPUTS, "bwrap", fd, limits)
                return [bwrap.executable(), *mounts, "--ro-bind", str(inputs), bwrap.INPUTS, "--", *inside]

            # bwrap's own environment is empty too: /proc/1/environ inside is bwrap's init.
            return _execute(
                argv, work, self.kind, limits, cwd=tmp, env={}, status=bwrap.child_status, user=user
            )


class GuardSandbox:
    """The weaker in-process guard, for ``--wb-unsafe-code`` where bubblewrap cannot run."""

    kind: SandboxKind = "guard"

    def run(self, answer: str, tests: str, setup: str = "", limits: Limits | None = None) -> SandboxResult:
        """Run ``setup``, ``answer`` and ``tests`` in a child process under the audit-hook guard."""
        limits = limits or Limits()
        drop_root = os.geteuid() == 0
        with tempfile.TemporaryDirectory(prefix="wattbench-sandbox-") as tmp:
            work = Path(tmp)
            os.chmod(work, 0o700)
            _write_inputs(work, answer, tests, setup)
            if drop_root:
                for path in (work, *work.iterdir()):
                    os.chown(path, NOBODY, NOBODY)
            python = _guard_interpreter(drop_root)
            env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "LANG": "C.UTF-8"}
            return _execute(
                lambda fd: _harness_argv(python, tmp, "guard", fd, limits), work, self.kind, limits,
                cwd=tmp, env=env, preexec=(lambda: _drop_root(tmp)) if drop_root else None,
            )


def _guard_interpreter(drop_root: bool) -> str:
    """A Python the nobody user may execute (a venv under root's 0700 home is out of reach)."""
    if not drop_root:
        return sys.executable
    for candidate in (sys.executable, shutil.which("python3") or "", "/usr/bin/python3"):
        real = Path(candidate).resolve() if candidate else None
        if real and real.exists() and all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]):
            return str(real)
    raise SandboxUnavailableError("no Python interpreter that the nobody user can execute; install python3")


def _drop_root(home: str) -> None:
    """In the guard's child, before exec: no network (best effort), then the nobody user."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.unshare(CLONE_NEWNET)  # a kernel without namespaces leaves the audit hook's refusal
    os.chown(home, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def run_python(
    sources: dict[str, str], limits: Limits | None = None, sandbox: Sandbox | None = None
) -> SandboxResult:
    """Run the files of ``sources`` (name -> code), in order, as one answer with no tests."""
    chosen = sandbox or make_sandbox()
    return chosen.run("\n".join(sources.values()), "", "", limits)

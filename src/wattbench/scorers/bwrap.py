"""bubblewrap (``bwrap``): finding it, checking it works here, and the sandbox's mount table.

bubblewrap is a small setuid-free tool (Flatpak's sandbox) that builds a container from Linux
namespaces; Debian/Ubuntu package ``bubblewrap``. wattbench needs version 0.8 or later, for
``--size`` on a tmpfs. ``problem()`` answers, once per process, why it cannot be used here
(missing, too old, not Linux, or namespaces refused: e.g. a container without user namespaces,
Docker's default seccomp profile, ``kernel.unprivileged_userns_clone=0``, or AppArmor's
``restrict_unprivileged_userns``), or None. Its sentence is what a code record's
``code_tests_skipped_reason`` says when the tests cannot run.

What the sandbox sees (``sandbox_args``):

    /usr, /bin, /lib*   read-only (binds, or the host's merged-/usr symlinks)
    <python prefix>     read-only: the interpreter's own installation (sys.base_prefix)
    /etc                only ld.so.cache and localtime (the dynamic linker needs the first)
    /proc               none: no host processes or environments, and no /proc/self/mem
    /dev                a minimal devtmpfs (null, zero, urandom, ...)
    /tmp                a tmpfs of --size bytes: the only writable place, working dir and HOME
    /sandbox            the harness and the code, read-only
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

MIN_VERSION = (0, 8)
MISSING = "no sandbox: install bubblewrap (apt-get install bubblewrap)"
INPUTS = "/sandbox"
NAMESPACES = (
    "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
    "--unshare-cgroup-try",
)
TOP_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
NOBODY = "65534"
NOBODY_ID = 65534
PROBE_TIMEOUT_S = 20.0


def executable() -> str:
    """The bwrap binary on PATH; FileNotFoundError if there is none (call ``problem()`` first)."""
    found = shutil.which("bwrap")
    if found is None:
        raise FileNotFoundError("bwrap is not on PATH")
    return found


def run_as() -> int | None:
    """The host user bwrap runs as: nobody when wattbench runs as root, else None (unchanged).

    Why: the kernel exempts processes of host uid 0 from RLIMIT_NPROC even inside a user
    namespace, so only a real unprivileged uid keeps a fork bomb to its process limit.
    """
    return NOBODY_ID if os.geteuid() == 0 else None


def _reachable(path: str) -> bool:
    """Whether every folder down to ``path`` may be searched and ``path`` executed by others."""
    real = os.path.realpath(path)
    chain = [real, *(str(p) for p in Path(real).parents)]
    return os.path.isfile(real) and all(os.stat(p).st_mode & 0o001 for p in chain)


@functools.cache
def interpreter() -> tuple[str, str] | None:
    """(Python to run the standard-library-only harness, its prefix to bind), or None.

    Normally the real interpreter behind sys.executable and sys.base_prefix. As root, one that
    the nobody user may execute (a pyenv or venv under root's 0700 home is out of its reach):
    that one, else python3 on PATH, else /usr/bin/python3.
    """
    own, prefix = os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)
    if run_as() is None:
        return own, prefix
    for candidate in (own, shutil.which("python3") or "", "/usr/bin/python3"):
        if candidate and _reachable(candidate):
            real = os.path.realpath(candidate)
            return real, prefix if real == own else os.path.dirname(os.path.dirname(real))
    return None


def _python_binds(python: str, prefix: str) -> list[str]:
    args: list[str] = []
    bound: list[str] = []
    for path in (prefix, os.path.dirname(python)):
        covered = any(path == b or path.startswith(b + os.sep) for b in ("/usr", *bound))
        if not covered:
            args += ["--ro-bind", path, path]
            bound.append(path)
    return args


def sandbox_args(disk_bytes: int, python: str, prefix: str) -> list[str]:
    """bwrap's options up to (not including) ``--``: namespaces, mounts, environment."""
    args = [
        *NAMESPACES, "--disable-userns", "--uid", NOBODY, "--gid", NOBODY,
        "--hostname", "sandbox", "--die-with-parent", "--new-session",
        "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
        "--setenv", "LANG", "C.UTF-8",
        "--ro-bind", "/usr", "/usr",
    ]
    for top in TOP_DIRS:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ETC_FILES:
        args += ["--ro-bind-try", name, name]
    args += _python_binds(python, prefix)
    args += [
        # No /proc at all: not the host's (environments, other processes), and not even one of
        # the new PID namespace, whose /proc/self/mem would hand the harness's memory (and so
        # its nonce) to the answer. Python runs without it.
        "--dev", "/dev",
        "--size", str(disk_bytes), "--tmpfs", "/tmp", "--chdir", "/tmp",
    ]
    return args


def version(path: str) -> tuple[int, ...] | str:
    """bwrap's version as numbers, from ``bwrap --version`` ('bubblewrap 0.8.0'); or why it could
    not be read (the program does not run, or says no version)."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        return f"it does not run ({error})"
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", done.stdout)
    if done.returncode != 0 or found is None:
        said = (done.stderr or done.stdout).strip().splitlines()
        return f"'bwrap --version' failed ({said[-1] if said else f'exit status {done.returncode}'})"
    return tuple(int(part) for part in found.groups() if part is not None)


@functools.cache
def problem() -> str | None:
    """Why bubblewrap cannot sandbox code here, or None when a trial sandbox ran Python."""
    if not sys.platform.startswith("linux"):
        return f"no sandbox: bubblewrap needs Linux namespaces and this system is {sys.platform}"
    path = shutil.which("bwrap")
    if path is None:
        return MISSING
    found = version(path)
    if isinstance(found, str):
        return f"no sandbox: bubblewrap at {path} cannot run: {found}"
    if found < MIN_VERSION:
        shown = ".".join(map(str, found))
        return f"no sandbox: bubblewrap {shown} at {path} is too old; install 0.8 or later (for --size)"
    chosen = interpreter()
    if chosen is None:
        return (
            "no sandbox: wattbench runs as root, so generated code runs as the nobody user, and "
            "nobody may execute no Python here (install python3, e.g. apt-get install python3)"
        )
    python, prefix = chosen
    trial = [path, *sandbox_args(1 << 20, python, prefix), "--", python, "-I", "-S", "-c", "pass"]
    user = run_as()
    try:
        done = subprocess.run(
            trial, capture_output=True, text=True, env={}, timeout=PROBE_TIMEOUT_S, cwd="/",
            user=user, group=user, extra_groups=[] if user is not None else None,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap at {path} could not start ({error})"
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        why = said[-1] if said else f"exit status {done.returncode}"
        return f"bubblewrap cannot create namespaces here ({why})"
    return None


def child_status(code: int) -> int:
    """bwrap's exit status as the sandboxed child's: bwrap reports a signal N as 128 + N."""
    return -(code - 128) if 128 < code < 128 + 65 else code

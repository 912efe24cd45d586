"""The code sandbox: bubblewrap isolation, the harness's own pass signal, and the hostile battery.

The battery (tests/sandbox_battery.py: docs/quality.md's list plus sandbox.md's four, and the ways to
fake a pass) runs under bubblewrap as the test's user (root in CI) and as the nobody user
through ``setpriv``. Its figures: 0 escapes (no file written outside, no connection to a host
listener), 0 leaks (no secret from the environment, a host file or home in any result text),
0 fake passes (every answer's function is wrong), 0 orphans (no process with the run's marker
alive afterwards, including one started in a new session that sleeps past the run).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sandbox_battery as battery

from wattbench.errors import ConfigError
from wattbench.scorers import bwrap
from wattbench.scorers.sandbox import (
    BwrapSandbox,
    GuardSandbox,
    Limits,
    SandboxUnavailableError,
    make_sandbox,
)

PROBLEM = bwrap.problem()
needs_bwrap = pytest.mark.skipif(PROBLEM is not None, reason=f"no bubblewrap sandbox here: {PROBLEM}")
SECRET = "sk-wattbench-do-not-leak-" + uuid.uuid4().hex[:8]


@pytest.fixture
def arena(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A host folder anyone may write (so only the sandbox can stop a write), a secret file, a
    listener on 127.0.0.1, and a unique marker."""
    shared = Path(os.environ.get("TMPDIR", "/tmp")) / f"wattbench-arena-{uuid.uuid4().hex[:8]}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    secret_file = shared / "secret.txt"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o644)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    values = {
        "target": str(shared / "escaped.txt"), "secret_file": str(secret_file),
        "port": listener.getsockname()[1], "marker": f"wbmarker{uuid.uuid4().hex[:12]}",
    }
    try:
        yield {"values": values, "shared": shared, "listener": listener}
    finally:
        listener.close()
        shutil.rmtree(shared, ignore_errors=True)


def _marked_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _assert_held(results: list[dict[str, Any]], arena: dict[str, Any]) -> None:
    """The battery's four goals, over every result."""
    values = arena["values"]
    fake = [r["attack"] for r in results if r["passed"]]
    leaks = [r["attack"] for r in results if SECRET in r["text"]]
    assert fake == [], f"fake passes: {fake}"
    assert leaks == [], f"leaks: {leaks}"
    assert all(r["sandbox"] == "bwrap" for r in results)
    time.sleep(3.5)  # the fork_exec child would write at 3 s if it had survived
    assert not Path(values["target"]).exists(), "escape: a file was written outside the sandbox"
    with pytest.raises(BlockingIOError):
        arena["listener"].accept()  # no connection reached the host
    assert _marked_processes(values["marker"]) == [], "orphans outlived the run"


ALL = list(battery.CONTAINMENT) + list(battery.FAKE_PASSES)


@needs_bwrap
def test_the_hostile_battery_holds_under_bwrap(
    arena: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATTBENCH_TEST_SECRET", SECRET)
    results = battery.run({"attacks": ALL, "values": arena["values"]})
    assert len(results) == len(ALL)
    _assert_held(results, arena)
    by = {r["attack"]: r for r in results}
    assert by["loops forever"]["reason"] == "killed: CPU time limit (2 s)"
    assert "MemoryError" in by["allocates 10 GB"]["text"]
    assert "No space left on device" in by["fills the disk"]["text"]
    assert "Connection refused" in by["opens a socket"]["text"]  # its own loopback: nothing there
    assert "No such file or directory" in by["reads a host file and the home folder"]["text"]
    for attack in battery.FAKE_PASSES:
        # Refused without a flag: `import __main__` finds nothing, the inputs are read-only, and
        # exit handlers never run (the harness ends with os._exit after its verdict).
        if attack not in ("patches the harness module", "rewrites the tests", "exits 0 from atexit"):
            assert by[attack]["suspicious"] or "not allowed" in by[attack]["reason"], by[attack]


def _nobody_can_run_python() -> str | None:
    if os.geteuid() != 0:
        return "needs root to switch to the nobody user (setpriv)"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    python = Path("/usr/bin/python3")
    if not python.exists():
        return "no /usr/bin/python3 for the nobody user (the venv's Python is under root's home)"
    return None


@needs_bwrap
def test_the_hostile_battery_holds_as_a_user_who_is_not_root(arena: dict[str, Any]) -> None:
    why = _nobody_can_run_python()
    if why:
        pytest.skip(why)
    src = Path(__file__).resolve().parents[1] / "src"
    site = [p for p in sys.path if p.endswith("site-packages")]
    script = (
        f"import sys; sys.path[:0] = {[str(src), str(Path(__file__).parent), *site]!r}\n"
        "import runpy; runpy.run_path(sys.argv[1], run_name='__main__')\n"
    )
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
         script, str(Path(battery.__file__).resolve())],
        input=json.dumps({"attacks": ALL, "values": arena["values"]}), capture_output=True, text=True,
        timeout=300, cwd="/tmp",
        env={"PATH": "/usr/bin:/bin", "WATTBENCH_TEST_SECRET": SECRET, "HOME": "/tmp"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert [r["attack"] for r in results] == ALL
    _assert_held(results, arena)


@needs_bwrap
def test_a_right_answer_passes_and_runs_as_a_module_not_main() -> None:
    answer = battery.RIGHT + (
        "assert __name__ == 'solution', __name__\nif __name__ == '__main__':\n    raise SystemExit(1)\n"
    )
    result = BwrapSandbox().run(answer, battery.TESTS)
    assert result.passed and result.reason == "" and result.suspicious is None, result
    assert result.sandbox == "bwrap"


@needs_bwrap
def test_setup_runs_first_and_a_failure_names_the_test_line() -> None:
    setup = "def helper():\n    return 2\n"
    answer, tests = "def f():\n    return helper() + 1\n", "assert f() == 3\nassert f() == 4\n"
    result = BwrapSandbox().run(answer, tests, setup)
    assert not result.passed
    assert result.reason == "AssertionError at tests.py line 2: assert f() == 4"


@needs_bwrap
def test_standard_library_code_that_looks_at_frames_still_works() -> None:
    answer = (
        "import collections, typing, logging, enum\nPoint = collections.namedtuple('Point', 'x y')\n"
        "class P(typing.NamedTuple):\n    x: int\nColor = enum.Enum('Color', 'RED')\n"
        "logging.getLogger('a').warning('hi')\ndef f():\n    return Point(1, 2).x + P(1).x\n"
    )
    result = BwrapSandbox().run(answer, "assert f() == 2\n")
    assert result.passed, result


@needs_bwrap
def test_the_sandbox_sees_no_host_environment_home_or_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTBENCH_TEST_SECRET", SECRET)
    chosen = bwrap.interpreter()
    assert chosen is not None
    prefix = Path(chosen[1])  # as root: a Python nobody may run, e.g. /usr/bin/python3's /usr
    # Every folder above a Python prefix outside /usr (e.g. /home/me/.pyenv/versions) must show
    # only the next step down: binding the interpreter brings nothing else of that home along.
    chain = [] if prefix.parts[1] == "usr" else [str(p) for p in reversed(prefix.parents) if str(p) != "/"]
    answer = (
        "import os, json\nprint(sorted(os.environ))\nprint(os.getuid(), os.getpid())\n"
        "print(sorted(os.listdir('/')))\nprint(os.listdir('/etc'))\n"
        f"print(json.dumps({{d: os.listdir(d) for d in {chain!r}}}))\n"
        "print(os.path.exists('/proc'), os.path.exists('/proc/self/mem'))\n"
    )
    result = BwrapSandbox().run(answer, "")
    assert result.passed, result
    lines = result.stdout.splitlines()
    assert set(ast.literal_eval(lines[0])) <= {"HOME", "LANG", "PATH", "PWD"}  # PWD: bwrap's --chdir
    assert lines[1] == "65534 2"  # nobody, the second process of a new PID namespace
    top = set(ast.literal_eval(lines[2])) - {"bin", "dev", "etc", "proc", "sandbox", "sbin", "tmp", "usr"}
    assert {name for name in top if not name.startswith("lib")} <= {prefix.parts[1]}
    assert set(ast.literal_eval(lines[3])) <= {"ld.so.cache", "localtime"}
    above = json.loads(lines[4])
    for folder, below in zip(chain, [*chain[1:], str(prefix)]):
        assert above[folder] == [Path(below).name], (folder, above[folder])
    assert lines[5] == "False False"  # no /proc: no host process, no environ, no own memory
    assert SECRET not in result.stdout


@needs_bwrap
def test_a_wall_clock_timeout_kills_the_sandbox() -> None:
    result = BwrapSandbox().run("import time\ntime.sleep(30)\n", "", limits=Limits(wall_s=0.5))
    assert not result.passed and result.reason == "timed out after 0.5 s" and result.duration_s < 5


def test_the_guard_runs_the_same_harness_and_refuses_a_fake_pass() -> None:
    sandbox = GuardSandbox()
    assert sandbox.run(battery.RIGHT, battery.TESTS).passed
    result = sandbox.run(battery.answer("sys.exit(0) before the tests", {}), battery.TESTS)
    assert not result.passed and result.sandbox == "guard"
    assert result.suspicious == "exits (sys.exit) while it is imported, before the tests ran"
    shell = sandbox.run(battery.WRONG + "import subprocess\nsubprocess.run(['true'])\n", battery.TESTS)
    assert "starting processes" in shell.reason


def test_without_bubblewrap_no_sandbox_is_made_unless_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    # A run does not stop on this (tests/test_sandbox_degrade.py): the code scorer skips the tests.
    monkeypatch.setattr(bwrap, "problem", lambda: bwrap.MISSING)
    with pytest.raises(SandboxUnavailableError) as refused:
        make_sandbox()
    assert isinstance(refused.value, ConfigError)
    message = str(refused.value)
    assert "apt-get install bubblewrap" in message and "--wb-unsafe-code" in message
    assert make_sandbox(unsafe_code=True).kind == "guard"


def test_the_probe_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    bwrap.problem.cache_clear()
    try:
        monkeypatch.setattr(sys, "platform", "darwin")
        assert bwrap.problem() == "no sandbox: bubblewrap needs Linux namespaces and this system is darwin"
        bwrap.problem.cache_clear()
        monkeypatch.setattr(sys, "platform", "linux")
        monkeypatch.setenv("PATH", "/nonexistent")
        assert bwrap.problem() == "no sandbox: install bubblewrap (apt-get install bubblewrap)"
    finally:
        bwrap.problem.cache_clear()


def test_bwrap_reports_a_signal_as_128_plus_its_number() -> None:
    assert bwrap.child_status(128 + 24) == -24 and bwrap.child_status(1) == 1 and bwrap.child_status(0) == 0


# The guard (--wb-unsafe-code without bubblewrap): docs/quality.md's list, each refused in-process.
GUARD_ATTACKS = {
    "loops forever": ("while True:\n    pass\n", "CPU time limit"),
    "allocates 10 GB": ("x = bytearray(10 * 1024 ** 3)\n", "MemoryError"),
    "fork-bombs": ("import os\nwhile True:\n    os.fork()\n", "starting processes"),
    "runs a shell": ("import subprocess\nsubprocess.run(['sh', '-c', 'echo hi'])\n", "starting processes"),
    "writes outside": ("open({target!r}, 'w').write('pwned')\n", "writing outside the sandbox"),
    "reads the parent's environment": (
        "import os\nprint(open('/proc/%d/environ' % os.getppid()).read())\n", "reading /proc"
    ),
    "opens a socket": ("import socket\nsocket.create_connection(('127.0.0.1', 9))\n", "network access"),
    "kills its parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", "sending signals"),
    "uses ctypes": ("import ctypes\nctypes.CDLL(None).kill(1, 9)\n", "ctypes"),
}


@pytest.mark.parametrize("attack", list(GUARD_ATTACKS))
def test_the_guard_refuses_the_readme_list(attack: str, tmp_path: Path) -> None:
    target = tmp_path / "pwned.txt"
    code, reason = GUARD_ATTACKS[attack]
    result = GuardSandbox().run(
        battery.WRONG + code.format(target=str(target)), battery.TESTS, "", Limits(wall_s=20, cpu_s=2)
    )
    assert not result.passed and result.sandbox == "guard"
    assert reason in result.reason, result
    assert not target.exists()

"""The end of a run: every background thread and process wattbench starts ends within seconds
of the last case, on a loaded machine too (issue 23: a one-case run under heavy load wrote its
--benchmark-json and had not exited 300 s later).

The end-to-end test runs `pytest bench/` with the tiny model in a child process while busy
loops hold every CPU, times its exit against its last line of output, and has a conftest list
the threads still alive at the very end of pytest_unconfigure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psutil
import pytest
from test_meter import PowerSource

from wattbench.monitors.jetson import Tegrastats
from wattbench.monitors.meter import Meter
from wattbench.monitors.protocol import Poll

# The last thing of the run: the threads alive once every pytest_unconfigure but this one ran.
THREADS_AT_END = '''
import json, os, threading
import pytest

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    with open(os.environ["WB_THREADS_FILE"], "w") as out:
        json.dump([{"name": t.name, "daemon": t.daemon, "alive": t.is_alive()}
                   for t in threading.enumerate() if t is not threading.main_thread()], out)
'''

LOAD_S = 120  # the busy loops stop themselves after this, should the test not kill them
RUN_LIMIT_S = 240  # the run itself (about 30 s with 4 busy loops on 2 CPUs)
LAST_LINE_TO_EXIT_S = 15.0  # the exit may take this long after the run printed its last line
JSON_TO_EXIT_S = 60.0  # and after it wrote --benchmark-json (the report runs in between)
CHILDREN_GRACE_S = 5.0  # processes the run started may take this long to end after it


@contextmanager
def busy_cpus(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes that spin on a CPU each, for at most LOAD_S; killed on the way out."""
    spin = f"import time\nend = time.monotonic() + {LOAD_S}\nwhile time.monotonic() < end:\n    pass\n"
    loops = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait(timeout=10)


def _timed_lines(stream: IO[bytes], lines: list[tuple[float, str]]) -> None:
    for raw in iter(stream.readline, b""):
        lines.append((time.monotonic(), raw.decode(errors="replace")))


def _marked(marker: str) -> list[str]:
    """Processes alive (not zombies) whose environment holds WB_EXIT_TEST=``marker``."""
    found = []
    for process in psutil.process_iter(["pid", "name", "status"]):
        try:
            alive = process.info["status"] != psutil.STATUS_ZOMBIE
            if alive and process.environ().get("WB_EXIT_TEST") == marker:
                found.append(f"{process.info['pid']} {process.info['name']}")
        except psutil.Error:
            continue
    return found


def test_a_run_on_a_loaded_machine_exits_within_seconds_of_its_last_line(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    suite.makeconftest(THREADS_AT_END)
    threads_file = suite.path / "threads.json"
    out = suite.path / "out.json"
    marker = uuid.uuid4().hex  # inherited by every process the run starts (engine worker, helpers)
    env = {**os.environ, "WB_THREADS_FILE": str(threads_file), "WB_EXIT_TEST": marker}
    env["PYTHONUNBUFFERED"] = "1"  # each line is timed as it is printed, not when a buffer fills
    command = [
        sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf),
        "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0", "--wb-run-dir", "run",
        "--benchmark-json", str(out), "--wb-report", "on", "--wb-sample-hz", "100",
        "--wb-idle-time", "0.3", "--wb-idle-after", "on", "--wb-energy-min-window", "0.5",
    ]
    lines: list[tuple[float, str]] = []
    with busy_cpus(min(4, max(2, 2 * (os.cpu_count() or 1)))):
        process = subprocess.Popen(
            command, cwd=suite.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        reader = threading.Thread(target=_timed_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            code = process.wait(timeout=RUN_LIMIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            pytest.fail(f"the run had not ended after {RUN_LIMIT_S} s:\n{''.join(t for _, t in lines)}")
        exited = time.monotonic()
        reader.join(timeout=10)
        deadline = time.monotonic() + CHILDREN_GRACE_S
        while (left_running := _marked(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
    text = "".join(line for _t, line in lines)
    assert code == 0, text
    assert out.is_file() and (suite.path / "run" / "report.html").is_file(), text
    assert "left running" not in text and "still running" not in text, text
    last_line_at = lines[-1][0]
    assert exited - last_line_at < LAST_LINE_TO_EXIT_S, (
        f"exited {exited - last_line_at:.1f} s after its last line:\n{text}"
    )
    # The JSON's modification time is on the wall clock: measured against it, not the monotonic one.
    json_to_exit = time.time() - (time.monotonic() - exited) - out.stat().st_mtime
    assert json_to_exit < JSON_TO_EXIT_S, f"exited {json_to_exit:.1f} s after the JSON:\n{text}"
    assert left_running == [], f"processes the run started outlived it by {CHILDREN_GRACE_S} s"
    threads = json.loads(threads_file.read_text())
    left = [t for t in threads if t["alive"] and t["name"].startswith("wattbench")]
    assert left == [], f"wattbench threads alive at the end of pytest_unconfigure: {left}"
    blocking = [t for t in threads if t["alive"] and not t["daemon"]]
    assert blocking == [], f"non-daemon threads would hold the exit: {blocking}"


class StuckSource(PowerSource):
    """A source whose reads block once ``stuck`` is set, until ``freed`` is (a hung driver)."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck, self.freed = threading.Event(), threading.Event()
        self.in_read = threading.Event()

    def poll(self) -> Poll:
        if self.stuck.is_set() and threading.current_thread().name == "wattbench-sampler":
            self.in_read.set()
            self.freed.wait(30)
        return super().poll()


def test_close_leaves_a_sampler_stuck_in_a_read_within_its_grace_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = StuckSource()
    meter = Meter([source], sample_hz=50)
    meter.start()
    sampler = meter._thread
    assert sampler is not None
    source.stuck.set()
    assert source.in_read.wait(5)
    try:
        start = time.monotonic()
        meter.close(grace_s=0.3)
        took = time.monotonic() - start
        assert took < 1.5  # the sampler's grace, then the sources' closing (which does not block here)
        assert "energy sampler is still polling after 0.3 s" in capsys.readouterr().err
        assert source.closed  # closed by a thread of its own, which ended here
        assert sampler.is_alive()
    finally:
        source.freed.set()
    sampler.join(timeout=5)  # once its read returns, it sees the stop and ends
    assert not sampler.is_alive()


def test_a_late_sampler_skips_the_polls_it_missed_instead_of_running_them_back_to_back() -> None:
    jump = [0.0]
    meter = Meter([PowerSource()], sample_hz=20, clock=lambda: time.monotonic() + jump[0])
    meter.start()
    try:
        time.sleep(0.2)
        jump[0] = 10.0  # the process stalled 10 s (a loaded machine): 200 polls are late
        polls = meter.polls
        time.sleep(0.5)
        polls = meter.polls - polls
    finally:
        meter.close()
    assert polls <= 15, f"{polls} polls in 0.5 s at 20 Hz: the missed ones ran back to back"


def _wrapper_tegrastats(tmp_path: Path, trap_term: bool = False) -> tuple[str, Path]:
    """A tegrastats that is a script: it starts a child that holds its stdout for 60 s (as sudo
    or a wrapper would) and writes the child's pid; ``trap_term``: it ignores SIGTERM too."""
    script, pid_file = tmp_path / "tegrastats", tmp_path / "child.pid"
    line = "RAM 2034/7620MB VDD_IN 5143mW/5143mW VDD_SOC 1000mW/1000mW"
    script.write_text(
        "#!/bin/sh\n"
        + ("trap '' TERM\n" if trap_term else "")
        + f"sleep 60 &\necho $! > {pid_file}\n"
        + f"while true; do echo '{line}'; sleep 0.05; done\n"
    )
    script.chmod(0o755)
    return str(script), pid_file


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tegrastats runs on Linux (Jetson)")
@pytest.mark.parametrize("trap_term", [False, True], ids=["terminated", "killed"])
def test_tegrastats_close_stops_the_processes_it_started_and_its_reader(
    tmp_path: Path, trap_term: bool
) -> None:
    command, pid_file = _wrapper_tegrastats(tmp_path, trap_term)
    tegrastats = Tegrastats(command, 50)
    assert tegrastats.latest is not None and tegrastats.latest.rails["VDD_IN"] == pytest.approx(5.143)
    child = int(pid_file.read_text())
    start = time.monotonic()
    tegrastats.close(grace_s=1.0)
    assert time.monotonic() - start < 3.5
    assert not tegrastats._thread.is_alive()
    deadline = time.monotonic() + 5  # the child, reparented, is reaped by init
    while Path(f"/proc/{child}").exists() and "Z" not in _state(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"

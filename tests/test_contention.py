"""Contention measured for real: other processes burn CPUs while a window or a baseline runs.

The burners are real processes (bounded in time, and stopped when the test ends). They keep
half the logical CPUs busy, so "other processes" use about 50% of the machine whatever its size,
well above CONTENDED_OTHER_CPU_PCT (10%). Other work on a shared test machine only adds to it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from test_plugin import records, run_suite

from wattbench.backends.openai_compat import OpenAIOptions
from wattbench.monitors.estimate import open_estimate
from wattbench.monitors.figures import energy_figures, resource_figures
from wattbench.monitors.gauges import CONTENDED_OTHER_CPU_PCT, ProcessTree, listening_pid
from wattbench.monitors.idle import measure_idle
from wattbench.monitors.meter import Meter
from wattbench.run.energy import adopt_local_server
from wattbench.settings import Settings

CPUS = psutil.cpu_count() or 1
BURN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


@contextmanager
def burning(seconds: float) -> Iterator[int]:
    """Half the logical CPUs (at least one) kept busy for ``seconds`` at most by processes
    outside this process tree; yields their number.

    A shell starts them in the background and exits, so they are re-parented and are no
    descendants of this process: exactly another user's program. They are found again by a
    marker in their command line and killed when the block ends.
    """
    marker = f"wattbench-burner-{time.monotonic_ns()}"
    script = f"import time  # {marker}\n" + BURN.format(seconds=seconds)
    count = max(1, CPUS // 2)
    subprocess.run(
        ["sh", "-c", " ".join(f"{sys.executable} -c '{script}' >/dev/null 2>&1 &" for _ in range(count))],
        check=True, timeout=10,
    )
    try:
        time.sleep(0.3)  # let them start
        yield count
    finally:
        for process in psutil.process_iter(["cmdline"]):
            if any(marker in part for part in process.info["cmdline"] or ()):
                process.kill()


@pytest.fixture
def meter() -> Iterator[Meter]:
    meter = Meter([open_estimate(65.0)], sample_hz=20)
    meter.start()
    yield meter
    meter.close()


def test_a_window_with_a_busy_neighbour_is_contended_and_not_charged(meter: Meter) -> None:
    with burning(seconds=5) as count:
        window = meter.begin()
        time.sleep(1.0)  # the benchmark itself does nothing
        reading = meter.end(window)
    resources = resource_figures(reading)
    expected = 100.0 * count / CPUS
    assert resources["other_cpu_util_avg_pct"] > 0.6 * expected > CONTENDED_OTHER_CPU_PCT, resources
    assert resources["contended"] is True
    # The estimate charges this process tree: a sleeping benchmark costs next to nothing, where
    # the machine-wide estimate charged the neighbours' busy cores.
    energy = energy_figures(meter, reading, [(1, 1)], None)["energy_j"]
    assert energy < 0.1 * 65.0 * reading.duration_s * count / CPUS, energy


def test_an_idle_baseline_on_a_busy_machine_is_flagged(meter: Meter) -> None:
    with burning(seconds=5):
        idle = measure_idle(meter, 1.0)
    assert idle.other_cpu_util_avg_pct is not None
    assert idle.other_cpu_util_avg_pct > CONTENDED_OTHER_CPU_PCT
    assert idle.warning is not None and "the machine was not idle during the idle baseline" in idle.warning
    assert "other processes used" in idle.warning


def test_a_case_run_beside_a_burning_core_is_recorded_as_contended(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    with burning(seconds=120):
        result, data = run_suite(
            suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
            "--wb-levels", "L0", "--wb-run-dir", str(run_dir), "--wb-idle-time", "0.5",
            "--wb-energy-min-window", "0.5",
        )
    result.assert_outcomes(passed=2)
    (record,) = records(run_dir)
    assert record["contended"] is True
    assert record["other_cpu_util_avg_pct"] > CONTENDED_OTHER_CPU_PCT
    assert "the machine was not idle during the idle baseline" in record["idle_warning"]
    energy = data["wattbench"]["energy"]
    assert energy["contended_windows"] == 1 and energy["windows_count"] == 1
    assert any(line.startswith("contended: 1 of 1 windows") for line in energy["warnings"])
    assert energy["idle_before"]["warning"] is not None


def test_a_local_server_is_adopted_into_the_benchmark_tree(tmp_path: Path) -> None:
    # A server started outside this process tree, as `ollama serve` or llama-server would be.
    port_file = tmp_path / "port"
    server = (
        "import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        f"open({str(port_file)!r}, 'w').write(str(s.getsockname()[1]))\n"
        "time.sleep(30)\n"
    )
    command = f"{sys.executable} -c \"{server}\" >/dev/null 2>&1 &"
    subprocess.run(["sh", "-c", command], check=True, timeout=10)
    deadline = time.monotonic() + 10
    while not port_file.exists() or not port_file.read_text():
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    port = int(port_file.read_text())
    pid = listening_pid(port)
    try:
        assert pid is not None and pid not in ProcessTree().pids()
        tree = ProcessTree()
        before = tree.cpu_s()
        settings = Settings(backend="openai", extensions=(OpenAIOptions(base_url=f"http://127.0.0.1:{port}/v1"),),
                            run_dir=tmp_path)
        url = settings.energy_options().server_url
        note = adopt_local_server(url, tree)
        assert note is not None and f"pid {pid}" in note and "counts as the benchmark's own" in note
        assert pid in tree.pids()
        assert tree.cpu_s() - before < 0.05  # the server's earlier CPU time is not the benchmark's
        assert adopt_local_server(url, tree) == note and tree.cpu_s() - before < 0.05
        remote = Settings(backend="openai", extensions=(OpenAIOptions(base_url="https://api.example.com/v1"),),
                          run_dir=tmp_path).energy_options().server_url
        assert "is not on this machine" in (adopt_local_server(remote, tree) or "")
        in_process = Settings(run_dir=tmp_path).energy_options().server_url
        assert adopt_local_server(in_process, tree) is None  # llama.cpp in-process
    finally:
        if pid is not None:
            psutil.Process(pid).kill()

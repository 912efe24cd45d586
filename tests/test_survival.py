"""Runs that survive: resume on a server, secrets, the run folder (unwritable, full, in use), Ctrl-C.

The inputs are ../shared/cases/runs.md's, each with its right behaviour.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_plugin import records, run_suite

ONE_TASK = ("--wb-tasks", "qa", "--wb-loads", "short")


def test_a_rerun_on_a_server_backend_skips_every_finished_case(
    suite: pytest.Pytester, llama_server: str
) -> None:
    run_dir = suite.path / "run"
    common = ("--wb-backend", "openai", "--wb-base-url", llama_server, *ONE_TASK,
              "--wb-run-dir", str(run_dir))
    first, _ = run_suite(suite, *common)
    first.assert_outcomes(passed=1 + 5)
    second, _ = run_suite(suite, *common)
    second.assert_outcomes(passed=1, skipped=5)
    assert len(records(run_dir)) == 5


def test_url_credentials_never_leave_the_process(suite: pytest.Pytester, llama_server: str) -> None:
    host = llama_server.removeprefix("http://")
    secret_url = f"http://user:SECRETPW@{host}?api_key=SECRET2"
    run_dir = suite.path / "run"
    out = suite.path / "out.json"
    result = suite.runpytest("bench", "-p", "no:cacheprovider", "--wb-backend", "openai",
                             "--wb-base-url", secret_url, *ONE_TASK, "--wb-levels", "L0",
                             "--wb-run-dir", str(run_dir), "--benchmark-json", str(out), "-v")
    result.assert_outcomes(passed=2)
    shown = "\n".join(result.outlines + result.errlines)
    stored = (run_dir / "results.jsonl").read_text() + out.read_text()
    for secret in ("SECRETPW", "SECRET2", "user:"):
        assert secret not in shown and secret not in stored, secret
    assert records(run_dir)[0]["server_url"] == llama_server


def test_an_unwritable_run_folder_stops_the_run_before_any_model_loads(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    blocker = suite.path / "a-file"
    blocker.write_text("not a folder")
    result, data = run_suite(suite, "--wb-model", str(tiny_gguf), *ONE_TASK,
                             "--wb-run-dir", str(blocker / "run"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the run folder *a-file/run cannot be written*--wb-run-dir*"])
    assert "passed" not in result.stdout.str() and data["benchmarks"] == []


def test_a_second_session_on_the_same_run_folder_is_refused(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    import filelock

    run_dir = suite.path / "run"
    run_dir.mkdir()
    (run_dir / ".lock.holder").write_text("pid 4242 on host-a\n")
    with filelock.FileLock(str(run_dir / ".lock"), timeout=0):  # the first session's lock
        result, _ = run_suite(suite, "--wb-model", str(tiny_gguf), *ONE_TASK, "--wb-run-dir", str(run_dir))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*run folder *run is in use by another pytest session (pid 4242 on host-a)*"]
    )
    assert not (run_dir / "results.jsonl").exists()


def _small_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_a_full_disk_stops_the_run_and_the_file_stays_valid(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    if not _small_tmpfs(disk, "64k"):
        pytest.skip("UNTESTED here: needs root and mount(8) for a 64 KiB tmpfs")
    try:
        run_dir = disk / "run"
        result, _ = run_suite(suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa,summary,creative",
                              "--wb-run-dir", str(run_dir), "--wb-max-tokens", "16")
        assert result.ret == pytest.ExitCode.INTERRUPTED
        result.stdout.fnmatch_lines(["*cannot append a record*every record before it is kept*"])
        text = (run_dir / "results.jsonl").read_text()
        assert text.endswith("\n")
        lines = [json.loads(line) for line in text.splitlines()]  # every line is whole JSON
        assert 0 < len(lines) < 45
    finally:
        subprocess.run(["umount", str(disk)], check=False)


SLOW_THIRD = '''
import os, time
from wattbench.backends.llamacpp import LlamaCppBackend
COUNT = [0]
class Slow(LlamaCppBackend):
    def load(self, ref, options):
        model = super().load(ref, options)
        generate = model.generate
        def slow(messages, sampling):
            COUNT[0] += 1
            if COUNT[0] == 4:  # warm-up, two cases, then the third case hangs
                open("generating", "w").close()
                time.sleep(60)
            return generate(messages, sampling)
        model.generate = slow
        return model
def pytest_wattbench_make_backend(name, settings):
    return Slow(settings)
'''


def test_ctrl_c_mid_case_keeps_every_finished_case(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    suite.makeconftest(SLOW_THIRD)
    out = suite.path / "out.json"
    run_dir = suite.path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf),
         *ONE_TASK, "--wb-run-dir", str(run_dir), "--benchmark-json", str(out)],
        cwd=suite.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 60
    while not (suite.path / "generating").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0]
    assert "Traceback" not in output.split("KeyboardInterrupt")[-1], output[-3000:]
    entries = json.loads(out.read_text())["benchmarks"]
    assert [e["extra_info"]["level"] for e in entries] == ["L0", "L1"]
    assert [r["level"] for r in records(run_dir)] == ["L0", "L1"]
    assert "2 run records appended to" in output


KILLER = '''
import os, signal, threading
DELAY = float(os.environ["WB_KILL_AFTER_S"])
def pytest_configure(config):
    threading.Timer(DELAY, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
'''


def _crash_then_resume(suite: pytest.Pytester, args: list[str], delay_s: float) -> list[dict[str, object]]:
    """Run the suite, kill -9 it after ``delay_s``, then run it again into the same folder."""
    run_dir = suite.path / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    (suite.path / "conftest.py").write_text(KILLER)
    command = [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", *args,
               "--wb-run-dir", str(run_dir)]
    subprocess.run(command, cwd=suite.path, env={**os.environ, "WB_KILL_AFTER_S": str(delay_s)},
                   capture_output=True, timeout=120)
    (suite.path / "conftest.py").unlink()
    resumed = subprocess.run(command, cwd=suite.path, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout[-2000:]
    return records(run_dir)


@pytest.mark.parametrize("backend", ["llamacpp", "openai", "ollama"])
def test_kill_9_anywhere_then_resume_loses_and_duplicates_nothing(
    suite: pytest.Pytester, tiny_gguf: Path, llama_server: str, backend: str
) -> None:
    from fakeollama import FakeOllama, serve
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    args = [*ONE_TASK, "--wb-levels", "L0,L1,L2", "--wb-max-tokens", "16"]
    with serve(FakeOllama()) as ollama_host:
        args += {
            "llamacpp": ["--wb-model", str(tiny_gguf)],
            "openai": ["--wb-backend", "openai", "--wb-base-url", llama_server],
            "ollama": ["--wb-backend", "ollama", "--wb-ollama-host", ollama_host, "--wb-model", "qwen3:4b"],
        }[backend]

        @settings(max_examples=4, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(delay_s=st.floats(min_value=0.0, max_value=4.0))
        def crash_anywhere(delay_s: float) -> None:
            saved = [r for r in _crash_then_resume(suite, args, delay_s) if "error" not in r]
            ids = [r["case_id"] for r in saved]
            assert sorted(ids) == sorted(set(ids)), f"duplicated after a kill at {delay_s:.2f} s"
            assert len(ids) == 3, f"lost after a kill at {delay_s:.2f} s: {ids}"

        crash_anywhere()


def test_a_run_that_measures_nothing_leaves_no_empty_run_folder(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    empty, kept = suite.path / "empty", suite.path / "kept"
    nothing = suite.runpytest("bench", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf),
                              "-k", "nosuchcase", "--wb-run-dir", str(empty))
    assert nothing.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert not empty.exists()
    ran = suite.runpytest("bench", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf),
                          "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0",
                          "--wb-run-dir", str(kept))
    ran.assert_outcomes(passed=2)
    assert (kept / "results.jsonl").is_file()

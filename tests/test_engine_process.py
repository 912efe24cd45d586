"""Engine crashes are contained: an in-process engine runs in a worker process per model.

The inputs are ../shared/cases/engines.md's section 1: an engine that segfaults (here a real
SIGSEGV, ``ctypes.string_at(0)``, see crashbackend.py) fails the case in flight with the signal
named, its model's other cases fail fast with the same reason, the next model runs, and nothing
measured is lost.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest
from crashbackend import CONFTEST, CRASH_ENV
from test_plugin import records, run_suite

from wattbench.backends.engineprocess import EngineProcess, how_it_ended
from wattbench.backends.llamacpp import LlamaCppBackend
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
from wattbench.errors import EngineCrashedError, ModelLoadError
from wattbench.monitors.gauges import TREE_REFRESH_S, own_tree

QA_SHORT = ("--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0,L1,L2,L3")
CHAT = ({"role": "user", "content": "a"},)


@pytest.fixture
def two_models(tiny_gguf: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The tiny model twice, under two names: 'crashy' first, then 'steady'."""
    crashy, steady = tmp_path / "crashy.gguf", tmp_path / "steady.gguf"
    shutil.copyfile(tiny_gguf, crashy)
    shutil.copyfile(tiny_gguf, steady)
    return crashy, steady


def test_a_segfault_fails_its_model_and_the_next_model_runs(
    suite: pytest.Pytester, two_models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeconftest(CONFTEST)
    monkeypatch.setenv(CRASH_ENV, "crashy:3")  # the warm-up, L0, then L1 crashes
    crashy, steady = two_models
    run_dir = suite.path / "run"
    result, data = run_suite(suite, "--wb-backend", "crashing", "--wb-model", f"{crashy},{steady}",
                             *QA_SHORT, "--wb-run-dir", str(run_dir))
    # Each model: one growth check and four cases; crashy's L1, L2 and L3 fail.
    result.assert_outcomes(passed=2 + 1 + 4, failed=3)
    text = result.stdout.str()
    assert ("crashy-qa-short-L1: crashy: the engine's process died of SIGSEGV (signal 11) while "
            "generating") in text
    assert "Fatal Python error: Segmentation fault" in text  # the worker's last words
    saved = {r["case_id"]: r for r in records(run_dir)}
    assert "error" not in saved["crashy-qa-short-L0"]
    assert saved["crashy-qa-short-L0"]["engine_isolation"] == "process"
    for level in ("L1", "L2", "L3"):
        failed = saved[f"crashy-qa-short-{level}"]
        assert failed["engine_crash"] == "SIGSEGV (signal 11)", failed
        assert "SIGSEGV" in failed["error"]
    for level in ("L0", "L1", "L2", "L3"):
        assert saved[f"steady-qa-short-{level}"]["output_text"], "the next model ran"
    assert len(data["benchmarks"]) == 5  # crashy's L0 and steady's four
    result.stdout.fnmatch_lines(["*engine crash*crashy*SIGSEGV*"])

    # The next run's resume is clean: only the three failed cases run again.
    monkeypatch.delenv(CRASH_ENV)
    again, _ = run_suite(suite, "--wb-backend", "crashing", "--wb-model", f"{crashy},{steady}",
                         *QA_SHORT, "--wb-run-dir", str(run_dir))
    again.assert_outcomes(passed=2 + 3, skipped=5)


def test_a_crash_at_warm_up_fails_every_case_of_that_model(
    suite: pytest.Pytester, two_models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeconftest(CONFTEST)
    monkeypatch.setenv(CRASH_ENV, "crashy:1")
    crashy, steady = two_models
    run_dir = suite.path / "run"
    result, _ = run_suite(suite, "--wb-backend", "crashing", "--wb-model", f"{crashy},{steady}",
                          *QA_SHORT, "--wb-run-dir", str(run_dir))
    result.assert_outcomes(passed=1 + 4, failed=1 + 4)
    result.stdout.fnmatch_lines(["*crashy: its warm-up generation failed: crashy: the engine's process died "
                                 "of SIGSEGV (signal 11) while generating*"])
    crashed = [r for r in records(run_dir) if r["case_id"].startswith("crashy")]
    assert len(crashed) == 4 and all(r["engine_crash"] == "SIGSEGV (signal 11)" for r in crashed)


def test_the_worker_gives_the_same_answer_and_its_own_clock(tiny_gguf: Path) -> None:
    backend = LlamaCppBackend(BackendOptions())
    ref = backend.resolve(str(tiny_gguf))[0]
    sampling = Sampling(max_tokens=8, temperature=0.0)
    here = backend.load(ref, LoadOptions(context_tokens=256))
    expected, tokens = here.generate(CHAT, sampling).text, here.count_prompt_tokens(CHAT)
    here.close()
    before = time.perf_counter()
    there = EngineProcess("wattbench.backends.llamacpp:LlamaCppBackend", BackendOptions(), ref,
                          LoadOptions(context_tokens=256))
    try:
        generation = there.generate(CHAT, sampling)
        assert generation.text == expected == "abcdefgh"
        # Timestamps come from the worker, on this process's clock.
        assert before < generation.requested_at <= generation.first_token_at <= generation.done_at  # type: ignore[operator]
        assert generation.done_at < time.perf_counter()
        assert there.count_prompt_tokens(CHAT) == tokens
        assert there.metadata["engine_isolation"] == "process"
        assert there.metadata["model_sha256"] == here.metadata["model_sha256"]
    finally:
        there.close()
    assert there._process.poll() == 0  # closed politely


def test_the_worker_is_in_the_benchmarks_process_tree_from_its_start(tiny_gguf: Path) -> None:
    """Its CPU time is the case's: the CPU estimate and the gauges count it from the first
    window, not up to TREE_REFRESH_S later (a run of short cases ended before then, and every
    estimated energy read 0 J)."""
    tree = own_tree()
    tree.pids()  # the list of descendants is fresh now: a worker started next must still be found
    ref = LlamaCppBackend(BackendOptions()).resolve(str(tiny_gguf))[0]
    started = time.monotonic()
    there = EngineProcess("wattbench.backends.llamacpp:LlamaCppBackend", BackendOptions(), ref,
                          LoadOptions(context_tokens=256))
    try:
        found = there._process.pid in tree.pids()
        assert time.monotonic() - started < TREE_REFRESH_S or found  # too slow a load proves nothing
        assert found
    finally:
        there.close()


def test_a_run_of_short_cases_charges_the_workers_cpu_time(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    run_dir = suite.path / "run"
    result, _ = run_suite(suite, "--wb-model", str(tiny_gguf), *QA_SHORT, "--wb-run-dir", str(run_dir))
    result.assert_outcomes(passed=1 + 4)
    assert len(records(run_dir)) == 4
    for record in records(run_dir):
        assert record["energy_method"] == "estimated"
        assert record["process_cpu_util_avg_pct"] > 0, record["case_id"]


def test_a_model_the_worker_cannot_load_is_a_load_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    backend = LlamaCppBackend(BackendOptions())
    ref = backend.resolve(str(broken))[0]
    with pytest.raises(ModelLoadError, match=r"llama\.cpp could not load"):
        EngineProcess("wattbench.backends.llamacpp:LlamaCppBackend", BackendOptions(), ref, LoadOptions())


def test_a_backend_the_worker_cannot_import_says_how_to_run_without_a_worker(tiny_gguf: Path) -> None:
    ref = LlamaCppBackend(BackendOptions()).resolve(str(tiny_gguf))[0]
    with pytest.raises(ModelLoadError, match=r"--wb-isolation off"):
        EngineProcess("no_such_module:Backend", BackendOptions(), ref, LoadOptions())


def test_every_later_call_raises_the_same_crash(tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRASH_ENV, "tiny:2")
    ref = LlamaCppBackend(BackendOptions()).resolve(str(tiny_gguf))[0]
    model = EngineProcess("crashbackend:CrashingBackend", BackendOptions(), ref,
                          LoadOptions(context_tokens=256))
    sampling = Sampling(max_tokens=4, temperature=0.0)
    model.generate(CHAT, sampling)
    with pytest.raises(EngineCrashedError) as first:
        model.generate(CHAT, sampling)
    start = time.perf_counter()
    with pytest.raises(EngineCrashedError) as second:
        model.count_prompt_tokens(CHAT)
    assert second.value is first.value and time.perf_counter() - start < 0.1
    assert first.value.how == "SIGSEGV (signal 11)"
    model.close()


@pytest.mark.parametrize(("code", "said"), [
    (-signal.SIGSEGV, "SIGSEGV (signal 11)"),
    (-signal.SIGABRT, "SIGABRT (signal 6)"),
    (-signal.SIGKILL, "SIGKILL (signal 9): killed, e.g. by the kernel's out-of-memory killer"),
    (3, "exit status 3"),
    (0xC0000005, "an access violation (0xC0000005)"),  # Windows: the NTSTATUS code, unsigned
])
def test_how_a_process_ended_is_said_in_words(code: int, said: str) -> None:
    assert how_it_ended(code) == said

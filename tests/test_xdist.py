"""pytest-xdist inside one host: one worker per model group, the benchmark JSON, the summary,
and windows that overlap another worker's marked as shared."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_plugin import records
from tinymodel import write_tiny_gguf

from wattbench.scale.workers import WindowLog, devices_for, parse_devices, sharing_figures


def test_n_2_writes_every_case_into_the_benchmark_json_and_prints_the_summary(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    other = write_tiny_gguf(tmp_path / "other.gguf")
    run_dir = suite.path / "run"
    out = suite.path / "out.json"
    result = suite.runpytest_subprocess(
        "bench", "-n", "2", "-p", "no:cacheprovider", "--wb-model", f"{tiny_gguf},{other}",
        "--wb-tasks", "qa,summary", "--wb-loads", "short", "--wb-levels", "L0,L1",
        "--wb-run-dir", str(run_dir), "--benchmark-json", str(out),
    )
    result.assert_outcomes(passed=2 * (2 + 4))
    result.stdout.fnmatch_lines(["*8 run records appended to *results.jsonl by 2 pytest-xdist workers*"])
    data = json.loads(out.read_text())
    ids = sorted(e["extra_info"]["case_id"] for e in data["benchmarks"])
    assert ids == sorted(r["case_id"] for r in records(run_dir)) and len(ids) == 8
    entry = data["benchmarks"][0]
    assert entry["stats"]["rounds"] == 1 and entry["stats"]["mean"] > 0
    assert entry["params"]["wb_case"] == entry["extra_info"]["case_id"]
    # Each model's cases ran on one worker (its xdist_group), so each loaded once.
    by_model: dict[str, set[float]] = {}
    for record in records(run_dir):
        by_model.setdefault(record["model"], set()).add(record["model_load_s"])
    assert {m: len(loads) for m, loads in by_model.items()} == {"tiny": 1, "other": 1}


def test_pytest_benchmark_compare_reads_the_xdist_json(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    out = suite.path / "out.json"
    suite.runpytest_subprocess(
        "bench", "-n", "2", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf), "--wb-tasks", "qa",
        "--wb-loads", "short", "--wb-levels", "L0", "--wb-run-dir", "run", "--benchmark-json", str(out),
    ).assert_outcomes(passed=2)
    shown = suite.run("pytest-benchmark", "compare", str(out))
    assert shown.ret == 0
    shown.stdout.fnmatch_lines(["*test_case*tiny-qa-short-L0*"])


def test_overlapping_windows_of_two_workers_are_marked_shared(tmp_path: Path) -> None:
    first = WindowLog(tmp_path, "gw0", None)
    second = WindowLog(tmp_path, "gw1", None)
    first.begin()
    second.begin()
    assert [o["worker"] for o in second.end()] == ["gw0"]  # gw0 is still generating
    assert [o["worker"] for o in first.end()] == ["gw1"]  # gw1 generated during gw0's window
    alone = WindowLog(tmp_path / "b", "gw0", None)
    alone.begin()
    assert alone.end() == []


def test_disjoint_gpu_sets_keep_the_gpu_attributable() -> None:
    overlaps = [{"worker": "gw1", "devices": ["2", "3"]}]
    shared = sharing_figures(overlaps, ["0", "1"])
    assert shared["energy_shared"] is True and "GPU" not in shared["energy_attribution"]
    assert "GPU" in sharing_figures([{"worker": "gw1", "devices": ["1"]}], ["0", "1"])["energy_attribution"]
    assert sharing_figures([], ["0"]) == {}


def test_devices_give_each_worker_its_set() -> None:
    sets = parse_devices("0,1;2,3")
    assert [devices_for(w, sets) for w in ("gw0", "gw1", "gw2")] == [("0", "1"), ("2", "3"), ("0", "1")]
    with pytest.raises(ValueError, match="one set per worker"):
        parse_devices("0,1;;2")


def test_the_scheduler_reads_each_items_model_from_its_id() -> None:
    from wattbench.scale.workers import model_of_nodeid

    model = "smollm2-135m-instruct.q4_1"
    assert model_of_nodeid(f"bench/test_suite.py::test_case[{model}-qa-short-L0]") == model
    assert model_of_nodeid(f"bench/test_suite.py::test_prompt_growth[{model}-qa-short]") == model
    assert model_of_nodeid(f"mine/test_mine.py::test_summarise[{model}-summary-user-L0]") == model
    assert model_of_nodeid("tests/test_x.py::test_plain") is None


WAITS = """
import os, time
from pathlib import Path

def test_waits_for_the_word():
    go = Path(os.environ["WB_TEST_GO"])
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert go.exists()
"""


def test_a_second_n_run_on_the_same_folder_is_refused(
    suite: pytest.Pytester, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_waits=WAITS)
    go = suite.path / "go"
    monkeypatch.setenv("WB_TEST_GO", str(go))
    run_dir = suite.path / "run"
    args = ["-n", "2", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf), "--wb-tasks", "qa",
            "--wb-loads", "short", "--wb-levels", "L0", "--wb-run-dir", str(run_dir)]
    first = subprocess.Popen([sys.executable, "-m", "pytest", "bench", "test_waits.py", *args],
                             cwd=suite.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / ".lock.holder").exists():  # the first run's controller holds the folder
            assert first.poll() is None and time.monotonic() < deadline, "the first run never claimed"
            time.sleep(0.05)
        second = suite.runpytest_subprocess("bench", *args)
        assert second.ret == pytest.ExitCode.USAGE_ERROR
        second.stderr.fnmatch_lines([f"*run folder {run_dir} is in use by another pytest session "
                                     f"(pid {first.pid} on *)*--wb-run-dir*"])
        assert "passed" not in second.stdout.str()  # refused before any worker started
    finally:
        go.touch()
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert [r["case_id"] for r in records(run_dir)] == ["tiny-qa-short-L0"]  # the first run's, once
    assert not (run_dir / ".lock.holder").exists()  # given back when the first run ended

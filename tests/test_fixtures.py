"""wb_model and wb_measure: models as pytest fixtures, and users' own tests measured like cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_plugin import records
from tinymodel import write_tiny_gguf

USER_TEST = '''
import pytest

@pytest.mark.wattbench(task="summary", load="short", level="L0")
def test_summarise(wb_model, wb_measure):
    rec = wb_measure(wb_model, "Summarise: the cat sat.", reference="abcdefghijklmnop", max_tokens=20)
    assert rec.completion_tokens > 0
    assert rec.quality["rouge_l"] == 1.0
    assert rec.ttft_s is not None and rec.ttft_s < rec.latency_s

def test_chat(wb_model, wb_measure):
    rec = wb_measure(wb_model, [{"role": "user", "content": "Hi"}], task="qa")
    assert rec.case_id.endswith("-qa-user-L0")
'''

PHASES = '''
import json
PHASES = []
def pytest_runtest_logreport(report):
    PHASES.append([report.nodeid, report.when, report.duration])
def pytest_sessionfinish(session):
    with open("phases.json", "w") as handle:
        json.dump(PHASES, handle)
'''


def _user_suite(suite: pytest.Pytester) -> None:
    (suite.path / "mine").mkdir()
    (suite.path / "mine" / "test_mine.py").write_text(USER_TEST)


def test_a_users_test_writes_a_standard_record_that_the_report_reads(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    _user_suite(suite)
    run_dir = suite.path / "run"
    out = suite.path / "out.json"
    result = suite.runpytest("mine", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf),
                             "--wb-run-dir", str(run_dir), "--benchmark-json", str(out))
    result.assert_outcomes(passed=2)
    lines = records(run_dir)
    assert [r["case_id"] for r in lines] == ["tiny-summary-short-L0", "tiny-qa-user-L0"]
    first = lines[0]
    for key in ("latency_s", "ttft_s", "decode_tokens_per_s", "prompt_tokens", "completion_tokens",
                "energy_source", "rouge_l", "model_sha256", "fingerprint", "task_kind"):
        assert key in first, key
    entries = json.loads(out.read_text())["benchmarks"]
    assert [e["extra_info"]["case_id"] for e in entries] == ["tiny-summary-short-L0", "tiny-qa-user-L0"]
    report = subprocess.run([sys.executable, "-m", "wattbench.report.cli", "report", str(run_dir)],
                            capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert "summary" in (run_dir / "results.csv").read_text()


def test_k_selects_a_users_cases_by_their_parts(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    _user_suite(suite)
    result = suite.runpytest("mine", "--collect-only", "-q", "--wb-model", str(tiny_gguf),
                             "-k", "summary and L0")
    assert [line for line in result.outlines if "::" in line] == [
        "mine/test_mine.py::test_summarise[tiny-summary-short-L0]"
    ]


def test_two_models_load_once_each_with_the_load_in_setup(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    other = write_tiny_gguf(tmp_path / "other.gguf")  # the same tiny model under a second name
    _user_suite(suite)
    suite.makeconftest(PHASES + '''
import time
from wattbench.backends.llamacpp import LlamaCppBackend
LOADS = []
class Counting(LlamaCppBackend):
    in_process = False  # counts loads in this process: no worker process
    def load(self, ref, options):  # a load slow enough to see where pytest books it
        LOADS.append(ref.name)
        time.sleep(0.5)
        return super().load(ref, options)
def pytest_wattbench_make_backend(name, settings):
    return Counting(settings)
def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"loads: {LOADS}")
''')
    run_dir = suite.path / "run"
    result = suite.runpytest("mine", "bench", "-p", "no:cacheprovider", "--wb-model", f"{tiny_gguf},{other}",
                             "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0,L1",
                             "--wb-run-dir", str(run_dir))
    result.assert_outcomes(passed=2 * (2 + 1 + 2))  # per model: 2 user tests, 1 growth, 2 cases
    result.stdout.fnmatch_lines(["loads: ['tiny', 'other']"])
    phases = json.loads((suite.path / "phases.json").read_text())
    by_model: dict[str, list[tuple[str, float]]] = {}
    for nodeid, when, seconds in phases:
        model = "other" if "[other" in nodeid else "tiny"
        by_model.setdefault(model, []).append((when, seconds))
    for seen in by_model.values():
        first_setup = seen[0]
        assert first_setup[0] == "setup" and first_setup[1] >= 0.5  # the load is in setup
        assert all(s < 0.5 for when, s in seen if when == "call")  # never in a case's call
        assert all(s < 0.5 for when, s in seen[1:] if when == "setup")  # and paid once

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
import pytest
from wattbench.backends.llamacpp import LlamaCppBackend
LOADS = []
NOW = {}  # the phase and test pytest is in: where a load happens is booked there
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    NOW.update(phase="setup", test=item.nodeid)
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    NOW.update(phase="call", test=item.nodeid)
class Counting(LlamaCppBackend):
    in_process = False  # counts loads in this process: no worker process
    def load(self, ref, options):
        LOADS.append([ref.name, NOW.get("phase"), NOW.get("test")])
        return super().load(ref, options)
def pytest_wattbench_make_backend(name, settings):
    return Counting(settings)
def pytest_terminal_summary(terminalreporter):
    import json
    with open("loads.json", "w") as handle:
        json.dump(LOADS, handle)
    terminalreporter.write_line(f"loads: {[name for name, _, _ in LOADS]}")
''')
    run_dir = suite.path / "run"
    result = suite.runpytest("mine", "bench", "-p", "no:cacheprovider", "--wb-model", f"{tiny_gguf},{other}",
                             "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0,L1",
                             "--wb-run-dir", str(run_dir))
    result.assert_outcomes(passed=2 * (2 + 1 + 2))  # per model: 2 user tests, 1 growth, 2 cases
    result.stdout.fnmatch_lines(["loads: ['tiny', 'other']"])
    # Each model loads once, in the setup of its first test, never in a case's call: booked by the
    # phase pytest was in when the load ran (not by durations, which a busy machine stretches).
    phases = json.loads((suite.path / "phases.json").read_text())
    first_test = {}
    for nodeid, _when, _seconds in phases:
        first_test.setdefault("other" if "[other" in nodeid else "tiny", nodeid)
    loads = json.loads((suite.path / "loads.json").read_text())
    assert [(name, phase, test) for name, phase, test in loads] == [
        ("tiny", "setup", first_test["tiny"]), ("other", "setup", first_test["other"])
    ]

"""The plugin from any folder: a user's own test with no pytest.ini, no fixtures/, no run folder.

The built-in tasks and system prompts ship inside the package (wattbench.data); the repository's
fixtures/ stays where they are edited, and the copies must agree byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_plugin import records

from conftest import REPO
from wattbench import data
from wattbench.cases.build import system_prompts
from wattbench.cases.tasks import load_padding, load_task_dir

USER_TEST = '''
def test_my_summary(wb_model, wb_measure):
    rec = wb_measure(wb_model, "Summarise in one sentence: the cat sat on the mat all day.",
                     task="summary", reference="A cat sat on a mat all day.", max_tokens=24)
    assert rec is not None
'''


def test_a_users_test_in_an_empty_folder_writes_one_standard_record(
    pytester: pytest.Pytester, tiny_gguf: Path
) -> None:
    pytester.makepyfile(test_mine=USER_TEST)
    # A fresh interpreter in the folder, as the user runs it. With no ini, pytest's rootdir is the
    # common ancestor of test_mine.py and the model file, a folder above; reports/ stays here.
    result = pytester.runpytest_subprocess(
        "test_mine.py", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf),
        "--wb-idle-time", "0", "--wb-energy-min-window", "0", "--wb-report", "off",
    )
    result.assert_outcomes(passed=1)
    assert "task directory" not in result.stdout.str() + result.stderr.str()
    run_dirs = sorted((pytester.path / "reports").glob("run-*"))  # the default run folder
    assert len(run_dirs) == 1
    (record,) = records(run_dirs[0])
    assert record["case_id"] == "tiny-summary-user-L0" and record["task"] == "summary"
    for key in ("latency_s", "ttft_s", "decode_tokens_per_s", "prompt_tokens", "completion_tokens",
                "energy_source", "rouge_l", "model_sha256", "fingerprint", "task_kind"):
        assert key in record, key
    assert 0 < record["completion_tokens"] <= 24


def test_the_built_in_tasks_and_system_prompts_are_the_defaults(
    pytester: pytest.Pytester, tiny_gguf: Path
) -> None:
    pytester.makepyfile(test_mine=USER_TEST)
    pytester.makeconftest('''
def pytest_terminal_summary(terminalreporter, config):
    from wattbench.options import read_settings
    s = read_settings(config)
    terminalreporter.write_line(f"task_dir: {s.task_dir}")
    terminalreporter.write_line(f"system_prompt_file: {s.system_prompt_file}")
''')
    result = pytester.runpytest_subprocess(
        "test_mine.py", "-p", "no:cacheprovider", "--wb-model", str(tiny_gguf), "--collect-only",
        "--wb-system-prompts", "default,engineered",  # read at start-up from the built-in file
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"task_dir: {data.task_dir()}",
                                 f"system_prompt_file: {data.system_prompt_file()}"])
    assert set(load_task_dir(data.task_dir())) >= {"qa", "summary", "code"}
    assert load_padding(data.task_dir())
    assert system_prompts(["engineered"], data.system_prompt_file())["engineered"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize(
    ("edited", "shipped"),
    [(REPO / "fixtures" / "tasks", data.task_dir()),
     (REPO / "fixtures" / "system_prompts.json", data.system_prompt_file())],
    ids=["tasks", "system_prompts"],
)
def test_the_package_copy_matches_fixtures_byte_for_byte(edited: Path, shipped: Path) -> None:
    fix = f"fixtures/ is where these are edited: copy {edited.relative_to(REPO)} to {shipped}"
    if edited.is_dir():
        ours, theirs = _files(edited), _files(shipped)
        assert sorted(ours) == sorted(theirs), fix
        for name, content in ours.items():
            assert content == theirs[name], f"{name} differs; {fix}"
    else:
        assert edited.read_bytes() == shipped.read_bytes(), fix


@pytest.mark.slow
def test_the_example_runs_from_a_folder_of_its_own_on_the_default_model(
    pytester: pytest.Pytester, smollm2: Path
) -> None:
    example = REPO / "examples" / "test_my_summariser.py"
    (pytester.path / example.name).write_text(example.read_text())
    result = pytester.runpytest_subprocess(
        example.name, "-p", "no:cacheprovider", "--wb-idle-time", "0", "--wb-report", "off",
    )
    result.assert_outcomes(passed=1)
    (run_dir,) = (pytester.path / "reports").glob("run-*")
    (record,) = records(run_dir)
    assert record["case_id"] == "smollm2-135m-instruct.q4_1-summary-short-L0"

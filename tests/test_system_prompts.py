"""System prompts as one more axis: the same cases under the default and a named prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plugin import case_ids, run_suite

from conftest import REPO


def test_each_case_runs_under_each_system_prompt_side_by_side(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    prompts = REPO / "fixtures" / "system_prompts.json"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-system-prompts", "default,engineered",
        "--wb-system-prompt-file", str(prompts), "--wb-run-dir", str(suite.path / "run"),
    )
    result.assert_outcomes(passed=2 + 2)
    infos = {e["extra_info"]["case_id"]: e["extra_info"] for e in data["benchmarks"]}
    plain, engineered = infos["tiny-qa-short-L0"], infos["tiny-qa+engineered-short-L0"]
    assert (plain["system_prompt"], engineered["system_prompt"]) == ("default", "engineered")
    assert plain["task"] == engineered["task"] == "qa"  # scorers see the task itself
    assert "rouge_l" in engineered
    system_tokens = engineered["prompt_tokens"] - plain["prompt_tokens"]
    assert system_tokens > len(json.loads(prompts.read_text())["engineered"].split()) / 2


def test_k_selects_a_system_prompt(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    prompts = REPO / "fixtures" / "system_prompts.json"
    result = suite.runpytest(
        "bench", "--collect-only", "-q", "--wb-model", str(tiny_gguf), "--wb-tasks", "qa",
        "--wb-system-prompts", "default,engineered", "--wb-system-prompt-file", str(prompts),
        "-k", "engineered",
    )
    ids = case_ids(result)
    assert len(ids) == 15 and all("+engineered-" in i for i in ids)


def test_an_unknown_system_prompt_names_the_file(suite: pytest.Pytester, tmp_path: Path) -> None:
    file = tmp_path / "prompts.json"
    file.write_text('{"terse": "Be brief."}')
    result = suite.runpytest(
        "bench", "--wb-system-prompts", "default,chatty", "--wb-system-prompt-file", str(file)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*unknown system prompt 'chatty'*{file} defines: terse*"])

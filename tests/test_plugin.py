"""The plugin end to end, through pytester, on the real llama.cpp engine with the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tinymodel import expected_answer, write_tiny_gguf

from wattbench.metrics import KEYS

LEVEL_IDS = ("L0", "L1", "L2", "L3", "P")
TASK_NAMES = ("qa", "summary", "code", "creative", "math", "stem", "reasoning", "extraction",
              "humanities", "roleplay")


def run_suite(suite: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run the copied bench/ suite; return the result and the pytest-benchmark JSON."""
    out = suite.path / "out.json"
    result = suite.runpytest("bench", "-p", "no:cacheprovider", "--benchmark-json", str(out), *args)
    data = json.loads(out.read_text()) if out.exists() else {"benchmarks": []}
    return result, data


def records(run_dir: Path) -> list[dict[str, Any]]:
    """The complete lines of a run directory's results file (a torn line is left out)."""
    path = run_dir / "results.jsonl"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            assert line.startswith('{"case_id"'), line
    return out


def case_ids(result: pytest.RunResult) -> list[str]:
    """Parameter ids of the test_case items in a --collect-only -q listing."""
    return [
        line.split("[", 1)[1].rstrip("]")
        for line in result.outlines
        if "::test_case[" in line
    ]


def test_ids_follow_model_task_load_level(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result = suite.runpytest("bench", "--collect-only", "-q", "--wb-model", str(tiny_gguf))
    ids = case_ids(result)
    # 10 tasks x 3 loads x 5 levels, and role-play's two follow-up turns per load and level.
    assert len(ids) == 10 * 3 * 5 + 2 * 3 * 5
    assert "tiny-code-long-P" in ids
    assert all(i.split("-")[0] == "tiny" for i in ids)
    assert {i.split("-")[1] for i in ids} == set(TASK_NAMES)
    assert {i.split("-")[2].split(".")[0] for i in ids} == {"short", "medium", "long"}
    assert "tiny-roleplay-short.t3-L2" in ids
    assert {i.split("-")[3] for i in ids} == set(LEVEL_IDS)


@pytest.mark.parametrize(
    ("expression", "task", "load", "level"),
    [("code", "code", None, None), ("L3", None, None, "L3"), ("long", None, "long", None)],
)
def test_k_selects_by_task_level_and_load(
    suite: pytest.Pytester, tiny_gguf: Path, expression: str, task: str | None,
    load: str | None, level: str | None,
) -> None:
    result = suite.runpytest(
        "bench", "--collect-only", "-q", "--wb-model", str(tiny_gguf), "-k", expression
    )
    ids = case_ids(result)
    assert ids, result.stdout.str()
    for case_id in ids:
        _model, its_task, its_load, its_level = case_id.split("-")
        assert task in (None, its_task), case_id
        assert load in (None, its_load.split(".")[0]) and level in (None, its_level), case_id
    expected = {"code": 15, "L3": 36, "long": 60}[expression]
    assert len(ids) == expected


def test_records_carry_every_key_and_exact_tokens(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa,summary", "--wb-loads", "short",
        "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2 + 10)  # two growth checks, ten cases
    entries = data["benchmarks"]
    assert len(entries) == 10
    for entry in entries:
        info = entry["extra_info"]
        assert set(info) <= KEYS
        assert info["output_text"] == expected_answer()
        assert info["completion_tokens"] == len(expected_answer())
        assert info["finish_reason"] == "stop"
        assert info["engine_prompt_tokens"] == info["prompt_tokens"]
        assert 0 < info["ttft_s"] < info["latency_s"]
        assert info["decode_tokens_per_s"] > 0 and info["engine_decode_tokens_per_s"] > 0
        assert info["model_architecture"] == "llama" and info["model_quantization"] == "F32"
        assert len(info["model_sha256"]) == 64
        assert info["backend"] == "llamacpp" and info["engine_version"].startswith("llama-cpp")
        assert entry["params"] == {"wb_model": "tiny", "wb_case": info["case_id"]}
        assert entry["stats"]["rounds"] == 1
    # The results file holds the same records, written as each case finished.
    lines = records(run_dir)
    assert [r["case_id"] for r in lines] == [e["extra_info"]["case_id"] for e in entries]


def test_prompt_tokens_grow_by_level(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    _result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "creative", "--wb-loads", "medium",
        "--wb-ctx", "16384", "--wb-run-dir", str(suite.path / "run"),
    )
    tokens = {e["extra_info"]["level"]: e["extra_info"]["prompt_tokens"] for e in data["benchmarks"]}
    assert [tokens[level] for level in LEVEL_IDS] == sorted(set(tokens.values()))


def test_code_answer_that_does_not_compile_fails_after_it_is_recorded(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "code", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*tiny-code-short-L0: the answer's code does not compile*"])
    assert [e["extra_info"]["code_compiles"] for e in data["benchmarks"]] == [False]
    assert [r["code_compiles"] for r in records(run_dir)] == [False]


def test_each_model_loads_once_and_is_freed_before_the_next(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    other = write_tiny_gguf(tmp_path / "other.gguf")
    suite.makeconftest(
        """
        from wattbench.backends.llamacpp import LlamaCppBackend

        EVENTS = []

        class Recording(LlamaCppBackend):
            in_process = False  # counts loads in this process: no worker process
            def load(self, ref, options):
                EVENTS.append(("load", ref.name))
                model = super().load(ref, options)
                close = model.close
                def recorded_close():
                    EVENTS.append(("close", ref.name))
                    close()
                model.close = recorded_close
                return model

        def pytest_wattbench_make_backend(name, settings):
            return Recording(settings)

        def pytest_sessionfinish(session):
            with open("events.json", "w") as handle:
                import json
                json.dump(EVENTS, handle)
        """
    )
    # Interleave the models on the command line and with -k; ordering must group them.
    result, data = run_suite(
        suite, "--wb-model", f"{tiny_gguf},{other}", "--wb-tasks", "qa,creative",
        "--wb-loads", "short", "--wb-levels", "L0,L1", "--wb-run-dir", str(suite.path / "run"),
        "--wb-warmup", "off",
    )
    result.assert_outcomes(passed=4 + 8)
    events = json.loads((suite.path / "events.json").read_text())
    assert events == [["load", "tiny"], ["close", "tiny"], ["load", "other"], ["close", "other"]]
    models = [e["extra_info"]["model"] for e in data["benchmarks"]]
    cold = {e["extra_info"]["case_id"]: e["extra_info"]["cold_start"] for e in data["benchmarks"]}
    assert sorted(models) == ["other"] * 4 + ["tiny"] * 4
    # With warm-up off, exactly the first case of each model runs cold.
    assert sorted(cold.values()) == [False] * 6 + [True] * 2


def test_warmup_is_not_recorded(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    run_dir = suite.path / "run"
    _result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-run-dir", str(run_dir),
    )
    info = data["benchmarks"][0]["extra_info"]
    assert info["cold_start"] is False and info["warmup_s"] > 0
    assert len(records(run_dir)) == 1


def test_runs_are_rounds_with_their_own_seed(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    run_dir = suite.path / "run"
    _result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-runs", "3", "--wb-run-dir", str(run_dir),
    )
    entry = data["benchmarks"][0]
    assert entry["stats"]["rounds"] == 3
    assert entry["extra_info"]["runs_count"] == 3
    assert [r["seed"] for r in entry["extra_info"]["per_run"]] == [42, 43, 44]
    assert [(r["run"], r["seed"]) for r in records(run_dir)] == [(0, 42), (1, 43), (2, 44)]


def test_rerun_into_the_same_directory_skips_what_is_done(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    common = ("--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
              "--wb-run-dir", str(run_dir))
    first, _ = run_suite(suite, *common)
    first.assert_outcomes(passed=1 + 5)
    # Simulate a crash after three cases: the last lines are lost, the third is torn.
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    (run_dir / "results.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])
    second, _ = run_suite(suite, *common)
    second.assert_outcomes(passed=1 + 3, skipped=2)
    assert len(records(run_dir)) == 5
    # Other settings are another experiment: nothing is skipped.
    third, _ = run_suite(suite, *common, "--wb-max-tokens", "8")
    third.assert_outcomes(passed=1 + 5)


def test_disabled_benchmark_still_records(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    run_dir = suite.path / "run"
    result = suite.runpytest(
        "bench", "--benchmark-disable", "--wb-model", str(tiny_gguf), "--wb-tasks", "qa",
        "--wb-loads", "short", "--wb-levels", "L0", "--wb-runs", "2", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2)
    assert [r["run"] for r in records(run_dir)] == [0, 1]


def test_ini_settings_apply_and_the_command_line_wins(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    suite.makeini(
        f"""
        [pytest]
        wb_task_dir = tasks
        wb_model = {tiny_gguf}
        wb_tasks = summary
        wb_loads = short
        wb_levels = L1
        wb_max_tokens = 4
        wb_run_dir = ini-run
        """
    )
    _result, data = run_suite(suite)
    (info,) = [e["extra_info"] for e in data["benchmarks"]]
    assert (info["case_id"], info["completion_tokens"], info["finish_reason"]) == (
        "tiny-summary-short-L1", 4, "length")
    assert records(suite.path / "ini-run")
    _result, data = run_suite(suite, "--wb-max-tokens", "6", "--wb-levels", "L2")
    (info,) = [e["extra_info"] for e in data["benchmarks"]]
    assert (info["case_id"], info["completion_tokens"]) == ("tiny-summary-short-L2", 6)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--wb-levels", "L4", "*unknown level 'L4'; choose from L0, L1, L2, L3, P or 'all'*"),
        ("--wb-loads", "huge", "*unknown load 'huge'; choose from short, medium, long*"),
        ("--wb-runs", "0", "*'0' must be 1 or more*"),
        ("--wb-temperature", "hot", "*'hot' is not a number*"),
        ("--wb-warmup", "maybe", "*'maybe' is not one of on, off*"),
    ],
)
def test_bad_option_values_fail_at_parse_time(
    suite: pytest.Pytester, option: str, value: str, message: str
) -> None:
    result = suite.runpytest("bench", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_ini_value_names_the_key(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\nwb_task_dir = tasks\nwb_max_tokens = lots\n")
    result = suite.runpytest("bench")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini key wb_max_tokens = 'lots': 'lots' is not a whole number*"])


def test_unknown_task_is_a_usage_error(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result = suite.runpytest("bench", "--wb-model", str(tiny_gguf), "--wb-tasks", "poetry")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown task 'poetry'*tasks in*code, creative, extraction, humanities, math, qa, reasoning, "
         "roleplay, stem, summary*"]
    )


def test_a_case_skipped_for_another_reason_is_not_counted_as_already_measured(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    suite.makeconftest(
        """
        import pytest

        def pytest_runtest_setup(item):
            if item.nodeid.endswith("-L1]"):
                pytest.skip("its check failed here")
        """
    )
    result, _ = run_suite(suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
                          "--wb-levels", "L0,L1", "--wb-run-dir", str(suite.path / "run"))
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "items: 2 passed, 0 failed (their records say why), 0 skipped (already measured in the run folder), "
        "1 skipped for another reason (e.g. its check failed here)"
    ])


def test_a_resumed_runs_benchmark_json_holds_every_case(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    run_dir = str(suite.path / "run")
    common = ("--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
              "--wb-run-dir", run_dir, "--wb-runs", "2")
    first, _ = run_suite(suite, *common, "--wb-levels", "L0,L1")
    first.assert_outcomes(passed=1 + 2)
    again, data = run_suite(suite, *common, "--wb-levels", "L0,L1,L2")
    again.assert_outcomes(passed=1 + 1, skipped=2)
    entries = {e["param"]: e for e in data["benchmarks"]}
    assert sorted(entries) == ["tiny-qa-short-L0", "tiny-qa-short-L1", "tiny-qa-short-L2"]
    saved = {(r["case_id"], r["run"]): r["latency_s"] for r in records(suite.path / "run")}
    for level in ("L0", "L1"):
        resumed = entries[f"tiny-qa-short-{level}"]
        assert resumed["options"]["timed_by"].startswith("wattbench (resumed")
        assert resumed["stats"]["data"] == [saved[f"tiny-qa-short-{level}", run] for run in (0, 1)]
        assert resumed["extra_info"]["runs_count"] == 2 and resumed["fullname"].endswith(f"-{level}]")
    assert "timed_by" not in entries["tiny-qa-short-L2"]["options"]  # measured now, by pytest-benchmark


def test_the_time_left_is_said_as_the_run_goes_and_a_resume_does_not_fake_the_pace(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = str(suite.path / "run")
    common = ("--wb-model", str(tiny_gguf), "--wb-tasks", "qa,summary", "--wb-loads", "short,medium",
              "--wb-run-dir", run_dir)
    first, _ = run_suite(suite, *common, "--wb-levels", "L0,L1")
    first.assert_outcomes(passed=4 + 8)
    # Eight cases: the first is the model's load; the next five set the pace, said once.
    first.stdout.fnmatch_lines([
        "wattbench: 6 of 8 done; about * min left for 2 more (at the pace of the last 5 measured)"
    ])
    quiet, _ = run_suite(suite, *common, "--wb-levels", "L0,L1", "-q", "--wb-run-dir", str(suite.path / "q"))
    assert "min left" not in quiet.stdout.str()  # -q: no progress lines
    again, _ = run_suite(suite, *common, "--wb-levels", "L0,L1,L2")
    again.assert_outcomes(passed=4 + 4, skipped=8)
    # The eight cases already measured are skipped in no time: never "0.0 min left for 4 more".
    assert "min left" not in again.stdout.str()  # four cases to measure: the first is the load, three pace

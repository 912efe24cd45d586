"""Bad input gets one clear message and does not take the other cases down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plugin import records, run_suite
from tinymodel import expected_answer

ONE_CASE = ("--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0")


def test_unknown_model_stops_the_run_at_start_up(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    # runs.md 7: a --wb-model that names nothing is one message at start-up, not a failure per case.
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", f"no-such-model,{tiny_gguf}", *ONE_CASE, "--wb-run-dir", str(run_dir)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--wb-model no-such-model: unknown model 'no-such-model'*"])
    assert len(result.stderr.lines) < 5 and data["benchmarks"] == []
    assert not run_dir.exists()


def test_missing_model_file_names_the_path(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result, _ = run_suite(
        suite, "--wb-model", "models/gone.gguf", *ONE_CASE, "--wb-run-dir", "run"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown model '*models/gone.gguf'*use a path to a .gguf file*"])


def test_truncated_gguf_fails_its_cases_only(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    broken = suite.path / "broken.gguf"
    broken.write_bytes(tiny_gguf.read_bytes()[:5000])  # GGUF magic, truncated body
    result, data = run_suite(
        suite, "--wb-model", f"{broken},{tiny_gguf}", "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0,L1", "--wb-run-dir", "run",
    )
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        ["*broken-qa-short-L0: llama.cpp could not load*broken.gguf*check that the file is complete*"]
    )
    assert "not used at all" not in result.stdout.str()
    assert len(data["benchmarks"]) == 2


def test_gguf_llama_cpp_refuses_is_loaded_once(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    import gguf
    import numpy as np

    alien = suite.path / "alien.gguf"
    writer = gguf.GGUFWriter(str(alien), "nosucharch")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    suite.makeconftest(
        """
        from wattbench.backends.llamacpp import LlamaCppBackend
        LOADS = []
        class Counting(LlamaCppBackend):
            in_process = False  # counts loads in this process: no worker process
            def load(self, ref, options):
                LOADS.append(ref.name)
                return super().load(ref, options)
        def pytest_wattbench_make_backend(name, settings):
            return Counting(settings)
        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"loads: {LOADS}")
        """
    )
    result, _ = run_suite(
        suite, "--wb-model", str(alien), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0,L1", "--wb-run-dir", "run",
    )
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        ["*alien-qa-short-L0: llama.cpp could not load*alien.gguf*check that the file is complete*",
         "loads: ['alien']"]
    )


def test_not_a_gguf_file(suite: pytest.Pytester) -> None:
    text = suite.path / "notes.gguf"
    text.write_text("hello")
    result, _ = run_suite(suite, "--wb-model", str(text), *ONE_CASE, "--wb-run-dir", "run")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # it resolves to no model: stops at start-up
    result.stderr.fnmatch_lines(["*is not a GGUF file (it does not start with 'GGUF')*"])


def test_context_overflow_degrades_max_tokens_or_fails_that_case(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    # L0 (331 prompt tokens) + 200 does not fit 512, + 100 does; P's prompt alone does not fit.
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0,P", "--wb-ctx", "512", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*tiny-qa-short-P: tiny: the prompt alone (* tokens) fills the context window "
         "(512 tokens); raise --wb-ctx*"]
    )
    [entry] = data["benchmarks"]
    info = entry["extra_info"]
    assert info["level"] == "L0" and info["max_tokens"] == 200
    assert info["degraded"].startswith("max_tokens 200 -> 100 after: tiny: the prompt (331 tokens) plus")
    assert info["output_text"] == expected_answer()
    assert [("error" in r) for r in records(run_dir)] == [False, True]


def write_cases(path: Path, entries: object) -> Path:
    path.write_text(json.dumps(entries))
    return path


def test_case_file_entries_become_cases(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    cases = write_cases(suite.path / "my-cases.json", [
        {"model": "all", "prompt": "Name a colour.", "task_type": "qa", "reference_text": "red"},
        {"model": ["tiny"], "prompt": "Count.", "task_type": "creative", "max_tokens": 3,
         "temperature": 0.0},
    ])
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "", "--wb-cases", str(cases),
        "--wb-run-dir", "run",
    )
    result.assert_outcomes(passed=2, skipped=1)  # no task: the growth check has nothing to check
    infos = {e["extra_info"]["case_id"]: e["extra_info"] for e in data["benchmarks"]}
    assert set(infos) == {"tiny-qa-my_cases-e0", "tiny-creative-my_cases-e1"}
    first, second = infos["tiny-qa-my_cases-e0"], infos["tiny-creative-my_cases-e1"]
    assert (first["max_tokens"], first["temperature"]) == (200, 0.7)
    assert first["output_text"] == expected_answer()
    assert (second["max_tokens"], second["temperature"], second["completion_tokens"]) == (3, 0.0, 3)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("not json", "*cases.json: is not valid JSON: Expecting value at line 1, column 1*"),
        ({"model": "all"}, "*cases.json: must hold a JSON list of entries, got dict*"),
        ([{"model": "all", "prompt": "hi"}],
         "*cases.json: entry 0, field 'task_type': must be a word*got None*"),
        ([{"model": "all", "prompt": "a", "task_type": "qa"},
          {"model": 7, "prompt": "b", "task_type": "qa"}],
         "*cases.json: entry 1, field 'model': must be a model name, a list of names, or \"all\"*"),
        ([{"model": "all", "prompt": "a", "task_type": "qa", "max_tokens": -1}],
         "*entry 0, field 'max_tokens': must be a whole number >= 1, got -1*"),
        ([{"model": "all", "prompt": "a", "task_type": "qa", "max_token": 5}],
         "*entry 0, field 'max_token': unknown field; did you mean 'max_tokens'?*"),
    ],
)
def test_malformed_case_file_names_entry_and_field(
    suite: pytest.Pytester, tiny_gguf: Path, entries: object, message: str
) -> None:
    path = suite.path / "cases.json"
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    result = suite.runpytest("bench", "--wb-model", str(tiny_gguf), "--wb-cases", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_case_file_naming_an_unknown_model(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    path = write_cases(suite.path / "cases.json",
                       [{"model": "ghost", "prompt": "a", "task_type": "qa"}])
    result, _ = run_suite(suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "",
                          "--wb-cases", str(path), "--wb-run-dir", "run")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*ghost-qa-cases-e0: unknown model 'ghost'*"])

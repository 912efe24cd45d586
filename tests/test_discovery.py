"""Models where people keep them (backends/discovery.py): ``-k NAME`` finds a model already in
Ollama's store, LM Studio's folder or the Hugging Face cache; a plain run runs only --wb-model;
a -k that selects nothing lists the models the run knows and how to add one."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from test_plugin import records, run_suite

from wattbench.backends.discovery import discover


def _ollama(home: Path, gguf: Path, name: str, tag: str) -> Path:
    """``gguf`` stored as Ollama stores a pulled model: a blob named by its digest, a manifest."""
    data = gguf.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    blobs = home / ".ollama" / "models" / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / f"sha256-{digest}").write_bytes(data)
    manifest = home / ".ollama" / "models" / "manifests" / "registry.ollama.ai" / "library" / name / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "0" * 64},
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}"},
    ]}))
    return blobs / f"sha256-{digest}"


@pytest.fixture
def home(tmp_path: Path, tiny_gguf: Path) -> Path:
    """A home holding the tiny model in all three places, and a file that is not GGUF."""
    home = tmp_path / "home"
    _ollama(home, tiny_gguf, "qwen2.5", "7b")
    studio = home / ".lmstudio" / "models" / "lmstudio-community" / "Llama-3-GGUF"
    studio.mkdir(parents=True)
    shutil.copyfile(tiny_gguf, studio / "Llama-3-tiny-Q4_K_M.gguf")
    (studio / "notes.gguf").write_text("not a model")
    snapshot = home / ".cache" / "huggingface" / "hub" / "models--org--Phi-GGUF" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "phi-mini.Q8_0.gguf").write_bytes(tiny_gguf.read_bytes() + b"\0")  # another file
    return home


def test_models_are_found_in_the_three_places_and_named_as_users_name_them(home: Path) -> None:
    found = {(f.name, f.where) for f in discover(home, env={})}
    assert found == {("qwen2.5:7b", "ollama"), ("Llama-3-tiny-Q4_K_M", "lmstudio"),
                     ("phi-mini.Q8_0", "huggingface")}


def test_the_environment_moves_the_stores(home: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.move(str(home / ".ollama" / "models"), moved)
    assert "qwen2.5:7b" not in {f.name for f in discover(home, env={})}
    assert "qwen2.5:7b" in {f.name for f in discover(home, env={"OLLAMA_MODELS": str(moved)})}


def test_dash_k_benchmarks_a_model_found_in_ollamas_store(
    suite: pytest.Pytester, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))
    run_dir = suite.path / "run"
    result, _ = run_suite(suite, "-k", "qwen and qa and short and L0", "--wb-max-tokens", "32",
                             "--wb-run-dir", str(run_dir))
    result.assert_outcomes(passed=1)
    (record,) = records(run_dir)
    assert record["model"] == "qwen2.5_7b" and record["case_id"] == "qwen2.5_7b-qa-short-L0"


def test_a_plain_run_runs_only_the_named_model_and_says_what_else_it_found(
    suite: pytest.Pytester, home: Path, monkeypatch: pytest.MonkeyPatch, tiny_gguf: Path
) -> None:
    monkeypatch.setenv("HOME", str(home))
    result, _ = run_suite(suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
                          "--wb-levels", "L0", "--wb-run-dir", str(suite.path / "run"))
    result.assert_outcomes(passed=1 + 1)
    result.stdout.fnmatch_lines([
        "wattbench: 3 more models found (llama-3-tiny-q4_k_m, phi-mini.q8_0, qwen2.5_7b); select with -k "
        "NAME or --wb-model all"
    ])


def test_a_dash_k_that_selects_nothing_lists_the_known_models(
    suite: pytest.Pytester, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))
    result, _ = run_suite(suite, "-k", "nosuchmodel", "--wb-run-dir", str(suite.path / "run"))
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines([
        "*-k 'nosuchmodel' selects no case. The models this run knows:",
        "  smollm2-135m-instruct.q4_1  (--wb-model)",
        "  llama-3-tiny-q4_k_m  (found: lmstudio)",
        "  phi-mini.q8_0  (found: huggingface)",
        "  qwen2.5_7b  (found: ollama)",
        "Add one: --wb-model PATH.gguf*",
    ])


def test_discovery_off_finds_nothing(
    suite: pytest.Pytester, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))
    result, _ = run_suite(suite, "-k", "qwen", "--wb-discover", "off",
                          "--wb-run-dir", str(suite.path / "run"))
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "qwen2.5_7b" not in result.stdout.str()


def test_a_broken_store_never_stops_the_run_and_names_are_those_users_see(
    home: Path, tiny_gguf: Path
) -> None:
    manifests = home / ".ollama" / "models" / "manifests"
    for bad, text in (("x", '{"layers": 5}'), ("y", "not json"), ("z", '{"layers": [{"digest": 3}]}')):
        (manifests / "registry.ollama.ai" / "library" / bad).mkdir(parents=True)
        (manifests / "registry.ollama.ai" / "library" / bad / "latest").write_text(text)
    _ollama(home, tiny_gguf, "X-GGUF", "Q4_K_M")  # then moved under another registry
    moved = manifests / "hf.co" / "bartowski" / "X-GGUF"
    moved.parent.mkdir(parents=True)
    (manifests / "registry.ollama.ai" / "library" / "X-GGUF").rename(moved)
    # The same file stem in two places is one model, found once.
    hub = home / ".cache" / "huggingface" / "hub" / "models--a--b" / "snapshots" / "r1"
    hub.mkdir(parents=True)
    shutil.copyfile(tiny_gguf, hub / "Llama-3-tiny-Q4_K_M.gguf")
    found = discover(home, env={})
    names = [f.name for f in found]
    assert "hf.co/bartowski/X-GGUF:Q4_K_M" in names
    assert names.count("Llama-3-tiny-Q4_K_M") == 1


def test_a_discovered_case_named_by_node_id_runs(
    suite: pytest.Pytester, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))
    result = suite.runpytest("bench/test_suite.py::test_case[qwen2.5_7b-qa-short-L0]",
                             "-p", "no:cacheprovider", "--wb-max-tokens", "16",
                             "--wb-run-dir", str(suite.path / "run"))
    result.assert_outcomes(passed=1)


def test_collect_only_with_a_matching_k_does_not_say_it_selects_nothing(
    suite: pytest.Pytester, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))
    result = suite.runpytest("bench", "-p", "no:cacheprovider", "--collect-only", "-q",
                             "-k", "qwen and qa and short and L0", "--wb-run-dir", str(suite.path / "run"))
    assert "selects no case" not in result.stdout.str()
    assert "bench/test_suite.py::test_case[qwen2.5_7b-qa-short-L0]" in result.stdout.str()

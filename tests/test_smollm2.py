"""The real SmolLM2 model, end to end through `pytest bench/`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattbench.metrics import KEYS

pytestmark = pytest.mark.slow


def test_bench_on_smollm2(suite: pytest.Pytester, smollm2: Path) -> None:
    out = suite.path / "out.json"
    run_dir = suite.path / "run"
    result = suite.runpytest_subprocess(
        "bench", "-p", "no:cacheprovider", "-k", "smollm and short and (qa or summary or creative or math)",
        "--wb-max-tokens", "24", "--wb-run-dir", str(run_dir), "--benchmark-json", str(out),
        "--wb-idle-time", "1", "--wb-energy-min-window", "0.5",
    )
    result.assert_outcomes(passed=4 + 20)  # qa, summary, creative, math: growth checks and cases
    entries = json.loads(out.read_text())["benchmarks"]
    assert len(entries) == 20
    for entry in entries:
        info = entry["extra_info"]
        assert set(info) <= KEYS
        assert info["model"] == "smollm2-135m-instruct.q4_1"
        assert info["model_quantization"] == "Q4_1" and info["model_architecture"] == "llama"
        assert info["model_param_count"] > 100_000_000
        assert 0 < info["completion_tokens"] <= 24 and info["output_text"].strip()
        assert info["engine_prompt_tokens"] == info["prompt_tokens"]
        # Our decode rate includes sampling; llama.cpp's counts evaluation alone.
        assert 0.5 < info["decode_tokens_per_s"] / info["engine_decode_tokens_per_s"] <= 1.05
        assert info["energy_source"] == "estimate" and info["energy_method"] == "estimated"
        assert info["energy_j"] > 0 and info["energy_window_s"] >= 0.5
        assert info["idle_power_w"] >= 0 and "energy_net_j" in info and info["rss_peak_mb"] > 100
    assert json.loads(out.read_text())["wattbench"]["energy"]["idle_before"]["chunks_count"] == 10
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == 20


def test_bench_on_smollm2_through_the_real_server(suite: pytest.Pytester, smollm2: Path) -> None:
    from conftest import running_llama_server

    out = suite.path / "out.json"
    with running_llama_server(smollm2) as (url, _process):
        result = suite.runpytest_subprocess(
            "bench", "-p", "no:cacheprovider", "--wb-backend", "openai", "--wb-base-url", url,
            "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0,L3", "--wb-max-tokens", "24",
            "--wb-run-dir", str(suite.path / "run"), "--benchmark-json", str(out),
        )
    result.assert_outcomes(passed=1 + 2)
    for entry in json.loads(out.read_text())["benchmarks"]:
        info = entry["extra_info"]
        assert set(info) <= KEYS
        assert info["backend"] == "openai" and info["token_count_source"] == "stream chunks"
        assert 0 < info["completion_tokens"] <= 24 and info["output_text"].strip()
        assert info["prompt_tokens"] > 20 and 0 < info["ttft_s"] < info["latency_s"]
        assert info["energy_j"] > 0

"""The Ollama backend through the official client, against a local server that speaks Ollama's
documented API (tests/fakeollama.py); and a live test where a real server answers."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest
from fakeollama import TOKENS, FakeOllama, serve
from test_plugin import records, run_suite

from conftest import free_port
from wattbench.backends.ollama import OllamaBackend, OllamaOptions
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
from wattbench.errors import ModelNotFoundError, OutOfMemoryError

SAMPLING = Sampling(max_tokens=50, temperature=0.2, top_p=0.9, seed=7)
MESSAGES = ({"role": "user", "content": "What is the capital of France?"},)


def test_models_resolve_by_name_all_and_default() -> None:
    with serve(FakeOllama()) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host),)))
        assert [r.name for r in backend.resolve("all")] == ["qwen3_4b", "gemma3_1b"]
        assert [r.name for r in backend.resolve("default")] == ["qwen3_4b"]
        with pytest.raises(ModelNotFoundError, match=r"not pulled .*run `ollama pull llama3.2`"):
            backend.resolve("llama3.2")


def test_a_name_without_a_tag_means_latest() -> None:
    with serve(FakeOllama(pulled={"llama3.2:latest": "abc"})) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host),)))
        assert backend.resolve("llama3.2")[0].location.endswith("#abc")


def test_no_server_says_how_to_start_one() -> None:
    backend = OllamaBackend(BackendOptions(retries=1, own=(OllamaOptions(host=f"127.0.0.1:{free_port()}"),)))
    with pytest.raises(ModelNotFoundError, match=r"no answer from Ollama .*gave up after 2 .*ollama serve"):
        backend.resolve("all")


def test_load_generate_and_unload() -> None:
    state = FakeOllama()
    with serve(state) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host),)))
        model = backend.load(backend.resolve("qwen3:4b")[0], LoadOptions(context_tokens=8192))
        assert model.load_s == pytest.approx(0.4) and "qwen3:4b" in state.loaded
        assert model.metadata == {
            "model_id": "qwen3:4b", "server_url": host, "model_digest": "a1b2c3d4e5f6",
            "model_family": "qwen3", "model_parameter_size": "4.0B", "model_quantization": "Q4_K_M",
            "model_format": "gguf",
        }
        generation = model.generate(MESSAGES, SAMPLING)
        model.close()
    assert generation.text == "".join(TOKENS) and generation.completion_tokens == len(TOKENS)
    assert generation.prompt_tokens == 10 and generation.token_count_source == "server"
    assert generation.engine == {
        "engine_prompt_tokens": 10, "engine_prompt_eval_s": pytest.approx(0.1),
        "engine_decode_tokens": 5, "engine_decode_s": pytest.approx(0.25),
        "engine_load_s": pytest.approx(0.001), "engine_total_s": pytest.approx(0.9),
    }
    # Five tokens 3 ms apart: the first token is the first content, the decode spans the rest.
    assert generation.last_token_at - generation.first_token_at >= 0.009  # type: ignore[operator]
    path, chat = state.requests[-2]
    assert path == "/api/chat" and chat["stream"] is True and chat["keep_alive"] == "30m"
    expected = {"temperature": 0.2, "top_p": 0.9, "seed": 7, "num_predict": 50, "num_ctx": 8192}
    assert chat["options"] == expected
    path, unload = state.requests[-1]
    assert path == "/api/generate" and unload["prompt"] == "" and unload["keep_alive"] == 0
    assert "qwen3:4b" not in state.loaded


def test_cold_mode_loads_the_model_for_every_generation() -> None:
    state = FakeOllama()
    with serve(state) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host, cold=True),)))
        model = backend.load(backend.resolve("qwen3:4b")[0], LoadOptions())
        first, second = model.generate(MESSAGES, SAMPLING), model.generate(MESSAGES, SAMPLING)
    assert state.loads == 3  # load, then each generation loads again after keep_alive 0s
    assert first.engine["engine_load_s"] == second.engine["engine_load_s"] == pytest.approx(0.4)


def test_out_of_memory_and_server_errors_are_translated() -> None:
    oom = "model requires more system memory (8.0 GiB) than is available (4.0 GiB)"
    state = FakeOllama(chat_fault=lambda body: (500, oom))
    with serve(state) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host),)))
        model = backend.load(backend.resolve("qwen3:4b")[0], LoadOptions())
        with pytest.raises(OutOfMemoryError, match="requires more system memory"):
            model.generate(MESSAGES, SAMPLING)
        fails = iter([(503, "busy"), None])
        state.chat_fault = lambda body: next(fails, None)
        generation = model.generate(MESSAGES, SAMPLING)
    assert generation.attempts == 2 and generation.text == "".join(TOKENS)


def test_pytest_bench_on_ollama_evicts_each_model_and_degrades_on_memory(suite: pytest.Pytester) -> None:
    state = FakeOllama()
    # The smaller model runs out of memory above 50 tokens: the case is retried with fewer.
    state.chat_fault = lambda body: (
        (500, "CUDA error: out of memory")
        if body["model"] == "gemma3:1b" and body["options"]["num_predict"] > 50 else None
    )
    run_dir = suite.path / "run"
    with serve(state) as host:
        result, data = run_suite(
            suite, "--wb-backend", "ollama", "--wb-ollama-host", host, "--wb-model", "all",
            "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0,L1", "--wb-run-dir", str(run_dir),
        )
    result.assert_outcomes(passed=2 * (1 + 2))
    infos = [e["extra_info"] for e in data["benchmarks"]]
    assert [i["model"] for i in infos] == ["qwen3_4b"] * 2 + ["gemma3_1b"] * 2
    assert all(i["backend"] == "ollama" and i["token_count_source"] == "server" for i in infos)
    assert all(i["engine_decode_tokens_per_s"] == pytest.approx(5 / 0.25) for i in infos)
    assert [i.get("degraded", "")[:21] for i in infos] == ["", ""] + ["max_tokens 200 -> 50 "] * 2
    assert len(records(run_dir)) == 4
    # Eviction: the first model is unloaded (keep_alive 0) before the second one loads.
    lifecycle = [(p, b["model"], b.get("keep_alive")) for p, b in state.requests if p == "/api/generate"]
    assert lifecycle == [
        ("/api/generate", "qwen3:4b", "30m"), ("/api/generate", "qwen3:4b", 0),
        ("/api/generate", "gemma3:1b", "30m"), ("/api/generate", "gemma3:1b", 0),
    ]


def _ollama_answers(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"{host}/api/version", timeout=1):
            return True
    except OSError:
        return False


def test_live_ollama_server(suite: pytest.Pytester) -> None:
    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    host = host if "://" in host else f"http://{host}"
    if not _ollama_answers(host):
        pytest.skip(f"no Ollama server answers at {host} (set OLLAMA_HOST to run this test)")
    run_dir = Path(suite.path / "run")
    result, data = run_suite(
        suite, "--wb-backend", "ollama", "--wb-model", "default", "--wb-tasks", "qa",
        "--wb-loads", "short", "--wb-levels", "L0", "--wb-max-tokens", "32", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=2)
    [info] = [e["extra_info"] for e in data["benchmarks"]]
    assert info["completion_tokens"] > 0 and info["engine_decode_tokens_per_s"] > 0


def test_the_judge_sends_its_schema_as_format_and_weighs_the_logprobs() -> None:
    from wattbench.judge.grading import SINGLE_SCHEMA, Judge, fitted

    state = FakeOllama()
    with serve(state) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host),)))
        model = backend.load(backend.resolve("qwen3:4b")[0], LoadOptions())
        judgement = Judge(model, top_logprobs=3).single("Capital of France?", "Paris.", None)
    chat = [body for path, body in state.requests if path == "/api/chat"][-1]
    # The judge's schema, its explanation fitted to the judge's 512 tokens.
    assert chat["format"] == fitted(SINGLE_SCHEMA, 512)
    assert chat["format"]["properties"]["explanation"]["maxLength"] < 400
    assert chat["logprobs"] is True and chat["top_logprobs"] == 3
    assert judgement.parse_ok and judgement.output_format == "json schema"
    assert judgement.figures["judge_score"] == 8.0
    # The fake's rating position: "8" 0.6, "7" 0.3 and a non-rating token 0.1.
    assert judgement.figures["judge_score_weighted"] == pytest.approx((8 * 0.6 + 7 * 0.3) / 0.9)
    assert judgement.figures["judge_score_mass"] == pytest.approx(0.9)

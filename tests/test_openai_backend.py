"""The OpenAI-compatible backend: against the real llama-cpp-python server on loopback, and
against a scripted server for the faults (429 storms, 5xx, out of memory, refused connections,
timeouts, credentials)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fakeopenai import ANSWER, Reply, Script, fake_openai
from test_plugin import records, run_suite
from tinymodel import expected_answer

from conftest import free_port, running_llama_server
from wattbench.backends.llamacpp import LlamaCppBackend
from wattbench.backends.openai_compat import OpenAICompatBackend, OpenAIOptions, read_env_file
from wattbench.backends.protocol import BackendOptions, LoadOptions, OutputFormat, Sampling
from wattbench.errors import GenerationError, ModelNotFoundError

GREEDY = Sampling(max_tokens=24, temperature=0.0, top_p=1.0, seed=1)
MESSAGES = ({"role": "user", "content": "What is the capital of France?"},)
SECRET = "sk-test-0123456789abcdef"


def test_the_server_and_the_engine_agree_on_tokens_and_text(
    tiny_gguf: Path, llama_server: str
) -> None:
    settings = BackendOptions(own=(OpenAIOptions(base_url=llama_server),))
    engine = LlamaCppBackend(settings)
    local = engine.load(engine.resolve(str(tiny_gguf))[0], LoadOptions())
    server_backend = OpenAICompatBackend(settings)
    [ref] = server_backend.resolve("default")
    remote = server_backend.load(ref, LoadOptions())
    try:
        ours, theirs = local.generate(MESSAGES, GREEDY), remote.generate(MESSAGES, GREEDY)
        counted = local.count_prompt_tokens(MESSAGES)
    finally:
        local.close()
    assert theirs.text == ours.text == expected_answer()
    assert theirs.completion_tokens == ours.completion_tokens == len(expected_answer())
    assert theirs.prompt_tokens == ours.prompt_tokens == counted
    assert theirs.token_count_source == "stream chunks"  # this server sends no usage
    assert theirs.first_token_at is not None and theirs.requested_at < theirs.first_token_at
    assert theirs.first_token_at <= theirs.last_token_at <= theirs.done_at  # type: ignore[operator]


def test_pytest_bench_runs_against_the_real_server(suite: pytest.Pytester, llama_server: str) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-backend", "openai", "--wb-base-url", llama_server, "--wb-tasks", "qa",
        "--wb-loads", "short", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=1 + 5)  # the growth check counted tokens through the server
    for info in (e["extra_info"] for e in data["benchmarks"]):
        assert info["backend"] == "openai" and info["output_text"] == expected_answer()
        assert info["server_url"] == llama_server and info["model_load_s"] is None
        assert info["attempts_count"] == 1 and info["energy_j"] > 0
        assert 0 < info["ttft_s"] < info["latency_s"]
    assert len(records(run_dir)) == 5


def test_usage_from_the_server_wins_and_a_role_only_chunk_is_not_the_first_token() -> None:
    script = Script()
    with fake_openai(script) as url:
        backend = OpenAICompatBackend(BackendOptions(own=(OpenAIOptions(base_url=url),)))
        [ref] = backend.resolve("all")
        generation = backend.load(ref, LoadOptions()).generate(MESSAGES, GREEDY)
    assert ref.name == "fake_model-1"
    assert (generation.prompt_tokens, generation.completion_tokens) == (7, len(ANSWER))
    assert generation.token_count_source == "server" and generation.text == "".join(ANSWER)
    # Four content chunks 5 ms apart: the first token is the first content, not the role chunk.
    assert generation.last_token_at - generation.first_token_at >= 0.012  # type: ignore[operator]
    request = script.requests[0]
    assert request["model"] == "fake/Model-1"
    assert request["stream_options"] == {"include_usage": True} and request["seed"] == 1


def _backend(url: str, **changes: object) -> OpenAICompatBackend:
    options = BackendOptions(retries=3, own=(OpenAIOptions(base_url=url),))
    return OpenAICompatBackend(dataclasses.replace(options, **changes))  # type: ignore[arg-type]


def test_a_429_storm_is_retried_with_retry_after_and_counted() -> None:
    storm = [Reply(429, '{"error": "rate limited"}', {"Retry-After": "0.2"})] * 3
    with fake_openai(Script([*storm, Reply()])) as url:
        backend = _backend(url)
        generation = backend.load(backend.resolve("default")[0], LoadOptions()).generate(MESSAGES, GREEDY)
    assert generation.attempts == 4 and generation.retry_wait_s == pytest.approx(0.6)


def test_a_server_that_keeps_failing_gives_up_with_the_reason() -> None:
    with fake_openai(Script([Reply(503, "overloaded")])) as url:
        backend = _backend(url, retries=2)
        model = backend.load(backend.resolve("default")[0], LoadOptions())
        with pytest.raises(GenerationError, match=r"HTTP 503 .*overloaded \(gave up after 3 attempts\)"):
            model.generate(MESSAGES, GREEDY)


def test_a_refused_connection_is_a_clear_error_not_a_hang() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    refused = r"cannot list the models of .*ConnectError.*gave up after 2"
    with pytest.raises(ModelNotFoundError, match=refused):
        _backend(url, retries=1).resolve("default")


def test_a_silent_server_times_out() -> None:
    with fake_openai(Script([Reply(delay_s=2.0)])) as url:
        backend = _backend(url, retries=0, timeout_s=0.3)
        model = backend.load(backend.resolve("default")[0], LoadOptions())
        with pytest.raises(GenerationError, match="ReadTimeout"):
            model.generate(MESSAGES, GREEDY)


def test_the_api_key_is_sent_but_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    env = tmp_path / ".env"
    env.write_text(f"# keys\nexport OPENAI_API_KEY='{SECRET}'\nOTHER=1\n")
    assert read_env_file(env, "OPENAI_API_KEY") == SECRET
    # A server that echoes the credentials it got into its error message.
    def echo(body: dict[str, object]) -> Reply:
        return Reply(401, json.dumps({"error": f"bad key {script.headers[-1]['Authorization']}"}))

    script = Script([echo])
    with fake_openai(script) as url:
        own = OpenAIOptions(base_url=url, env_file=env)
        backend = OpenAICompatBackend(BackendOptions(retries=3, own=(own,)))
        model = backend.load(backend.resolve("default")[0], LoadOptions())
        with pytest.raises(GenerationError) as caught:
            model.generate(MESSAGES, GREEDY)
    assert script.headers[0]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in str(caught.value) and "***" in str(caught.value)
    assert "refused the credentials" in str(caught.value)


def test_faults_in_a_run_lose_nothing_and_out_of_memory_degrades(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    storm = [Reply(429, "slow down", {"Retry-After": "0.1"})] * 2

    def reply(body: dict[str, object]) -> Reply:
        if body.get("max_tokens", 0) > 50:  # type: ignore[operator]
            return Reply(500, '{"error": "CUDA error: out of memory"}')
        if body.get("max_tokens") == 50 and storm:  # the degraded request meets a 429 storm
            return storm.pop()
        if "Summarize the following" in json.dumps(body):
            return Reply(500, "internal error")
        return Reply()

    run_dir = suite.path / "run"
    with fake_openai(Script([reply])) as url:
        result, data = run_suite(
            suite, "--wb-backend", "openai", "--wb-base-url", url, "--wb-tasks", "qa,summary",
            "--wb-loads", "short", "--wb-levels", "L0", "--wb-retries", "2", "--wb-max-tokens", "200",
            "--wb-run-dir", str(run_dir),
        )
    # qa: growth check and case pass (degraded); summary: the server fails both, the run goes on.
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*summary-short: cannot count prompt tokens: HTTP 500*internal error*"])
    [info] = [e["extra_info"] for e in data["benchmarks"]]
    assert info["degraded"].startswith("max_tokens 200 -> 50 after: HTTP 500")
    assert info["task"] == "qa" and info["output_text"] == "".join(ANSWER)
    assert info["attempts_count"] == 3 and info["retry_wait_s"] == pytest.approx(0.2)
    saved = records(run_dir)
    assert [("error" in r) for r in saved] == [False, True]
    assert "gave up after 3 attempts" in saved[1]["error"]
    everything = (run_dir / "results.jsonl").read_text() + result.stdout.str() + result.stderr.str()
    assert SECRET not in everything


def test_a_server_killed_mid_run_fails_the_rest_and_loses_nothing(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    with running_llama_server(tiny_gguf) as (url, process):
        # Kill the server as soon as the second case is recorded.
        suite.makeconftest(
            f"""
            import os, signal

            def pytest_runtest_logreport(report):
                if report.when == "call" and report.nodeid.endswith("-L1]"):
                    os.kill({process.pid}, signal.SIGKILL)
            """
        )
        result, data = run_suite(
            suite, "--wb-backend", "openai", "--wb-base-url", url, "--wb-tasks", "qa",
            "--wb-loads", "short", "--wb-retries", "1", "--wb-run-dir", str(run_dir),
        )
        process.wait(timeout=10)
    result.assert_outcomes(passed=1 + 2, failed=3)
    result.stdout.fnmatch_lines(["*-qa-short-L2: ConnectError*(gave up after 2 attempts)*"])
    saved = records(run_dir)
    assert [("error" in r) for r in saved] == [False, False, True, True, True]
    assert [e["extra_info"]["level"] for e in data["benchmarks"]] == ["L0", "L1"]


def test_a_model_id_with_a_slash_is_a_server_model_not_a_path(suite: pytest.Pytester) -> None:
    with fake_openai(Script()) as url:
        result, data = run_suite(
            suite, "--wb-backend", "openai", "--wb-base-url", url, "--wb-model", "fake/Model-1",
            "--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0",
            "--wb-run-dir", str(suite.path / "run"),
        )
    result.assert_outcomes(passed=2)
    assert data["benchmarks"][0]["extra_info"]["model_id"] == "fake/Model-1"


def test_a_real_server_constrains_the_judge_and_returns_top_logprobs(llama_server: str) -> None:
    from wattbench.judge.grading import Judge

    backend = OpenAICompatBackend(BackendOptions(own=(OpenAIOptions(base_url=llama_server),)))
    model = backend.load(backend.resolve("default")[0], LoadOptions())
    judge = Judge(model, max_tokens=300, top_logprobs=5)
    judgement = judge.single("What is 2 + 2?", "4", None)
    # llama-cpp-python's server refuses OpenAI's json_schema (a validation error) and takes its
    # own json_object with a schema: constrained all the same, and remembered.
    assert model.formats_refused == ["json_schema"] and model.format_style == "json_object"
    assert judgement.output_format == "json schema" and judgement.parse_ok
    assert 1 <= judgement.figures["judge_score"] <= 10
    generation = model.generate(({"role": "user", "content": "hi"},), Sampling(max_tokens=3),
                                OutputFormat(top_logprobs=3))
    assert generation.logprobs is not None and len(generation.logprobs) == generation.completion_tokens
    assert "".join(t.token for t in generation.logprobs) == generation.text == expected_answer()[:3]
    assert all(t.token in t.top and len(t.top) == 3 for t in generation.logprobs)


def test_a_server_that_refuses_every_schema_gets_the_free_format() -> None:
    from wattbench.judge.grading import Judge

    def reply(body: dict[str, object]) -> Reply:
        if "response_format" in body:
            return Reply(400, '{"error": "response_format is not supported"}')
        return Reply()

    script = Script([reply])
    with fake_openai(script) as url:
        backend = OpenAICompatBackend(BackendOptions(retries=0, own=(OpenAIOptions(base_url=url),)))
        model = backend.load(backend.resolve("default")[0], LoadOptions())
        judge = Judge(model)
        first, second = judge.single("Q?", "A.", None), judge.single("Q?", "A.", None)
    # Both styles refused once each, then MT-Bench's free format, asked without a schema from then on.
    styles = [b["response_format"]["type"] for b in script.requests if "response_format" in b]
    assert styles == ["json_schema", "json_object"]
    assert (first.output_format, second.output_format) == ("free", "free")
    assert "[[rating]]" in script.requests[-1]["messages"][-1]["content"]
    # The fake answers 'Hello, world.': no [[n]] in it, so a counted parse failure, not a guess.
    assert not first.parse_ok and first.figures["judge_score"] is None


def test_a_server_template_that_refuses_the_system_role_is_folded(tmp_path: Path) -> None:
    from tinymodel import GEMMA_TEMPLATE, write_tiny_gguf

    if not GEMMA_TEMPLATE.is_file():
        pytest.skip(f"{GEMMA_TEMPLATE} is not here")
    gemma = write_tiny_gguf(tmp_path / "gemma-like.gguf", template=GEMMA_TEMPLATE.read_text(encoding="utf-8"))
    with running_llama_server(gemma) as (url, _process):
        backend = OpenAICompatBackend(BackendOptions(retries=0, own=(OpenAIOptions(base_url=url),)))
        model = backend.load(backend.resolve("default")[0], LoadOptions())
        chat = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello."})
        generation = model.generate(chat, Sampling(max_tokens=50))
    assert generation.system_prompt_folded and generation.text == expected_answer()

"""Servers with quirks (../shared/cases/servers.md): what a strict server refuses is asked again
without it, remembered for the run and recorded; what a server leaves out is unknown, never 0."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakeopenai import ANSWER, Reply, Script, fake_openai

from wattbench.backends.openai_compat import OpenAICompatBackend, OpenAIOptions
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
from wattbench.errors import ContextOverflowError, GenerationError

MESSAGES = ({"role": "user", "content": "Say hello."},)
GREEDY = Sampling(max_tokens=24, temperature=0.0, top_p=1.0, seed=1)


def _strict(status: int, message: str) -> Any:
    def reply(body: dict[str, Any]) -> Reply:
        if "stream_options" in body and body.get("stream"):
            return Reply(status=status, body=message)
        return Reply()

    return reply


def test_a_server_that_rejects_stream_options_is_asked_again_without_it_for_the_whole_run() -> None:
    for status, message in (
        (422, '{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"]}]}'),
        (400, '{"error":{"message":"Unrecognized request argument supplied: stream_options"}}'),
    ):
        script = Script(replies=[_strict(status, message)])
        with fake_openai(script) as url:
            backend = OpenAICompatBackend(BackendOptions(retries=0, own=(OpenAIOptions(base_url=url),)))
            [ref] = backend.resolve("all")
            model = backend.load(ref, LoadOptions())
            first = model.generate(MESSAGES, GREEDY)
            second = model.generate(MESSAGES, GREEDY)
        assert first.text == second.text == "".join(ANSWER)
        assert first.completion_tokens == len(ANSWER)  # one streamed chunk per token
        assert first.token_count_source == "stream chunks"
        streamed = [r for r in script.requests if r.get("stream")]
        assert ["stream_options" in r for r in streamed] == [True, False, False]  # asked once
        assert model.metadata["stream_options_refused"] is True


def test_an_ollama_final_chunk_without_prompt_eval_count_leaves_the_prompt_count_unknown() -> None:
    from fakeollama import FakeOllama, serve

    from wattbench.backends.ollama import OllamaBackend, OllamaOptions
    from wattbench.records.record import timing

    class Cached(FakeOllama):  # an older server, or a prompt served from its cache
        def _timings(self, body: dict[str, Any], loaded_now: bool, completion: int) -> dict[str, Any]:
            figures = super()._timings(body, loaded_now, completion)
            figures.pop("prompt_eval_count")
            return figures

    with serve(Cached()) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host),)))
        model = backend.load(backend.resolve("qwen3:4b")[0], LoadOptions())
        generation = model.generate(MESSAGES, GREEDY)
        model.close()
    assert generation.prompt_tokens is None and generation.completion_tokens == 5
    assert generation.token_count_source == "server (no prompt count)"
    figures = timing(generation)
    assert figures["prompt_tokens"] is None and figures["total_tokens"] is None
    assert figures["prefill_tokens_per_s"] is None


# ../shared/cases/load.md, section 1: llama-server's context error comes as HTTP 500 (llama.cpp
# PR #15780's shape). It is never transient: no retry, one failed request naming it.
EXCEED = {"error": {"code": 500, "type": "exceed_context_size_error",
                    "message": "the request exceeds the available context size",
                    "n_prompt_tokens": 1407, "n_ctx": 256}}


def _patient_model(url: str) -> Any:
    """The server's model, through a backend that would retry a transient fault four times."""
    backend = OpenAICompatBackend(BackendOptions(retries=4, own=(OpenAIOptions(base_url=url),)))
    return backend.load(backend.resolve("all")[0], LoadOptions())


def _chat_requests(script: Script) -> int:
    return sum(1 for r in script.requests if "messages" in r and r.get("max_tokens") != 1)


def test_a_context_size_error_sent_as_http_500_fails_at_once_naming_it() -> None:
    script = Script([Reply(500, json.dumps(EXCEED))])
    with fake_openai(script) as url:
        model = _patient_model(url)
        with pytest.raises(GenerationError) as caught:
            model.generate(MESSAGES, GREEDY)
    assert not isinstance(caught.value, ContextOverflowError)  # no smaller max_tokens can help
    message = str(caught.value)
    assert "exceed_context_size_error" in message and "prompt 1407 tokens, context 256 tokens" in message
    assert "gave up" not in message
    assert _chat_requests(script) == 1


def test_a_context_error_that_a_smaller_max_tokens_can_fix_is_a_context_overflow() -> None:
    fits = {"error": {**EXCEED["error"], "n_prompt_tokens": 200}}
    script = Script([Reply(500, json.dumps(fits))])
    with fake_openai(script) as url:
        model = _patient_model(url)
        with pytest.raises(ContextOverflowError, match=r"exceed_context_size_error.*prompt 200 tokens"):
            model.generate(MESSAGES, GREEDY)
    assert _chat_requests(script) == 1


def test_a_context_error_inside_a_200_stream_is_one_too() -> None:
    script = Script([Reply(events=[{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}, EXCEED])])
    with fake_openai(script) as url:
        model = _patient_model(url)
        with pytest.raises(GenerationError, match=r"exceed_context_size_error.*prompt 1407 tokens"):
            model.generate(MESSAGES, GREEDY)
    assert _chat_requests(script) == 1


def test_a_stream_cut_mid_answer_is_a_failed_attempt_not_a_finished_answer() -> None:
    # "Hel" and then the connection closes: no finish_reason, no [DONE].
    cut = Reply(events=[{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}],
                done=False)
    script = Script([cut])
    with fake_openai(script) as url:
        backend = OpenAICompatBackend(BackendOptions(retries=1, own=(OpenAIOptions(base_url=url),)))
        model = backend.load(backend.resolve("all")[0], LoadOptions())
        with pytest.raises(GenerationError, match=r"neither a finish_reason nor \[DONE\]: the answer is cut"):
            model.generate(MESSAGES, GREEDY)
    assert _chat_requests(script) == 2  # the cut attempt, and its one retry, cut again


def test_a_stream_with_done_but_no_finish_reason_is_a_finished_answer() -> None:
    script = Script([Reply(events=[{"choices": [{"index": 0, "delta": {"content": "Paris"}}]}])])
    with fake_openai(script) as url:
        generation = _patient_model(url).generate(MESSAGES, GREEDY)
    assert (generation.text, generation.finish_reason) == ("Paris", "stop")

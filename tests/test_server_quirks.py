"""Servers with quirks (../shared/cases/servers.md): what a strict server refuses is asked again
without it, remembered for the run and recorded; what a server leaves out is unknown, never 0."""

from __future__ import annotations

from typing import Any

from fakeopenai import ANSWER, Reply, Script, fake_openai

from wattbench.backends.openai_compat import OpenAICompatBackend
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling

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
            backend = OpenAICompatBackend(BackendOptions(base_url=url, retries=0))
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

    from wattbench.backends.ollama import OllamaBackend
    from wattbench.backends.protocol import OllamaOptions
    from wattbench.record import timing

    class Cached(FakeOllama):  # an older server, or a prompt served from its cache
        def _timings(self, body: dict[str, Any], loaded_now: bool, completion: int) -> dict[str, Any]:
            figures = super()._timings(body, loaded_now, completion)
            figures.pop("prompt_eval_count")
            return figures

    with serve(Cached()) as host:
        backend = OllamaBackend(BackendOptions(ollama=OllamaOptions(host=host)))
        model = backend.load(backend.resolve("qwen3:4b")[0], LoadOptions())
        generation = model.generate(MESSAGES, GREEDY)
        model.close()
    assert generation.prompt_tokens is None and generation.completion_tokens == 5
    assert generation.token_count_source == "server (no prompt count)"
    figures = timing(generation)
    assert figures["prompt_tokens"] is None and figures["total_tokens"] is None
    assert figures["prefill_tokens_per_s"] is None

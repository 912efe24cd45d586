"""The llama.cpp backend on the real engine: exact outputs, token counts and timestamps."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinymodel import expected_answer, write_tiny_gguf

from wattbench.backends.llamacpp import LlamaCppBackend, LlamaCppModel
from wattbench.backends.protocol import BackendOptions, LoadOptions, OutputFormat, Sampling
from wattbench.errors import ContextOverflowError, GenerationError, ModelNotFoundError
from wattbench.records.record import engine_figures, timing

CHAT = ({"role": "user", "content": "Hello there, model."},)


@pytest.fixture(scope="module")
def tiny(tiny_gguf: Path) -> LlamaCppModel:
    backend = LlamaCppBackend(BackendOptions())
    (ref,) = backend.resolve(str(tiny_gguf))
    model = backend.load(ref, LoadOptions(context_tokens=512))
    yield model
    model.close()


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.2])
def test_answer_is_exact_at_any_temperature(tiny: LlamaCppModel, temperature: float) -> None:
    generation = tiny.generate(CHAT, Sampling(max_tokens=50, temperature=temperature))
    assert generation.text == expected_answer()
    assert generation.completion_tokens == len(expected_answer())
    assert generation.finish_reason == "stop"


def test_max_tokens_cuts_and_counts(tiny: LlamaCppModel) -> None:
    generation = tiny.generate(CHAT, Sampling(max_tokens=5))
    assert (generation.text, generation.completion_tokens, generation.finish_reason) == (
        expected_answer()[:5], 5, "length")


def test_timestamps_are_ordered_and_match_the_engine_counters(tiny: LlamaCppModel) -> None:
    generation = tiny.generate(CHAT, Sampling(max_tokens=10))
    assert generation.first_token_at is not None and generation.last_token_at is not None
    assert (generation.requested_at < generation.first_token_at
            < generation.last_token_at <= generation.done_at)
    # The engine evaluated the whole prompt (no cache reuse) and every token but the last.
    assert generation.engine["engine_prompt_tokens"] == generation.prompt_tokens
    assert generation.engine["engine_decode_tokens"] == generation.completion_tokens - 1
    figures = {**timing(generation), **engine_figures(generation.engine)}
    # Our TTFT spans the engine's prompt evaluation plus the first sampling.
    assert figures["ttft_s"] >= figures["engine_prompt_eval_s"]
    assert figures["decode_s"] >= figures["engine_decode_s"]


def test_every_run_pays_its_full_prompt(tiny: LlamaCppModel) -> None:
    first = tiny.generate(CHAT, Sampling(max_tokens=3))
    second = tiny.generate(CHAT, Sampling(max_tokens=3))
    assert first.engine["engine_prompt_tokens"] == second.engine["engine_prompt_tokens"] > 0


def test_prompt_count_is_what_generation_evaluates(tiny: LlamaCppModel) -> None:
    assert tiny.count_prompt_tokens(CHAT) == tiny.generate(CHAT, Sampling(max_tokens=1)).prompt_tokens


def test_context_overflow_is_refused_before_generating(tiny: LlamaCppModel) -> None:
    chat = ({"role": "user", "content": "word " * 40},)
    assert tiny.count_prompt_tokens(chat) < 512
    with pytest.raises(ContextOverflowError, match=r"exceeds the context window \(512 tokens\)"):
        tiny.generate(chat, Sampling(max_tokens=400))


def test_a_prompt_that_alone_fills_the_context_is_not_worth_degrading(tiny: LlamaCppModel) -> None:
    chat = ({"role": "user", "content": "word " * 200},)
    with pytest.raises(GenerationError, match=r"the prompt alone \(\d+ tokens\) fills") as caught:
        tiny.generate(chat, Sampling(max_tokens=16))
    assert not isinstance(caught.value, ContextOverflowError)


def test_metadata_comes_from_the_file(tiny: LlamaCppModel, tiny_gguf: Path) -> None:
    meta = tiny.metadata
    assert meta["model_file"] == "tiny.gguf"
    assert meta["model_size_bytes"] == tiny_gguf.stat().st_size
    assert meta["model_architecture"] == "llama"
    assert meta["model_quantization"] == "F32"
    assert meta["model_context_tokens"] == 16384
    assert meta["context_tokens"] == 512
    import hashlib
    assert meta["model_sha256"] == hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()


def test_without_a_chat_template_the_raw_prompt_is_sent(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "raw.gguf", chat_template=False)
    backend = LlamaCppBackend(BackendOptions())
    model = backend.load(backend.resolve(str(path))[0], LoadOptions(context_tokens=256))
    try:
        prompt = "abc"
        assert model.count_prompt_tokens(({"role": "user", "content": prompt},)) == len(prompt)
        # The last prompt token is 'c', so the chain continues from there.
        generation = model.generate(({"role": "user", "content": prompt},), Sampling(max_tokens=4))
        assert generation.text == "defg"
    finally:
        model.close()


def test_directory_and_model_dir_resolution(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "Alpha-Model.Q8.gguf")
    write_tiny_gguf(tmp_path / "beta.gguf")
    (tmp_path / "notes.txt").write_text("not a model")
    backend = LlamaCppBackend(BackendOptions(model_dirs=(tmp_path,)))
    assert [r.name for r in backend.resolve(str(tmp_path))] == ["alpha-model.q8", "beta"]
    assert [r.name for r in backend.resolve("beta")] == ["beta"]
    assert "alpha-model.q8" in [r.name for r in backend.resolve("all")]
    with pytest.raises(ModelNotFoundError, match="unknown model 'gamma'"):
        backend.resolve("gamma")


def test_a_json_schema_constrains_the_reply_and_top_logprobs_come_back(tiny: LlamaCppModel) -> None:
    import json

    schema = {"type": "object", "properties": {"grade": {"type": "integer", "enum": [1, 2, 3]}},
              "required": ["grade"]}
    free = tiny.generate(CHAT, Sampling(max_tokens=50), OutputFormat(top_logprobs=4))
    assert free.output_format == "free" and free.text == expected_answer()
    assert free.logprobs is not None and "".join(t.token for t in free.logprobs) == free.text
    # The tiny model's successor logit stands far above the rest: each sampled token is the top
    # one. (Undecodable byte tokens share the text U+FFFD, so fewer than 4 texts can remain.)
    assert all(max(t.top, key=t.top.__getitem__) == t.token and t.logprob == t.top[t.token]
               for t in free.logprobs)
    constrained = tiny.generate(CHAT, Sampling(max_tokens=50), OutputFormat(schema))
    assert constrained.output_format == "json schema" and constrained.logprobs is None
    assert json.loads(constrained.text)["grade"] in (1, 2, 3)


def test_a_template_that_refuses_the_system_role_gets_it_folded(tmp_path: Path) -> None:
    from tinymodel import GEMMA_TEMPLATE

    if not GEMMA_TEMPLATE.is_file():
        pytest.skip(f"{GEMMA_TEMPLATE} is not here")
    path = write_tiny_gguf(tmp_path / "gemma-like.gguf", template=GEMMA_TEMPLATE.read_text(encoding="utf-8"))
    backend = LlamaCppBackend(BackendOptions())
    model = backend.load(backend.resolve(str(path))[0], LoadOptions(context_tokens=512))
    try:
        chat = ({"role": "system", "content": "  Be brief. "}, {"role": "user", "content": "Hello."})
        folded = ({"role": "user", "content": "Be brief.\n\nHello."},)
        assert model.count_prompt_tokens(chat) == model.count_prompt_tokens(folded)
        generation = model.generate(chat, Sampling(max_tokens=50))
        assert generation.system_prompt_folded and generation.text == expected_answer()
        assert not model.generate(CHAT, Sampling(max_tokens=5)).system_prompt_folded
    finally:
        model.close()

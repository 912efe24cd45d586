"""--wb-reasoning: each backend asks for the state its own way; a refusal is an unsupported
point, recorded and skipped, never asked again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakeopenai import Reply, Script, fake_openai

from wattbench.backends.openai_compat import reasoning_fields

SELECTION = ("-k", "qa and short and (L0 or L1)", "--wb-levels", "L0,L1")


def records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_each_state_maps_to_the_fields_servers_read() -> None:
    assert reasoning_fields("off") == {"chat_template_kwargs": {"enable_thinking": False}}
    assert reasoning_fields("on") == {"chat_template_kwargs": {"enable_thinking": True}}
    assert reasoning_fields("high") == {
        "reasoning_effort": "high",
        "chat_template_kwargs": {"enable_thinking": True, "reasoning_effort": "high"},
    }


def test_an_openai_compatible_server_is_asked_for_each_state(suite: pytest.Pytester) -> None:
    script = Script()
    run_dir = suite.path / "run"
    with fake_openai(script) as url:
        result = suite.runpytest(
            "bench", *SELECTION, "--wb-backend", "openai", "--wb-base-url", url,
            "--wb-reasoning", "off,high", "--wb-run-dir", str(run_dir), "--wb-energy", "off",
            "--wb-report", "on",
        )
    result.assert_outcomes(passed=4)  # 2 levels x 2 states
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    section = page[page.index("<h2>Reasoning states</h2>"):]
    assert section.index("<td>off</td>") < section.index("<td>high</td>")  # in the states' order
    by_state = {r["reasoning"]: r for r in records(run_dir)}
    assert set(by_state) == {"off", "high"}
    assert by_state["off"]["case_id"].endswith("-L0+roff") or by_state["off"]["case_id"].endswith("-L1+roff")
    streamed = [r for r in script.requests if r.get("stream")]
    asked = {json.dumps(r.get("chat_template_kwargs"), sort_keys=True) for r in streamed}
    assert json.dumps({"enable_thinking": False}) in asked
    assert {r.get("reasoning_effort") for r in streamed} >= {"high"}


def test_a_refused_state_is_unsupported_recorded_skipped_and_not_asked_again(suite: pytest.Pytester) -> None:
    script = Script()

    def no_thinking(body: dict[str, Any]) -> Reply:
        if "chat_template_kwargs" in body:
            refusal = {"error": {"message": "unsupported parameter: chat_template_kwargs"}}
            return Reply(400, json.dumps(refusal))
        return Reply()

    script.replies = [no_thinking]
    run_dir = suite.path / "run"
    with fake_openai(script) as url:
        result = suite.runpytest(
            "bench", *SELECTION, "--wb-backend", "openai", "--wb-base-url", url,
            "--wb-reasoning", "default,off", "--wb-run-dir", str(run_dir), "--wb-energy", "off",
        )
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        ["*skipped for another reason*+roff: unsupported*refused reasoning state 'off'*"]
    )
    refused = [r for r in script.requests if "chat_template_kwargs" in r]
    assert len(refused) == 1  # the second case at that point was skipped without asking
    saved = [r for r in records(run_dir) if r["reasoning"] == "off"]
    assert len(saved) == 2 and all(r["error"].startswith("unsupported:") for r in saved)


def test_the_in_process_engine_switches_a_template_that_reads_enable_thinking(tmp_path: Path) -> None:
    """As Qwen3's template does: thinking off adds an empty think block to the prompt."""
    import dataclasses
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from tinymodel import recipe, write_tiny_gguf

    from wattbench.backends.llamacpp import LlamaCppBackend
    from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling

    qwen_like = str(recipe()["chat_template"]).replace(
        "{{ '<|im_start|>assistant\n' }}",
        "{{ '<|im_start|>assistant\n' }}{% if enable_thinking is defined and not enable_thinking %}"
        "{{ '<think>\n\n</think>\n\n' }}{% endif %}",
    )
    assert qwen_like != recipe()["chat_template"]
    backend = LlamaCppBackend(BackendOptions())
    gguf = write_tiny_gguf(tmp_path / "thinks.gguf", template=qwen_like)
    model = backend.load(backend.resolve(str(gguf))[0], LoadOptions(context_tokens=512))
    chat = ({"role": "user", "content": "hi"},)
    plain = model.generate(chat, Sampling(max_tokens=4))
    off = model.generate(chat, dataclasses.replace(Sampling(max_tokens=4), knobs={"reasoning": "off"}))
    on = model.generate(chat, dataclasses.replace(Sampling(max_tokens=4), knobs={"reasoning": "on"}))
    model.close()
    assert off.prompt_tokens is not None and plain.prompt_tokens is not None
    assert off.prompt_tokens > plain.prompt_tokens == on.prompt_tokens  # the template took the switch


def test_the_in_process_engine_says_a_template_that_cannot_switch_is_unsupported(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    result = suite.runpytest(
        "bench", *SELECTION, "--wb-model", str(tiny_gguf), "--wb-reasoning", "off",
        "--wb-energy", "off", "--wb-run-dir", str(suite.path / "run"), "-rs",
    )
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*unsupported*its chat template does not read enable_thinking*'off'*"])


def test_an_unknown_state_is_refused_at_start_up(suite: pytest.Pytester) -> None:
    result = suite.runpytest("bench", "--wb-reasoning", "maximal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*maximal*"])


def test_ollama_is_asked_with_think_and_its_refusal_is_unsupported() -> None:
    import dataclasses

    from fakeollama import FakeOllama, serve

    from wattbench.backends.ollama import OllamaBackend, OllamaOptions
    from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
    from wattbench.errors import UnsupportedKnobError

    chat = ({"role": "user", "content": "What is the capital of France?"},)
    refusal = '"gemma3:1b" does not support thinking'
    state = FakeOllama(chat_fault=lambda body: (400, refusal) if body.get("think") is not None else None)
    with serve(state) as host:
        backend = OllamaBackend(BackendOptions(own=(OllamaOptions(host=host),)))
        model = backend.load(backend.resolve("gemma3:1b")[0], LoadOptions())
        plain = model.generate(chat, Sampling(max_tokens=8))
        with pytest.raises(UnsupportedKnobError, match="does not support thinking"):
            model.generate(chat, dataclasses.replace(Sampling(max_tokens=8), knobs={"reasoning": "off"}))
        state.chat_fault = lambda body: None
        model.generate(chat, dataclasses.replace(Sampling(max_tokens=8), knobs={"reasoning": "high"}))
    asked = [body.get("think") for path, body in state.requests if path == "/api/chat"]
    assert plain.text and asked[-2:] == [False, "high"]  # off is false; a level goes as it is
    assert asked[0] is None  # the default asks nothing

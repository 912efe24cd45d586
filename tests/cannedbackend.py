"""A conftest that registers a backend whose model gives scripted answers: the real LoadedModel
interface with a fixed reply, for tests that need a particular answer or judgement. It resolves
models as llama.cpp does (the default is SmolLM2's GGUF), or, given ``model``, every spec to that
one name, with no model file at all."""

from __future__ import annotations

TEMPLATE = '''
import time
from wattbench.backends.llamacpp import LlamaCppBackend
from wattbench.backends.protocol import Generation, ModelRef

{reply}


class Canned:
    """A LoadedModel whose answer to a chat is reply(last user message)."""

    load_s = 0.0
    metadata = {{}}

    def __init__(self, ref):
        self.ref = ref

    def count_prompt_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def generate(self, messages, sampling, output=None):
        start = time.perf_counter()
        constrained = output is not None and output.schema is not None
        return Generation(reply(messages[-1]["content"]), self.count_prompt_tokens(messages), 40,
                          start, start + 0.001, start + 0.002, start + 0.003, "stop", {{}},
                          output_format="json schema" if constrained else "free")

    def close(self):
        pass


class CannedBackend(LlamaCppBackend):
    name = {name!r}
    in_process = False  # scripted answers, no native code: nothing to contain

{resolve}
    def load(self, ref, options):
        return Canned(ref)


def pytest_wattbench_make_backend(name, settings):
    if name == {name!r}:
        return CannedBackend(settings)
'''


RESOLVE = '''
    def resolve(self, spec):
        return [ModelRef({model!r}, {name!r} + ":" + spec)]
'''


def canned_backend(name: str, reply: str, model: str | None = None) -> str:
    """conftest source for backend ``name``; ``reply`` is the source of ``def reply(prompt)``;
    ``model``: the model name every spec resolves to (case ids start with it), else llama.cpp's."""
    resolve = RESOLVE.format(model=model, name=name) if model is not None else ""
    return TEMPLATE.format(name=name, reply=reply, resolve=resolve)

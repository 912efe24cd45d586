"""A conftest that registers a backend whose model gives scripted answers: the real LoadedModel
interface with a fixed reply, for tests that need a particular answer or judgement."""

from __future__ import annotations

TEMPLATE = '''
import time
from wattbench.backends.llamacpp import LlamaCppBackend
from wattbench.backends.protocol import Generation

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

    def load(self, ref, options):
        return Canned(ref)


def pytest_wattbench_make_backend(name, settings):
    if name == {name!r}:
        return CannedBackend(settings)
'''


def canned_backend(name: str, reply: str) -> str:
    """conftest source for backend ``name``; ``reply`` is the source of ``def reply(prompt)``."""
    return TEMPLATE.format(name=name, reply=reply)

"""An engine that really crashes: llama.cpp whose model segfaults at a chosen generation.

``WB_TEST_CRASH=<model name>:<k>`` makes the k-th generation (1 = the warm-up) of that model
read address 0 (``ctypes.string_at(0)``): a real SIGSEGV, in whatever process runs the engine.
The count is kept by the loaded model, so it counts in the engine's worker process.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from typing import Any

from wattbench.backends.llamacpp import LlamaCppBackend
from wattbench.backends.protocol import Generation, LoadOptions, Message, ModelRef, OutputFormat, Sampling

CRASH_ENV = "WB_TEST_CRASH"
CONFTEST = """
from crashbackend import CrashingBackend

def pytest_wattbench_make_backend(name, settings):
    if name == "crashing":
        return CrashingBackend(settings)
"""


class Crashing:
    """A LoadedModel that passes every call to ``inner`` until its ``at``-th generation."""

    def __init__(self, inner: Any, at: int | None) -> None:
        self.inner = inner
        self.ref = inner.ref
        self.load_s = inner.load_s
        self.metadata = inner.metadata
        self.at = at
        self.generations = 0

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        count: int = self.inner.count_prompt_tokens(messages)
        return count

    def generate(
        self, messages: Sequence[Message], sampling: Sampling, output: OutputFormat | None = None
    ) -> Generation:
        self.generations += 1
        if self.generations == self.at:
            ctypes.string_at(0)  # SIGSEGV
        generation: Generation = self.inner.generate(messages, sampling, output)
        return generation

    def close(self) -> None:
        self.inner.close()


class CrashingBackend(LlamaCppBackend):
    """llama.cpp, with WB_TEST_CRASH's model crashing at its k-th generation."""

    name = "crashing"

    def load(self, ref: ModelRef, options: LoadOptions) -> Crashing:  # type: ignore[override]
        name, _, at = os.environ.get(CRASH_ENV, "").partition(":")
        return Crashing(super().load(ref, options), int(at) if name == ref.name else None)

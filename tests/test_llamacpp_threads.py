"""llama.cpp's threads: generation and prompt evaluation get the same count, and both are recorded."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from wattbench.backends.llamacpp import LlamaCppBackend, default_threads
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling


def test_threads_and_batch_threads_are_set_together_and_recorded(tiny_gguf: Path) -> None:
    backend = LlamaCppBackend(BackendOptions())
    ref = backend.resolve(str(tiny_gguf))[0]
    model = backend.load(ref, LoadOptions(context_tokens=256))
    try:
        # llama-cpp-python alone would use half the CPUs to decode and all of them for prompts;
        # wattbench uses one per physical core for both.
        assert default_threads() == (psutil.cpu_count(logical=False) or max((os.cpu_count() or 1) // 2, 1))
        assert model.metadata["threads_count"] == model.metadata["threads_batch_count"] == default_threads()
    finally:
        model.close()
    model = backend.load(ref, LoadOptions(context_tokens=256, threads=1))
    try:
        assert model.metadata["threads_count"] == model.metadata["threads_batch_count"] == 1
        sampling = Sampling(max_tokens=4, temperature=0.0)
        generation = model.generate([{"role": "user", "content": "hi"}], sampling)
        # The tiny model answers in ASCII: no character to finish, so no overshoot, recorded as 0.
        assert generation.completion_tokens == 4
        assert generation.engine["max_tokens_overshoot_tokens"] == 0
    finally:
        model.close()

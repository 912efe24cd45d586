"""The interface every backend implements: find models, load one, generate with it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from wattbench.settings import Sampling

Message = Mapping[str, str]
"""A chat message: {"role": "system" | "user" | "assistant", "content": text}."""


@dataclass(frozen=True)
class ModelRef:
    """A model a backend can load: the name used in case ids, and where it lives."""

    name: str
    location: str


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model."""

    context_tokens: int = 4096
    threads: int = 0  # 0: the engine's own default
    seed: int = 42


@dataclass(frozen=True)
class Generation:
    """One completion and its timestamps (time.perf_counter seconds).

    ``first_token_at`` and ``last_token_at`` are when the first and last completion tokens were
    sampled; both are None when nothing was generated. ``engine`` holds the engine's own
    counters under ``engine_*`` keys of wattbench.metrics.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    requested_at: float
    first_token_at: float | None
    last_token_at: float | None
    done_at: float
    finish_reason: str
    engine: Mapping[str, float | int]
    token_count_source: str = "engine"
    """Where the token counts come from: 'engine' (its tokenizer), 'server' (the response's
    usage), or 'stream chunks' (one streamed chunk per token, where a server sends no usage)."""
    attempts: int = 1
    retry_wait_s: float = 0.0


@runtime_checkable
class LoadedModel(Protocol):
    """A model loaded into memory, ready to generate. ``close`` frees it."""

    ref: ModelRef
    load_s: float | None
    """Seconds the engine took to load the model (file metadata and digests not included);
    None where a server loads models itself and does not say how long it took."""
    metadata: Mapping[str, object]
    """``model_*`` keys of wattbench.metrics, e.g. model_sha256, model_quantization."""

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt length in the model's own tokens, chat template included."""
        ...

    def generate(self, messages: Sequence[Message], sampling: Sampling) -> Generation:
        """Generate one completion; raise wattbench.errors.GenerationError on failure."""
        ...

    def close(self) -> None:
        """Free the model (keep-alive 0)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A way to run models: an in-process engine or a client of a server."""

    name: str
    engine_version: str

    def resolve(self, spec: str) -> list[ModelRef]:
        """Models named by ``spec``: 'default', 'all', a name, a file or a directory."""
        ...

    def load(self, ref: ModelRef, options: LoadOptions) -> LoadedModel:
        """Load ``ref``; raise wattbench.errors.ModelLoadError when the engine refuses."""
        ...

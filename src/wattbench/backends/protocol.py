"""The interface every backend implements: find models, load one, generate with it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from wattbench.errors import GenerationError
from wattbench.option import bounded_float, non_negative_int, pick, setting

T = TypeVar("T")

Message = Mapping[str, str]
"""A chat message: {"role": "system" | "user" | "assistant", "content": text}."""


@dataclass(frozen=True)
class Sampling:
    """How to sample one completion: a token limit, temperature, nucleus threshold and seed."""

    max_tokens: int = 200
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 42
    knobs: Mapping[str, str] = field(default_factory=dict)
    """The case's values of the axes an option lists (wattbench.axes), for a backend that acts
    on one (a reasoning effort): axis key -> value. Records carry them under their own keys."""

    def record(self) -> dict[str, Any]:
        """The record's sampling keys: max_tokens, temperature, top_p, seed (knobs are axes)."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed}


@dataclass(frozen=True)
class BackendOptions:
    """What a backend is built from: where models live, how long a server may take, retries, and
    each backend's own options object (``own``: the run's, one per registered backend's options
    class; a backend takes its own with ``options.get(ItsOptions)``).

    Timeouts are in seconds; ``retries`` counts further attempts after the first.
    """

    model_dirs: tuple[Path, ...] = ()
    model_base: Path | None = None
    """Where a relative model path (--wb-model) is relative to: the current directory for the
    command line, the ini file's for pytest.ini. A backend whose model specs are names (a
    server's ids, such as Qwen/Qwen3-4B) ignores it."""
    discover: bool = False  # also the GGUF models of Ollama's store, LM Studio and the HF cache
    timeout_s: float = setting("timeout", bounded_float(0.1, 86400.0), "seconds one generation may "
                               "take on a server, retries apart (default: 600)", "600")
    connect_timeout_s: float = setting("connect-timeout", bounded_float(0.1, 3600.0), "seconds to "
                                       "connect to a server (default: 10)", "10")
    retries: int = setting("retries", non_negative_int, "further attempts after a refused connection, "
                           "timeout, 429 or 5xx, with exponential backoff and Retry-After (default: 3)", "3")
    own: tuple[object, ...] = ()

    def get(self, cls: type[T]) -> T:
        """This run's object of the options class ``cls`` (a backend's own), else its defaults."""
        return pick(self.own, cls)


def backend_options(given: object) -> BackendOptions:
    """``given`` as BackendOptions: itself, or the run's Settings (a conftest that subclasses a
    built-in backend passes the settings its hook received)."""
    if isinstance(given, BackendOptions):
        return given
    make = getattr(given, "backend_options", None)
    if callable(make):
        options = make()
        if isinstance(options, BackendOptions):
            return options
    raise TypeError(f"a backend is built from BackendOptions or Settings, not {type(given).__name__}")


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
    repack: str = "auto"  # llama.cpp's weight repacking (use_extra_bufts): auto, on or off
    lora: str | None = None  # a GGUF LoRA adapter applied to the model (a fine-tune's evaluation)


def fold_system(messages: Sequence[Message]) -> tuple[Message, ...]:
    """``messages`` with the system text moved into the first user turn, for chat templates that
    refuse the system role (Gemma's).

    As llama.cpp's own chat code does for Gemma (src/llama-chat.cpp, LLM_CHAT_TEMPLATE_GEMMA):
    the system text, trimmed, then a blank line, then the user's text. A chat without a system
    message comes back unchanged.
    """
    system = "\n\n".join(m["content"].strip() for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return tuple(messages)
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            break
    else:
        rest.insert(0, {"role": "user", "content": system})
    return tuple(rest)


@dataclass(frozen=True)
class OutputFormat:
    """What a caller asks of a generation beyond sampling (the judge's needs).

    ``schema``: a JSON Schema (dict) the reply must match; the engine constrains decoding to it
    where it can (llama.cpp grammar, OpenAI ``response_format``, Ollama ``format``), and says in
    ``Generation.output_format`` whether it did. ``top_logprobs``: how many most likely tokens
    to report at each generated position (0: none).
    """

    schema: Mapping[str, Any] | None = None
    name: str = "reply"
    top_logprobs: int = 0


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text, its natural-log probability, and the most likely tokens
    at its position (text -> natural-log probability, before any grammar restricted them where
    the engine says so; llama.cpp in process: the model's own distribution)."""

    token: str
    logprob: float | None
    top: Mapping[str, float]


@dataclass(frozen=True)
class Generation:
    """One completion and its timestamps (time.perf_counter seconds).

    ``first_token_at`` and ``last_token_at`` are when the first and last completion tokens were
    sampled; both are None when nothing was generated. ``engine`` holds the engine's own
    counters under ``engine_*`` keys of wattbench.metrics.
    """

    text: str
    prompt_tokens: int | None  # None: the server did not report it (never guessed as 0)
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
    output_format: str = "free"
    """'json schema' when the engine constrained the reply to OutputFormat.schema, else 'free'
    (none asked, or the server refused it and the reply was asked for in free text)."""
    logprobs: tuple[TokenLogprob, ...] | None = None
    """Per generated token, when OutputFormat.top_logprobs was asked and the engine gave them."""
    system_prompt_folded: bool = False
    """Whether the system text was folded into the first user turn (see fold_system)."""
    thinking: str = ""
    """Reasoning a server sent apart from the answer (OpenAI-compatible ``reasoning_content`` or
    ``reasoning``, Ollama's ``thinking``); in-text ``<think>`` blocks stay in ``text``."""
    thinking_tokens: int | None = None
    """Completion tokens spent thinking (wattbench.knobs.reasoning); None where not known."""
    first_answer_at: float | None = None
    """When the first answer token (not thinking) was sampled; None: no answer, or not known."""


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

    def generate(
        self, messages: Sequence[Message], sampling: Sampling, output: OutputFormat | None = None
    ) -> Generation:
        """Generate one completion; raise wattbench.errors.GenerationError on failure.

        ``output`` asks for a JSON schema and top log-probabilities; an engine that cannot
        honour it generates free text and says so in the Generation (output_format, logprobs).
        A chat template that refuses the system role gets the system text folded into the first
        user turn (Generation.system_prompt_folded)."""
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


class OutputFormatRefused(GenerationError):
    """The engine or server refused to constrain the reply to the asked JSON schema; the caller
    may ask again without one (free text, parsed strictly)."""

"""Ollama, through the official ``ollama`` Python client (``pip install 'wattbench[ollama]'``).

Host: --wb-ollama-host, else OLLAMA_HOST, else http://127.0.0.1:11434. Models by name
(``qwen3:4b``), ``all`` (every model the server lists) or ``default`` (its first).

One streamed /api/chat per generation, with temperature, top_p, seed, num_predict and num_ctx:

- ``first_token_at``: the first chunk whose message carries content (or thinking).
- token counts: the final chunk's ``prompt_eval_count`` and ``eval_count`` (``server``).
- Ollama's own figures, converted from nanoseconds: ``engine_prompt_eval_s``,
  ``engine_decode_s``, ``engine_load_s``, ``engine_total_s``, with the counts as
  ``engine_prompt_tokens`` and ``engine_decode_tokens``.

Model life: ``load`` sends an empty prompt, which loads the model (its ``load_duration`` is
``model_load_s``); cases run with --wb-ollama-keep-alive (30m) so the model stays loaded;
``close`` sends keep_alive 0, which unloads it before the next model. With --wb-ollama-cold on,
every generation sends keep_alive 0s: each one loads the model afresh (cold starts).

Ollama reuses a prompt's cached prefix between requests, and its API cannot turn that off, so
a repeated prompt may report fewer ``prompt_eval_count`` tokens than the first time.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from wattbench.backends.protocol import (
    BackendOptions,
    Generation,
    LoadOptions,
    Message,
    ModelRef,
    OutputFormat,
    Sampling,
    TokenLogprob,
    backend_options,
)
from wattbench.backends.retry import (
    Attempts,
    RetriesExhausted,
    Retryable,
    RetryPolicy,
    call_with_retries,
    public_url,
)
from wattbench.errors import (
    GenerationError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    OutOfMemoryError,
    UnsupportedKnobError,
)
from wattbench.ids import model_part
from wattbench.knobs.reasoning import first_answer_chunk
from wattbench.option import on_off, setting

DEFAULT_HOST = "http://127.0.0.1:11434"
_OOM = re.compile(
    r"out of memory|requires more system memory|insufficient memory|cudaMalloc failed", re.IGNORECASE
)
NS = 1e9
T = TypeVar("T")


@dataclass(frozen=True)
class OllamaOptions:
    """The Ollama backend's own settings (--wb-ollama-*)."""

    host: str | None = setting("ollama-host", str, "Ollama server for --wb-backend ollama (default: env "
                               "OLLAMA_HOST, else http://127.0.0.1:11434)")
    keep_alive: str = setting("ollama-keep-alive", str, "how long Ollama keeps a model loaded between "
                              "cases, e.g. 30m (default: 30m; the model is unloaded with keep_alive 0 after "
                              "its last case)", "30m")
    cold: bool = setting("ollama-cold", on_off, "load the model afresh for every generation (keep_alive 0s), "
                         "to measure cold starts: on/off (default: off)", "off")

    def server_url(self) -> str:
        """The server's URL: --wb-ollama-host, else OLLAMA_HOST, else Ollama's default."""
        return self.host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST


class OllamaBackend:
    """Models pulled on an Ollama server."""

    name = "ollama"

    def __init__(self, options: BackendOptions | object) -> None:
        options = backend_options(options)
        try:
            import httpx
            import ollama
        except ImportError:
            raise MissingExtraError("ollama", "ollama") from None
        self._ollama = ollama
        self._httpx = httpx
        self.options = options
        self.own = options.get(OllamaOptions)
        self.host = self.own.server_url().rstrip("/")
        if "://" not in self.host:
            self.host = f"http://{self.host}"
        self.public_host = public_url(self.host)  # OLLAMA_HOST may carry credentials: never shown
        self.policy = RetryPolicy(retries=options.retries)
        self.client = ollama.Client(
            host=self.host, timeout=httpx.Timeout(options.timeout_s, connect=options.connect_timeout_s)
        )
        self.engine_version = f"ollama (ollama-python {_version('ollama')})"

    def call(self, what: str, send: Callable[[], T]) -> tuple[T, Attempts]:
        """``send()`` with retries; Ollama's and httpx's errors translated once, here."""
        ollama, httpx = self._ollama, self._httpx

        def attempt() -> T:
            try:
                return send()
            except ollama.ResponseError as exc:
                text = str(exc.error)
                if _OOM.search(text):
                    raise OutOfMemoryError(f"Ollama ran out of memory for {what}: {text}") from None
                if exc.status_code == 404:
                    raise ModelNotFoundError(f"Ollama: {text}; pull it first: ollama pull {what}") from None
                if exc.status_code == 429 or exc.status_code >= 500:
                    raise Retryable(f"Ollama HTTP {exc.status_code} for {what}: {text}") from None
                if exc.status_code == 400 and "think" in text.lower():  # "... does not support thinking"
                    raise UnsupportedKnobError(f"Ollama: {what} refused a reasoning state: {text}") from None
                raise GenerationError(f"Ollama HTTP {exc.status_code} for {what}: {text}") from None
            except (ConnectionError, httpx.TransportError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                raise Retryable(f"no answer from Ollama at {self.public_host} ({reason})") from None

        attempts = Attempts()
        try:
            return call_with_retries(attempt, self.policy, attempts), attempts
        except RetriesExhausted as exc:
            raise GenerationError(str(exc)) from None

    def _pulled(self) -> list[Any]:
        try:
            listing, _ = self.call("the model list", self.client.list)
        except GenerationError as exc:
            raise ModelNotFoundError(
                f"{exc}; start it with `ollama serve`, or point --wb-ollama-host / OLLAMA_HOST at it"
            ) from None
        return list(listing.models)

    def resolve(self, spec: str) -> list[ModelRef]:
        """'default' (the server's first model), 'all', or a pulled model's name."""
        pulled = self._pulled()
        names = [str(m.model) for m in pulled]
        if spec.lower() in ("default", "all"):
            chosen = names[:1] if spec.lower() == "default" else names
            if not chosen:
                raise ModelNotFoundError(
                    f"the Ollama server at {self.public_host} has no model: ollama pull NAME"
                )
        else:
            match = next((n for n in names if n in (spec, f"{spec}:latest")), None)
            if match is None:
                raise ModelNotFoundError(
                    f"model {spec!r} is not pulled on the Ollama server at {self.public_host}: "
                    "run `ollama pull "
                    f"{spec}`; pulled: {', '.join(names) or 'none'}"
                )
            chosen = [match]
        digests = {str(m.model): m.digest for m in pulled}
        return [
            ModelRef(name=model_part(n), location=f"ollama:{self.public_host}#{n}#{digests[n]}")
            for n in chosen
        ]

    def load(self, ref: ModelRef, options: LoadOptions) -> OllamaModel:
        """Load the model into the server's memory (an empty prompt does that) and read its facts."""
        _, model, digest = ref.location.rsplit("#", 2)
        try:
            shown, _ = self.call(model, lambda: self.client.show(model))
            keep_alive = "0s" if self.own.cold else self.own.keep_alive
            loaded, _ = self.call(model, lambda: self.client.generate(
                model=model, prompt="", keep_alive=keep_alive,
                options={"num_ctx": options.context_tokens},
            ))
        except GenerationError as exc:
            raise ModelLoadError(str(exc)) from None
        details = shown.details
        metadata: dict[str, object] = {
            "model_id": model, "server_url": self.public_host, "model_digest": digest,
        }
        for key, value in (
            ("model_family", getattr(details, "family", None)),
            ("model_parameter_size", getattr(details, "parameter_size", None)),
            ("model_quantization", getattr(details, "quantization_level", None)),
            ("model_format", getattr(details, "format", None)),
        ):
            if value:
                metadata[key] = value
        load_ns = loaded.load_duration
        return OllamaModel(self, ref, model, metadata, options, None if load_ns is None else load_ns / NS)


class OllamaModel:
    """One model on the Ollama server."""

    def __init__(
        self, backend: OllamaBackend, ref: ModelRef, model: str, metadata: Mapping[str, object],
        options: LoadOptions, load_s: float | None,
    ) -> None:
        self.backend = backend
        self.ref = ref
        self.model = model
        self.metadata = metadata
        self.load_s = load_s
        self._num_ctx = options.context_tokens
        self._prompt_tokens: dict[str, int] = {}

    def _options(self, sampling: Sampling) -> dict[str, Any]:
        return {
            "temperature": sampling.temperature, "top_p": sampling.top_p, "seed": sampling.seed,
            "num_predict": sampling.max_tokens, "num_ctx": self._num_ctx,
        }

    def without_retries(self) -> OllamaModel:
        """This model, its generations never retried: under load a 429 or a 5xx is a figure of the
        load point (wattbench.serving.streams), and a retry would change the load it measures."""
        model = copy.copy(self)
        model.backend = copy.copy(self.backend)
        model.backend.policy = dataclasses.replace(self.backend.policy, retries=0)
        return model

    @property
    def _keep_alive(self) -> str:
        return "0s" if self.backend.own.cold else self.backend.own.keep_alive

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """The server's count: prompt_eval_count of a one-token request (cached per prompt)."""
        key = json.dumps(list(messages), sort_keys=True)
        if key not in self._prompt_tokens:
            options = {**self._options(Sampling(max_tokens=1, temperature=0.0))}
            reply, _ = self.backend.call(self.model, lambda: self.backend.client.chat(
                model=self.model, messages=list(messages), options=options, keep_alive=self._keep_alive,
            ))
            self._prompt_tokens[key] = int(reply.prompt_eval_count or 0)
        return self._prompt_tokens[key]

    def generate(
        self, messages: Sequence[Message], sampling: Sampling, output: OutputFormat | None = None
    ) -> Generation:
        """One streamed chat, retried on connection failures, 429 and 5xx.

        ``output.schema`` goes as Ollama's ``format`` (a JSON schema; Ollama 0.5 and later);
        ``output.top_logprobs`` as ``logprobs``/``top_logprobs`` (recent versions; an older
        server sends none and the Generation carries no log-probs). Ollama's own templates
        place the system prompt, so nothing is folded here.
        """
        generation, attempts = self.backend.call(
            self.model, lambda: self._stream(messages, sampling, output or OutputFormat())
        )
        return dataclasses.replace(generation, attempts=attempts.count, retry_wait_s=attempts.waited_s)

    def _stream(self, messages: Sequence[Message], sampling: Sampling, output: OutputFormat) -> Generation:
        pieces: list[str] = []
        timeline: list[tuple[float, str, bool]] = []  # (time, text, sent apart as thinking)
        first = last = None
        final: Any = None
        requested = time.perf_counter()
        deadline = requested + self.backend.options.timeout_s
        extra: dict[str, Any] = {}
        if output.schema is not None:
            extra["format"] = dict(output.schema)
        if output.top_logprobs > 0:
            extra["logprobs"], extra["top_logprobs"] = True, output.top_logprobs
        state = sampling.knobs.get("reasoning", "default")
        if state != "default":  # Ollama's think: on or off, or a level (gpt-oss takes low/medium/high)
            extra["think"] = {"off": False, "on": True}.get(state, state)
        logprobs: list[TokenLogprob] = []
        stream = self.backend.client.chat(
            model=self.model, messages=list(messages), stream=True, options=self._options(sampling),
            keep_alive=self._keep_alive, **extra,
        )
        for part in stream:
            if time.perf_counter() > deadline:
                raise GenerationError(
                    f"the generation took longer than --wb-timeout {self.backend.options.timeout_s:g} s"
                )
            message = part.message
            text = message.content or "" if message is not None else ""
            thought = (message.thinking or "") if message is not None else ""
            if text or thought:
                last = time.perf_counter()
                first = first or last
                pieces.append(text)
                timeline.append((last, thought or text, bool(thought)))
            for entry in getattr(part, "logprobs", None) or ():
                top = {str(t.token): float(t.logprob) for t in entry.top_logprobs or ()}
                logprobs.append(TokenLogprob(str(entry.token), float(entry.logprob), top))
            if part.done:
                final = part
        done = time.perf_counter()
        if final is None:
            raise Retryable(f"Ollama's stream for {self.model} ended without its final chunk")
        thinking_chunks, first_answer = first_answer_chunk(timeline)  # one chunk per token
        return Generation(
            text="".join(pieces),
            # An older server, or a prompt served from its cache, may leave the count out:
            # unknown, not 0.
            prompt_tokens=None if final.prompt_eval_count is None else int(final.prompt_eval_count),
            completion_tokens=int(final.eval_count or 0),
            requested_at=requested, first_token_at=first, last_token_at=last, done_at=done,
            finish_reason=final.done_reason or "stop",
            engine=_engine_figures(final),
            token_count_source="server" if final.prompt_eval_count is not None
            else "server (no prompt count)",
            output_format="json schema" if output.schema is not None else "free",
            logprobs=tuple(logprobs) if logprobs else None,
            thinking="".join(text for _at, text, apart in timeline if apart),
            thinking_tokens=thinking_chunks, first_answer_at=first_answer,
        )

    def close(self) -> None:
        """Unload the model now (keep_alive 0), so the next model starts from a clean GPU."""
        with contextlib.suppress(GenerationError):  # the server is gone: nothing there to free
            self.backend.call(self.model, lambda: self.backend.client.generate(
                model=self.model, prompt="", keep_alive=0
            ))


def _engine_figures(final: Any) -> dict[str, float | int]:
    """Ollama's final-chunk figures as engine_* keys, nanoseconds converted to seconds."""
    figures: dict[str, float | int] = {}
    for ours, theirs, scale in (
        ("engine_prompt_tokens", "prompt_eval_count", None),
        ("engine_prompt_eval_s", "prompt_eval_duration", NS),
        ("engine_decode_tokens", "eval_count", None), ("engine_decode_s", "eval_duration", NS),
        ("engine_load_s", "load_duration", NS), ("engine_total_s", "total_duration", NS),
    ):
        value = getattr(final, theirs, None)
        if isinstance(value, (int, float)):
            figures[ours] = value / scale if scale else int(value)
    return figures


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"

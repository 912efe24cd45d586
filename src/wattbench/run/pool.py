"""The resident model: at most one loaded at a time, warmed up once, freed before the next.

The wb_model fixture holds one model for the items that share it; items are ordered model by
model (see plugin.py), so each model loads once per session (or per xdist worker). A
model that failed to load fails all its cases at once with the same message, without another
attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from wattbench.backends.protocol import Backend, LoadedModel, LoadOptions, ModelRef, Sampling
from wattbench.errors import GenerationError, ModelError, ModelLoadError

WARMUP_MESSAGES = ({"role": "user", "content": "Say hello in one short sentence."},)
WARMUP_SAMPLING = Sampling(max_tokens=8, temperature=0.0, top_p=1.0, seed=0)


@dataclass
class HeldModel:
    """What the wb_model fixture yields: the model, loaded and warmed up, or why it could not be."""

    ref: ModelRef
    resident: Resident | None = None
    error: ModelError | None = None

    @property
    def name(self) -> str:
        """The model's name in case ids."""
        return self.ref.name


@dataclass
class Resident:
    """A loaded model, its warm-up cost and how many generations it has served."""

    model: LoadedModel
    warmup_s: float = 0.0
    generations: int = 0


class ModelPool:
    """Loads models on demand, one at a time."""

    def __init__(self, backend: Backend, options: LoadOptions, warmup: bool) -> None:
        self._backend = backend
        self._options = options
        self._warmup = warmup
        self._resident: Resident | None = None
        self._failed: dict[str, ModelError] = {}

    def get(self, ref: ModelRef) -> Resident:
        """The loaded ``ref``, evicting any other model first."""
        if self._resident is not None and self._resident.model.ref == ref:
            return self._resident
        self.release()
        if ref.location in self._failed:
            raise self._failed[ref.location]
        try:
            model = self._backend.load(ref, self._options)
        except ModelError as exc:
            self._failed[ref.location] = exc
            raise
        resident = Resident(model)
        if self._warmup:
            start = time.perf_counter()
            try:
                model.generate(WARMUP_MESSAGES, WARMUP_SAMPLING)
            except GenerationError as exc:  # e.g. the engine crashed: the model is unusable
                model.close()
                failed = ModelLoadError(f"{ref.name}: its warm-up generation failed: {exc}")
                failed.__cause__ = exc
                self._failed[ref.location] = failed
                raise failed from exc
            except BaseException:
                model.close()
                raise
            resident.warmup_s = time.perf_counter() - start
            resident.generations = 1
        self._resident = resident
        return resident

    def release(self) -> None:
        """Free the loaded model (keep-alive 0)."""
        if self._resident is not None:
            resident, self._resident = self._resident, None
            resident.model.close()

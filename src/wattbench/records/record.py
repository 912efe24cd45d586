"""A run record: the flat dict of wattbench.metrics keys for one generation of one case."""

from __future__ import annotations

import datetime as _dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattbench import __version__, axes
from wattbench.backends.protocol import Backend, Generation, Sampling
from wattbench.cases import Case
from wattbench.cases.kinds import primary_metric
from wattbench.knobs.reasoning import split_thinking
from wattbench.metrics import BY_KEY, unknown_keys
from wattbench.records.machine import fingerprint

if TYPE_CHECKING:  # a type only: the run room is above the records it writes
    from wattbench.run.pool import Resident


def timing(generation: Generation) -> dict[str, float | int | str | None]:
    """Latency, TTFT and decode figures of one generation (definitions: wattbench.metrics)."""
    g = generation
    n = g.completion_tokens
    ttft = None if g.first_token_at is None else g.first_token_at - g.requested_at
    decode = None
    if g.first_token_at is not None and g.last_token_at is not None and n >= 2:
        decode = g.last_token_at - g.first_token_at
    intervals = n - 1
    return {
        "latency_s": g.done_at - g.requested_at,
        "ttft_s": ttft,
        "decode_s": decode,
        "decode_tokens_per_s": intervals / decode if decode else None,
        "tpot_s": decode / intervals if decode else None,
        "prefill_tokens_per_s": g.prompt_tokens / ttft if ttft and g.prompt_tokens is not None else None,
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": n,
        "total_tokens": None if g.prompt_tokens is None else g.prompt_tokens + n,
        "finish_reason": g.finish_reason,
        "token_count_source": g.token_count_source,
        "attempts_count": g.attempts,
        "retry_wait_s": g.retry_wait_s,
        "system_prompt_folded": g.system_prompt_folded,
        "thinking_tokens": g.thinking_tokens,
        "answer_tokens": None if g.thinking_tokens is None else max(0, n - g.thinking_tokens),
        "ttfat_s": None if g.first_answer_at is None else g.first_answer_at - g.requested_at,
        **({"answer_missing_reason": CUT_IN_THINKING} if cut_in_thinking(g) else {}),
    }


CUT_IN_THINKING = ("cut inside its thinking: the token limit (finish_reason length) came before any "
                   "answer token; raise --wb-max-tokens")


def cut_in_thinking(generation: Generation) -> bool:
    """Whether the generation stopped at its token limit while still thinking: thinking, and no
    answer (neither after a ``</think>`` nor apart from a server's reasoning stream). Its
    tokens were made and are counted; its answer is "" and scores 0 for this reason."""
    g = generation
    if g.finish_reason != "length":
        return False
    thinking, answer = split_thinking(g.text)
    return not answer and bool(thinking or g.thinking or g.thinking_tokens)


def engine_figures(engine: Mapping[str, float | int]) -> dict[str, float | int | None]:
    """The engine's own counters plus the decode rate they imply."""
    figures: dict[str, float | int | None] = dict(engine)
    tokens, seconds = engine.get("engine_decode_tokens"), engine.get("engine_decode_s")
    if tokens is not None and seconds:
        figures["engine_decode_tokens_per_s"] = tokens / seconds
    return figures


def now_utc() -> str:
    """The current UTC time, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def summarise(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One record for several runs: measured figures averaged over runs, labels from run 0."""
    if len(records) == 1:
        return dict(records[0])
    summary: dict[str, Any] = {}
    for key, first in records[0].items():
        values: list[Any] = [r.get(key) for r in records]
        measured = key in BY_KEY and BY_KEY[key].unit != ""
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if measured and numeric and len(set(values)) > 1:
            summary[key] = statistics.fmean(float(v) for v in values)
        else:
            summary[key] = first
    summary.pop("run", None)
    summary["runs_count"] = len(records)
    summary["per_run"] = [dict(r) for r in records]
    return summary


def labels(case: Case, run: int) -> dict[str, Any]:
    """The keys that name a record's case and run."""
    return {
        "case_id": case.id,
        **axes.labels(case),
        "task_kind": case.kind,
        "quality_metric": case.metric or primary_metric(case.kind),
        "question_text": case.question or case.prompt,
        "run": run,
    }


def failure(case: Case, run: int, error: str) -> dict[str, Any]:
    """The record of a run that failed: its labels, the time and the reason."""
    return {**labels(case, run), "timestamp": now_utc(), "error": error}


def build(
    case: Case, run: int, sampling: Sampling, generation: Generation, measured: Mapping[str, Any],
    resident: Resident, backend: Backend, machine: Mapping[str, Any],
) -> dict[str, Any]:
    """The flat record of one generation: labels, timing, energy, model, machine, sampling, text.

    Quality scores are added by the caller, after the energy window closed. Raises
    AssertionError for a key wattbench.metrics does not define.
    """
    record: dict[str, Any] = {
        **labels(case, run),
        "timestamp": now_utc(),
        **timing(generation),
        **engine_figures(generation.engine),
        **measured,
        "model_load_s": resident.model.load_s,
        "warmup_s": resident.warmup_s,
        "cold_start": resident.generations == 0,
        **resident.model.metadata,
        "backend": backend.name,
        "engine_version": backend.engine_version,
        "wattbench_version": __version__,
        **machine,
        **sampling.record(),
        "output_text": generation.text,
    }
    record["fingerprint"] = fingerprint(record)
    return record


def check_keys(record: Mapping[str, Any]) -> None:
    """Raise AssertionError when the record holds a key wattbench.metrics does not define."""
    unknown = unknown_keys(dict(record))
    if unknown:
        raise AssertionError(f"record keys not defined in wattbench.metrics: {unknown}")


@dataclass(frozen=True)
class Record:
    """One saved record, typed for a test's assertions (``rec.ttft_s < 0.5``,
    ``rec.quality["rouge_l"] >= 0.3``); ``data`` holds every key (wattbench.metrics)."""

    data: Mapping[str, Any]

    @property
    def quality(self) -> dict[str, Any]:
        """The quality scores: every key whose unit is a score or points."""
        return {k: v for k, v in self.data.items() if k in BY_KEY and BY_KEY[k].unit in ("score", "points")}

    @property
    def case_id(self) -> str:
        return str(self.data["case_id"])

    @property
    def output_text(self) -> str:
        return str(self.data.get("output_text", ""))

    def _number(self, key: str) -> float | None:
        value = self.data.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def latency_s(self) -> float | None:
        return self._number("latency_s")

    @property
    def ttft_s(self) -> float | None:
        return self._number("ttft_s")

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self._number("decode_tokens_per_s")

    @property
    def prompt_tokens(self) -> int:
        return int(self.data.get("prompt_tokens") or 0)

    @property
    def completion_tokens(self) -> int:
        return int(self.data.get("completion_tokens") or 0)

    @property
    def energy_j(self) -> float | None:
        """Gross joules of the generation; None where nothing measured or estimated it."""
        return self._number("energy_j")

    @property
    def energy_net_j(self) -> float | None:
        return self._number("energy_net_j")

    @property
    def energy_per_token_j(self) -> float | None:
        return self._number("energy_per_token_j")


def figures_line(record: Mapping[str, Any]) -> str:
    """A record's headline figures in one line: decode rate, TTFT, joules (and how obtained),
    its primary quality; a figure that was not obtained reads "n/a"."""

    def show(key: str, fmt: str) -> str:
        value = record.get(key)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return format(value, fmt) if number else "n/a"

    metric = str(record.get("quality_metric") or "quality")
    method = record.get("energy_method") or "off"
    cut = [r for r in record.get("per_run", [record]) if r.get("answer_missing_reason") == CUT_IN_THINKING]
    return (
        f"{show('decode_tokens_per_s', '.1f')} tok/s, TTFT {show('ttft_s', '.3f')} s, "
        f"{show('energy_j', '.2f')} J ({method}), {metric} {show(metric, '.3f')}"
        + (f"; answer cut inside its thinking in {len(cut)} run{'s' if len(cut) != 1 else ''}: "
           "raise --wb-max-tokens" if cut else "")
    )

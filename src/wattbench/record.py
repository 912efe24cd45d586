"""A run record: the flat dict of wattbench.metrics keys for one generation of one case."""

from __future__ import annotations

import datetime as _dt
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from wattbench.backends.protocol import Generation
from wattbench.metrics import BY_KEY


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
        "prefill_tokens_per_s": g.prompt_tokens / ttft if ttft else None,
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": n,
        "total_tokens": g.prompt_tokens + n,
        "finish_reason": g.finish_reason,
        "token_count_source": g.token_count_source,
        "attempts_count": g.attempts,
        "retry_wait_s": g.retry_wait_s,
    }


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

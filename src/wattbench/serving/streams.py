"""The second workload: a load point, N closed-loop streams kept in flight on a server at once.

At point N (``--wb-concurrency``), N streams each send the case's prompt ``--wb-stream-requests``
times in a row, each request with its own seed (the run's seed + its request number), so the
server always holds N requests. Every stream draws from the same case, so a point's figures
describe one prompt shape under load, and points of one case differ only in N.

The energy window is the steady state, as ML.ENERGY's benchmark defines it: from when every
stream has its first token to when the first stream runs dry. Joules are read over that span of
the sampled window, and tokens counted inside it (each request's completion tokens spread evenly
between its first and last token). A request's own joules cannot be measured apart from its
neighbours', so its ``energy_j`` is *attributed*: J/token over the steady window x its tokens.

A failed request (a context overflow sent as HTTP 500, a 429, a dropped connection) is a figure
of its point, never retried: it is left out of tokens/s and J/token and counted in the error rate.
Every successful request is one record, scored as usual, so quality has an interval at every
point. The point's own figures (system tokens/s, TTFT and TPOT percentiles, J/token, goodput per
joule) are measured once per run and are on the run's first record only: copies on every record
would pass for a sample and give a zero-width interval. Run the sweep with --wb-runs 3 or more
for intervals on them.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wattbench.backends.protocol import Backend, Generation, Sampling
from wattbench.cases import Case
from wattbench.errors import GenerationError
from wattbench.knobs.reasoning import split_thinking
from wattbench.monitors.figures import DOMAIN_KEYS
from wattbench.records.record import build, timing
from wattbench.run.energy import EnergyMonitor, Measured
from wattbench.run.pool import Resident
from wattbench.scorers import Scorers
from wattbench.serving.slo import Slo


@dataclass(frozen=True)
class Server:
    """What the server says of its slots (None where it does not say)."""

    slots: int | None = None
    slot_context_tokens: int | None = None
    counters: Callable[[], Mapping[str, float] | None] | None = None
    """llama-server's /metrics counters, read before and after a point (their deltas)."""


@dataclass
class _Request:
    stream: int
    index: int
    sampling: Sampling
    generation: Generation | None = None
    error: str | None = None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of ``values``, linear between ranks (numpy's default); None
    for no values."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q / 100.0
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def tokens_inside(generation: Generation, start: float, end: float) -> float:
    """A request's completion tokens decoded between ``start`` and ``end`` (perf_counter s),
    spread evenly between its first and last token."""
    first, last = generation.first_token_at, generation.last_token_at
    if first is None or last is None:
        return 0.0
    if last <= first:
        return float(generation.completion_tokens) if start <= first <= end else 0.0
    overlap = max(0.0, min(end, last) - max(start, first))
    return generation.completion_tokens * overlap / (last - first)


class ServingWork:
    """The load point of one case: N streams on a server (see the module doc)."""

    owns_window = True

    def __init__(
        self, case: Case, resident: Resident, backend: Backend, scorers: Scorers, energy: EnergyMonitor,
        streams: int, requests: int, slo: Slo, server: Server,
    ) -> None:
        self.case = case
        without_retries = getattr(resident.model, "without_retries", None)
        if callable(without_retries):  # under load a 429 or 5xx is a figure, not a retry
            resident = dataclasses.replace(resident, model=without_retries())
        self.resident = resident
        self.backend = backend
        self.scorers = scorers
        self.energy = energy
        self.streams = streams
        self.requests = requests
        self.slo = slo
        self.server = server
        self.series = case.id
        self._done: dict[int, tuple[list[_Request], Measured | None, tuple[float, float] | None]] = {}
        self._window: Any = None
        self._deltas: dict[int, dict[str, float]] = {}
        self._crashed: list[BaseException] = []  # a stream's fault that is not a server's answer

    def prepare(self, run: int) -> None:
        """Nothing to prepare: every request is the case's first turn."""

    def unit(self, run: int) -> None:
        """N streams, each sending its requests in a row; the steady window is cut from the
        energy window around them all."""
        # Request i of run r has seed + r x SEEDS_PER_RUN + i: no two requests of a case share a
        # sample, and request i has the same seed at every load point (the points are paired).
        base = self.case.sampling
        requests = [
            _Request(s, s * self.requests + r, dataclasses.replace(
                base, seed=base.seed + run * SEEDS_PER_RUN + s * self.requests + r))
            for s in range(self.streams) for r in range(self.requests)
        ]
        by_stream = [[q for q in requests if q.stream == s] for s in range(self.streams)]
        counters_before = self.server.counters() if self.server.counters else None
        self._window = self.energy.begin()
        offset = time.monotonic() - time.perf_counter()  # the meter's clock is monotonic
        threads = [threading.Thread(target=self._stream, args=(mine,), daemon=True) for mine in by_stream]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._crashed:  # a request neither answered nor refused: fail the case, lose nothing quietly
            crashed, self._crashed = self._crashed[0], []
            self.discard()
            raise crashed
        window, self._window = self._window, None
        steady = _steady(by_stream)
        measured: Measured | None = None
        if steady is not None:
            try:
                span = (steady[0] + offset, steady[1] + offset)
                measured = self.energy.end(window, f"{self.series}.r{run}", span)
            except ValueError:
                steady = None
        if measured is None:
            self.energy.discard(window)
        counters_after = self.server.counters() if self.server.counters else None
        self._deltas[run] = _deltas(counters_before, counters_after)
        self._done[run] = (requests, measured, steady)

    def _stream(self, requests: list[_Request]) -> None:
        for request in requests:
            try:
                request.generation = self.resident.model.generate(self.case.messages, request.sampling)
            except GenerationError as exc:  # the server's answer under load: a figure of the point
                request.error = str(exc)
            except Exception as exc:  # a fault of ours, not an answer: unit() raises it after the join
                # Dying here would leave the request neither done nor failed, missing from the
                # error rate, and the stream's later requests unsent.
                self._crashed.append(exc)
                return

    def again(self, run: int) -> None:
        """Never called: this workload owns its window."""

    def record(self, run: int, measured: Measured | None, machine: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A record per successful request, each with the point's figures."""
        requests, window, steady = self._done.pop(run)
        done = [q for q in requests if q.generation is not None]
        self.resident.generations += len(requests)
        if not done:
            kinds = Counter(_kind(q.error or "") for q in requests)
            raise GenerationError(
                f"every request of load point {self.streams} failed ("
                + ", ".join(f"{n} x {kind}" for kind, n in kinds.most_common())
                + f"); the first said: {requests[0].error}"
            )
        point = {**self._point(requests, done, window, steady), **self._deltas.pop(run, {})}
        records: list[dict[str, Any]] = []
        steady_tokens = point.get("serving_steady_tokens")
        mean_tokens = statistics.fmean(q.generation.completion_tokens for q in done if q.generation)
        for request in done:
            generation = request.generation
            assert generation is not None
            # The point's own figures once per run: on every record, a report would take copies
            # of one measurement for a sample and show a zero-width interval. Its energy per
            # request is the attributed mean; each request's own share is energy_attributed_j.
            first = not records
            figures = dict(point) if first else {
                k: v for k, v in point.items() if k not in POINT_ONLY and k not in ATTRIBUTED
            }
            if window is not None and window.energy is not None and steady_tokens:
                gross = point.get("energy_j")  # the steady window's, whole
                share = generation.completion_tokens / steady_tokens
                figures["energy_attributed_j"] = None if gross is None else gross * share
                figures["energy_attributed"] = True
                if first:  # the point's energy per request and its parts: the attributed mean
                    figures.update(_attributed(point, mean_tokens / steady_tokens))
            record = build(self.case, run, request.sampling, generation, figures, self.resident,
                           self.backend, machine)
            record["serving_request"] = request.index
            record["serving_slo_met"] = self.slo.met(timing(generation))
            answer = split_thinking(generation.text)[1]
            record.update(self.scorers.score(self.case, answer))
            records.append(record)
        return records

    def _point(
        self, requests: list[_Request], done: list[_Request], window: Measured | None,
        steady: tuple[float, float] | None,
    ) -> dict[str, Any]:
        """The load point's figures, shared by its records."""
        failed = [q for q in requests if q.error is not None]
        timings = [timing(q.generation) for q in done if q.generation is not None]
        figures: dict[str, Any] = {
            "serving_requests_count": len(requests),
            "serving_failed_requests_count": len(failed),
            "serving_error_pct": 100.0 * len(failed) / len(requests),
            "serving_slots_count": self.server.slots,
            "serving_slot_context_tokens": self.server.slot_context_tokens,
        }
        if failed:
            counts = Counter(_kind(q.error or "") for q in failed)
            figures["serving_errors"] = "; ".join(f"{n} x {kind}" for kind, n in counts.most_common())
        if self.slo.limits:
            figures["serving_slo"] = self.slo.text
        for name in ("ttft", "tpot"):
            values = [float(v) for t in timings if isinstance(v := t.get(f"{name}_s"), (int, float))]
            for q in (50, 90, 99):
                figures[f"serving_{name}_p{q}_s"] = percentile(values, q)
        rates = [float(v) for t in timings if isinstance(v := t.get("decode_tokens_per_s"), (int, float))]
        figures["serving_stream_tokens_per_s"] = statistics.fmean(rates) if rates else None
        if steady is None:
            figures["energy_warning"] = (
                "no steady state: the streams were never all generating at once (every stream "
                "needs a first token before the first one runs dry); no energy or system tokens/s"
            )
            return figures
        start, end = steady
        steady_tokens = sum(tokens_inside(q.generation, start, end) for q in done if q.generation)
        figures["serving_steady_window_s"] = end - start
        figures["serving_steady_tokens"] = steady_tokens
        figures["serving_system_tokens_per_s"] = steady_tokens / (end - start)
        if window is not None:
            # The steady window whole (one unit), and per token: tokens, not requests, divide it;
            # each record's energy_j and its parts are then its attributed share (_attributed).
            whole = window.per_unit(1, round(steady_tokens), None) if steady_tokens else window.figures
            figures.update(whole)
            figures.pop("energy_window_generations_count", None)
            shortest = _shortest_window_s(self.energy)
            if end - start < shortest:  # the plain workload repeats such a window; a point cannot
                note = (f"steady window {end - start:.3g} s, shorter than the {shortest:.3g} s its energy "
                        "needs (--wb-energy-min-window, or two updates of the slowest counter): too short "
                        "to measure; send more requests per stream (--wb-stream-requests) or longer answers")
                figures["energy_warning"] = "; ".join(filter(None, [figures.get("energy_warning"), note]))
            gross = window.energy.gross_j if window.energy is not None else None
            if gross and self.slo.limits:
                good = sum(
                    tokens_inside(q.generation, start, end) for q in done
                    if q.generation is not None and self.slo.met(timing(q.generation))
                )
                figures["serving_goodput_tokens_per_j"] = good / gross
        return figures

    def discard(self) -> None:
        """Drop the energy window of a point that failed mid-way."""
        if self._window is not None:
            self.energy.discard(self._window)
            self._window = None


SEEDS_PER_RUN = 100_000  # request seeds of one run: seed + run x this + the request's number

POINT_ONLY = frozenset({
    "energy_per_token_j", "energy_net_per_token_j", "energy_per_total_token_j", "energy_window_s",
    "carbon_per_token_gco2e",
    "energy_updates_count", "samples_count", "energy_components_j", "serving_requests_count",
    "serving_failed_requests_count",
    "serving_error_pct", "serving_steady_window_s", "serving_steady_tokens", "serving_system_tokens_per_s",
    "serving_stream_tokens_per_s", "serving_goodput_tokens_per_j", "serving_cached_prompt_tokens",
    "serving_draft_tokens", "serving_draft_accepted_tokens",
    *(f"serving_{name}_p{q}_s" for name in ("ttft", "tpot") for q in (50, 90, 99)),
})
"""The load point's figures, measured once per run: only its first record carries them."""

ATTRIBUTED = ("energy_j", "energy_net_j", *DOMAIN_KEYS.values(), "carbon_gco2e", "carbon_embodied_gco2e")


def _attributed(point: Mapping[str, Any], share: float) -> dict[str, Any]:
    """A request's share of the steady window's joules (its tokens / the window's tokens)."""
    figures: dict[str, Any] = {
        key: None if point[key] is None else point[key] * share for key in ATTRIBUTED if key in point
    }
    components = point.get("energy_components_j")
    if isinstance(components, dict):
        figures["energy_components_j"] = {k: None if j is None else j * share for k, j in components.items()}
    figures["energy_attributed"] = True
    return figures


def _shortest_window_s(energy: EnergyMonitor) -> float:
    """The shortest window whose energy can be measured: --wb-energy-min-window, raised to two
    updates of the slowest counted counter (EnergyMonitor.needs_more's rule; 0 turns it off)."""
    shortest = energy.options.min_window_s if energy.measures else 0.0
    return max(shortest, energy.meter.min_window_s()) if shortest > 0 else 0.0


def _steady(by_stream: list[list[_Request]]) -> tuple[float, float] | None:
    """(start, end) perf_counter s of the steady state: every stream's first token to the
    first stream's last request's end; None when the streams never all generated at once."""
    firsts, ends = [], []
    for stream in by_stream:
        done = [q.generation for q in stream if q.generation is not None]
        if not done or done[0].first_token_at is None:
            return None  # a stream that never generated: N streams were never in flight
        firsts.append(done[0].first_token_at)
        ends.append(max(g.done_at for g in done))
    start, end = max(firsts), min(ends)
    return (start, end) if end > start else None


COUNTERS = {  # llama-server /metrics counter -> record key of its delta over a load point
    "prompt_tokens_cached_total": "serving_cached_prompt_tokens",
    "spec_decode_num_draft_tokens_total": "serving_draft_tokens",
    "spec_decode_num_accepted_tokens_total": "serving_draft_accepted_tokens",
}


def _deltas(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> dict[str, float]:
    """The load point's share of the server's counters: after minus before, for the counters
    both readings hold (a counter's value alone means nothing: it counts since the server
    started)."""
    if not before or not after:
        return {}
    return {
        key: after[name] - before[name] for name, key in COUNTERS.items() if name in before and name in after
    }


def _kind(error: str) -> str:
    """A failed request's error, by kind: the server's error type where it names one."""
    for kind in ("exceed_context_size_error", "HTTP 429", "HTTP 503", "HTTP 500", "ConnectError",
                 "ReadTimeout", "RemoteProtocolError"):
        if kind in error:
            return kind
    return error.split(":", 1)[0][:80]

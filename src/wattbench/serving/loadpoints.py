"""Where a load point (wattbench.serving.streams) sends its streams, and the checks before it starts.

A server backend (OpenAI-compatible, Ollama) already serves concurrent requests: its model is
used as it is (OpenAI-compatible models without retries). Ollama runs OLLAMA_NUM_PARALLEL
requests at once, a setting of the server that a client cannot read or change; docs/servers.md says so.
The embedded engine (llama.cpp in process) cannot: its model's GGUF file is served by llama.cpp's
own server on loopback (wattbench.backends.localserver) with as many slots as the largest load
point, each with --wb-ctx tokens of context, started at the model's first load point and stopped
at the end of the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from wattbench.backends.llamacpp import cpu_flags
from wattbench.backends.localserver import LocalServer, ServerOptions
from wattbench.backends.openai_compat import OpenAICompatBackend, OpenAIOptions
from wattbench.backends.protocol import Backend, BackendOptions, LoadedModel, LoadOptions, Sampling
from wattbench.cases import Case
from wattbench.errors import (
    ConfigError,
    ContextOverflowError,
    GenerationError,
    ModelLoadError,
    PromptTooLongError,
    WattbenchError,
)
from wattbench.monitors.gauges import own_tree
from wattbench.run.pool import Resident
from wattbench.serving.streams import Server


@dataclass(frozen=True)
class Engine:
    """What a record says of the engine that served a load point."""

    name: str
    engine_version: str


@dataclass
class Target:
    """A model ready for a load point: the resident to send to, the engine, the server's slots."""

    resident: Resident
    engine: Any  # a Backend, or the Engine of a local server (records read name, engine_version)
    server: Server
    checked: bool = False  # whether check() ran for this model's load points


class LoadPoints:
    """The run's load-point targets, one per model, and the local servers it started."""

    def __init__(
        self, backend: Backend, slots: int, slot_context_tokens: int, threads: int, repack: str
    ) -> None:
        self.backend = backend
        self.slots = slots
        self.slot_context_tokens = slot_context_tokens
        self.threads = threads
        self.repack = repack
        self._targets: dict[str, Target] = {}
        self._servers: list[LocalServer] = []
        self._failed: dict[str, WattbenchError] = {}  # model location -> why its server did not start
        self.notes: list[str] = []  # what the run's summary says of the local servers

    def target(self, resident: Resident) -> Target:
        """The target for ``resident``'s model: itself on a server backend, else a local server
        of its GGUF file. Raises ModelLoadError when the local server cannot start."""
        ref = resident.model.ref
        if ref.location in self._failed:  # a server that did not start is not started again
            raise self._failed[ref.location]
        if ref.location not in self._targets:
            inner = getattr(self.backend, "inner", self.backend)  # under a worker-process wrapper
            if getattr(inner, "in_process", False):
                try:
                    self._targets[ref.location] = self._local(resident)
                except WattbenchError as exc:
                    self._failed[ref.location] = exc
                    raise
            else:
                self._targets[ref.location] = Target(resident, self.backend, self._server(inner))
        return self._targets[ref.location]

    def _local(self, resident: Resident) -> Target:
        from wattbench.backends.llamacpp import repack_choice

        path = Path(resident.model.ref.location)
        if not path.is_file():
            raise ModelLoadError(
                f"a load point of {resident.model.ref.name} needs its GGUF file; {path} is not one"
            )
        repack, _why = repack_choice(self.repack, cpu_flags())
        server = LocalServer(path, ServerOptions(self.slots, self.slot_context_tokens, self.threads, repack))
        self._servers.append(server)
        own_tree().refresh()  # the server's CPU time is the benchmark's: the estimate must see it now
        client = OpenAICompatBackend(BackendOptions(retries=0, own=(OpenAIOptions(base_url=server.url),)))
        ref = client.resolve("default")[0]
        model = client.load(dataclasses.replace(ref, name=resident.model.ref.name), LoadOptions())
        model.metadata.update({k: v for k, v in resident.model.metadata.items() if k.startswith("model_")})
        model.metadata.pop("server_url", None)  # a port of this run only: it would split the fingerprint
        import xllamacpp

        version = getattr(xllamacpp, "__version__", "?")
        engine = Engine(self.backend.name, f"xllamacpp {version} (llama.cpp server)")
        served = Resident(cast(LoadedModel, model))
        model.generate(({"role": "user", "content": "Hello"},), Sampling(max_tokens=4))  # warm-up
        target = Target(served, engine, self._server(client))
        given = target.server.slot_context_tokens
        if given is not None and given != self.slot_context_tokens:
            self.notes.append(
                f"llama.cpp's server gave {resident.model.ref.name} {given} tokens per slot where "
                f"--wb-ctx asked {self.slot_context_tokens} (it sets a floor); records carry "
                "serving_slot_context_tokens"
            )
        return target

    @staticmethod
    def _server(backend: object) -> Server:
        """What the server says of its slots (llama-server's /props), where it says."""
        props_of = getattr(backend, "server_props", None)
        props: Mapping[str, Any] | None = props_of() if callable(props_of) else None
        counters = getattr(backend, "server_counters", None)
        if not props:
            return Server(counters=counters)
        settings = props.get("default_generation_settings")
        context = settings.get("n_ctx") if isinstance(settings, dict) else None
        slots = props.get("total_slots")
        return Server(
            slots if isinstance(slots, int) else None, context if isinstance(context, int) else None,
            counters,
        )

    def check(self, cases: Sequence[Case], target: Target) -> None:
        """Once per model, before its first load point: the server has as many slots as the
        largest point, and one slot holds the longest prompt of ``cases`` (the model's selected
        load points) plus max_tokens. Raises ConfigError with one message naming the figures
        and the fix, so a run that cannot work stops before its first load point, not after a
        failure per case."""
        if target.checked:
            return
        target.checked = True
        server, local = target.server, isinstance(target.engine, Engine)
        streams = max((int(c.variant["concurrency"]) for c in cases), default=1)
        if server.slots is not None and server.slots < streams:
            raise ConfigError(
                f"load point {streams}: the server has {server.slots} parallel slots, so {streams} "
                "streams would queue; start it with at least that many (llama-server --parallel N, "
                "vLLM --max-num-seqs N, OLLAMA_NUM_PARALLEL=N)"
            )
        if server.slot_context_tokens is None:
            return
        slot = server.slot_context_tokens
        counted: dict[tuple[str, ...], int | None] = {}
        short: list[tuple[int, str, str]] = []  # (need, case id, what it needs) past one slot
        for case in cases:
            key = tuple(m["content"] for m in case.messages)
            if key not in counted:
                try:
                    counted[key] = target.resident.model.count_prompt_tokens(case.messages)
                except (ContextOverflowError, PromptTooLongError):
                    counted[key] = None  # the prompt alone overflows the slot
                except GenerationError:
                    return  # the server cannot count: its own errors will say so per request
            prompt, limit = counted[key], case.sampling.max_tokens
            if prompt is None:
                short.append((slot + 1, case.id, "its prompt alone"))
            elif prompt + limit > slot:
                short.append((prompt + limit, case.id,
                              f"its prompt ({prompt} tokens) plus max_tokens ({limit}), {prompt + limit}"))
        if not short:
            return
        _need, worst, what = max(short)
        changed = (f"; llama.cpp's server gave {slot} tokens per slot where --wb-ctx asked "
                   f"{self.slot_context_tokens}" if slot != self.slot_context_tokens else "")
        fix = (f"raise --wb-ctx (one slot's context; the local server holds {self.slots} of them{changed})"
               if local else "start the server with its context at slots x the need (llama-server "
               "splits --ctx-size across its --parallel slots), or lower --wb-max-tokens")
        raise ConfigError(
            f"{len(short)} load-point case(s) do not fit one slot of the server ({slot} tokens): "
            f"{worst} needs {what}, more than that; {fix}"
        )

    def close(self) -> None:
        """Stop every local server."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        self._targets.clear()

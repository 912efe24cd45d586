"""llama.cpp's own server on loopback, for the load points of the embedded engine (xllamacpp).

In-process llama-cpp-python answers one request at a time on one context (llama-cpp-python#873,
#1062, #1549), so a load point of N concurrent streams needs a server with N parallel slots.
``xllamacpp`` (MIT) is a prebuilt wheel of llama.cpp's server: this module starts it in a child
process (an engine crash, e.g. llama.cpp's AMX path, fails that model's load points, not the run)
with ``n_parallel`` slots and ``n_ctx`` = slots x the context of one slot (llama-server splits its
context across its slots), and talks to it through the OpenAI-compatible backend.

Measured on this project's 2-CPU machine (SmolLM2-135M Q4_1, 2 threads, 48 tokens): 80-83,
106-122 and 145-153 tokens/s in total at 1, 2 and 4 streams (../shared/FACTS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from wattbench.errors import MissingExtraError, ModelLoadError

START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServerOptions:
    """How the local server is started: its slots, one slot's context, threads, weight repacking."""

    slots: int
    slot_context_tokens: int
    threads: int = 0  # 0: llama.cpp's own default
    repack: bool = True  # llama.cpp's extra buffer types (off where the CPU has AMX: llama.cpp#20824)


class LocalServer:
    """A running llama.cpp server (xllamacpp) for one GGUF file; ``url`` is its OpenAI base URL."""

    def __init__(self, model: Path, options: ServerOptions) -> None:
        try:
            import xllamacpp  # noqa: F401  (checked here: the child would only say it exited)
        except ImportError:
            raise MissingExtraError("xllamacpp", "llamacpp") from None
        self.options = options
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        # The child blocks on its stdin: closing it (or this process dying) stops the server.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "wattbench.backends.localserver", str(model),
             json.dumps(options.__dict__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        self.pid = self._process.pid
        self.url = self._started(model)

    def _started(self, model: Path) -> str:
        """The server's URL, from the child's first line; ModelLoadError when it does not start."""
        line: list[str] = []
        stdout = self._process.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        if not line or not line[0].strip():
            tail = self.log_tail()
            self.close()
            raise ModelLoadError(f"llama.cpp's server (xllamacpp) did not start for {model.name}: {tail}")
        return f"{json.loads(line[0])['url']}/v1"

    def log_tail(self, chars: int = 600) -> str:
        """The end of the server's log, for an error message."""
        self._log.seek(0)
        return " ".join(self._log.read()[-chars:].split()) or "(no output)"

    def close(self) -> None:
        """Stop the server and wait for it."""
        if self._process.poll() is None:
            try:
                self._process.stdin.close()  # type: ignore[union-attr]
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._log.close()


def _serve(model: str, options: dict[str, object]) -> None:
    """The child: start the server, say its URL on stdout, serve until stdin closes."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_parallel = int(options["slots"])  # type: ignore[call-overload]
    params.n_ctx = int(options["slots"]) * int(options["slot_context_tokens"])  # type: ignore[call-overload]
    if int(options["threads"]):  # type: ignore[call-overload]
        params.cpuparams.n_threads = int(options["threads"])  # type: ignore[call-overload]
        params.cpuparams_batch.n_threads = int(options["threads"])  # type: ignore[call-overload]
    params.no_extra_bufts = not options["repack"]
    # An HTTP thread per connection: llama-server's default follows the CPU count (2 here), too
    # few for N streams, and a connection past it is dropped unanswered.
    params.n_threads_http = 2 * int(options["slots"]) + 2  # type: ignore[call-overload]
    params.endpoint_metrics = True
    # Every request pays for its whole prompt, as in process: a load point's streams send the
    # same prompt, and a cached prefix would turn TTFT into a cache hit's time.
    params.cache_prompt = False
    params.cache_idle_slots = False
    server = xllamacpp.Server(params)
    print(json.dumps({"url": server.listening_address}), flush=True)
    sys.stdin.read()
    del server


if __name__ == "__main__":
    _serve(sys.argv[1], json.loads(sys.argv[2]))

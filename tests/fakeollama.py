"""A local server that speaks Ollama's documented HTTP API (docs/api.md), for the Ollama backend.

GET /api/version, GET /api/tags, POST /api/show, POST /api/generate (an empty prompt loads the
model; keep_alive 0 unloads it), POST /api/chat (streamed NDJSON: one object per token, then a
final object with done, done_reason and the nanosecond timings; or one object unstreamed), and
errors as {"error": "..."} with the status Ollama uses. No Ollama server can run here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import serving

TOKENS = ["Paris", " is", " the", " capital", "."]
# The reply when a request's ``format`` is a JSON schema (a judge's single grade), and the
# top log-probs the fake reports at each of its tokens when ``logprobs`` is asked.
JSON_TOKENS = ['{"explanation": "Right.", "rating": ', "8", "}"]
JSON_TOP = {"8": {"8": 0.6, "7": 0.3, "the": 0.1}}
DETAILS = {
    "parent_model": "", "format": "gguf", "family": "qwen3", "families": ["qwen3"],
    "parameter_size": "4.0B", "quantization_level": "Q4_K_M",
}


@dataclass
class FakeOllama:
    """The server's state: pulled models, loaded models, every request, and scripted chat faults."""

    pulled: dict[str, str] = field(
        default_factory=lambda: {"qwen3:4b": "a1b2c3d4e5f6", "gemma3:1b": "0f9e8d7c"}
    )
    loaded: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    chat_fault: Callable[[dict[str, Any]], tuple[int, str] | None] = lambda body: None
    loads: int = 0

    def _timings(self, body: dict[str, Any], loaded_now: bool, completion: int) -> dict[str, Any]:
        prompt = sum(len(m.get("content", "").split()) + 4 for m in body.get("messages", []))
        return {
            "total_duration": 900_000_000, "load_duration": 400_000_000 if loaded_now else 1_000_000,
            "prompt_eval_count": prompt, "prompt_eval_duration": 100_000_000,
            "eval_count": completion, "eval_duration": 250_000_000,
        }

    def _load(self, name: str, keep_alive: Any) -> bool:
        """Load for a request; unload after it when keep_alive is 0. Whether it loaded now."""
        loaded_now = name not in self.loaded
        if loaded_now:
            self.loads += 1
            self.loaded.add(name)
        return loaded_now

    def _after(self, name: str, keep_alive: Any) -> None:
        if keep_alive in (0, "0", "0s"):
            self.loaded.discard(name)


def _handler(state: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.requests.append((self.path, {}))
            if self.path == "/api/version":
                self._json(200, {"version": "0.12.6"})
            elif self.path == "/api/tags":
                models = [
                    {"name": n, "model": n, "modified_at": "2026-11-01T10:00:00Z", "size": 2_500_000_000,
                     "digest": d, "details": DETAILS}
                    for n, d in state.pulled.items()
                ]
                self._json(200, {"models": models})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            state.requests.append((self.path, body))
            name = body.get("model", "")
            if name not in state.pulled:
                self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
                return
            if self.path == "/api/show":
                self._json(200, {"modelfile": "FROM x", "parameters": "", "template": "{{ .Prompt }}",
                                 "details": DETAILS, "model_info": {"general.architecture": "qwen3"},
                                 "capabilities": ["completion"]})
            elif self.path == "/api/generate":
                loaded_now = state._load(name, body.get("keep_alive"))
                state._after(name, body.get("keep_alive"))
                reason = "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
                self._json(200, {"model": name, "created_at": "2026-11-21T10:00:00Z", "response": "",
                                 "done": True, "done_reason": reason,
                                 **({"load_duration": 400_000_000} if loaded_now else {})})
            elif self.path == "/api/chat":
                self._chat(name, body)
            else:
                self._json(404, {"error": "not found"})

        def _chat(self, name: str, body: dict[str, Any]) -> None:
            fault = state.chat_fault(body)
            if fault is not None:
                self._json(fault[0], {"error": fault[1]})
                return
            loaded_now = state._load(name, body.get("keep_alive"))
            answer = JSON_TOKENS if isinstance(body.get("format"), dict) else TOKENS
            limit = (body.get("options") or {}).get("num_predict", len(answer))
            tokens = answer[:limit]
            final = {
                "model": name, "created_at": "2026-11-21T10:00:01Z",
                "message": {"role": "assistant", "content": ""}, "done": True,
                "done_reason": "length" if limit < len(answer) else "stop",
                **state._timings(body, loaded_now, len(tokens)),
            }
            state._after(name, body.get("keep_alive"))
            if body.get("stream") is False:
                final["message"]["content"] = "".join(tokens)
                self._json(200, final)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for token in tokens:
                time.sleep(0.003)
                chunk: dict[str, Any] = {"model": name, "created_at": "2026-11-21T10:00:00Z",
                                         "message": {"role": "assistant", "content": token}, "done": False}
                if body.get("logprobs"):
                    top = JSON_TOP.get(token, {token: 1.0})
                    chunk["logprobs"] = [{
                        "token": token, "logprob": math.log(top[token]),
                        "top_logprobs": [{"token": t, "logprob": math.log(p)}
                                         for t, p in list(top.items())[: body.get("top_logprobs", 0)]],
                    }]
                self._chunk(chunk)
            self._chunk(final)
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, payload: dict[str, Any]) -> None:
            line = json.dumps(payload).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

    return Handler


@contextmanager
def serve(state: FakeOllama) -> Iterator[str]:
    """Run the fake on a free loopback port; yields its host URL."""
    with serving(_handler(state)) as port:
        yield f"http://127.0.0.1:{port}"

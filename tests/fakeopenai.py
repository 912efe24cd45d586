"""A scriptable OpenAI-compatible server on loopback, for the faults a real one rarely shows on cue.

It speaks the documented wire format: GET /v1/models, POST /v1/chat/completions (unstreamed, or
streamed as server-sent events: a role-only first chunk, one content chunk per token, a final
chunk with usage when stream_options.include_usage is set, then [DONE]).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import serving

ANSWER = ["Hello", ",", " world", "."]


@dataclass
class Reply:
    """What the server does with one chat request: an error status, or a stream of ANSWER."""

    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    events: list[dict[str, Any]] | None = None
    """A streamed reply of exactly these data events (then [DONE]), instead of ANSWER's."""
    done: bool = True
    """False: the stream closes after its events with no [DONE] (a server cut mid-answer)."""


@dataclass
class Script:
    """Replies in order (the last one repeats); every request seen, headers included."""

    replies: list[Reply | Callable[[dict[str, Any]], Reply]] = field(default_factory=lambda: [Reply()])
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    props: dict[str, Any] | None = None
    """llama-server's /props to answer (its slots and their context); None: 404, as vLLM."""
    metrics: str | None = None
    """llama-server's /metrics page (Prometheus text) to answer; None: 404."""
    in_flight: int = 0
    """Chat requests being answered now (this one included, while a reply callable decides)."""

    def next(self, body: dict[str, Any]) -> Reply:
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(body) if callable(reply) else reply


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # stream each chunk when written, as real servers do

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fake/Model-1"}]}).encode())
            elif self.path == "/metrics" and script.metrics is not None:
                self._send(200, script.metrics.encode(), {"Content-Type": "text/plain"})
            elif self.path == "/props" and script.props is not None:
                self._send(200, json.dumps(script.props).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append(body)
            script.headers.append(dict(self.headers))
            script.in_flight += 1
            try:
                self._answer(body)
            finally:
                script.in_flight -= 1

        def _answer(self, body: dict[str, Any]) -> None:
            reply = script.next(body)
            time.sleep(reply.delay_s)
            if reply.status != 200:
                self._send(reply.status, reply.body.encode(), reply.headers)
                return
            usage = {"prompt_tokens": 7, "completion_tokens": len(ANSWER), "total_tokens": 7 + len(ANSWER)}
            if not body.get("stream"):
                message = {"role": "assistant", "content": "".join(ANSWER)}
                self._send(200, json.dumps({"choices": [{"message": message}], "usage": usage}).encode())
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in reply.events if reply.events is not None else _chunks(body, usage):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            if reply.done:
                self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True

    return Handler


def _chunks(body: dict[str, Any], usage: dict[str, int]) -> Iterator[dict[str, Any]]:
    yield {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    for piece in ANSWER:
        time.sleep(0.005)
        yield {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
    yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {"choices": [], "usage": usage}


@contextmanager
def fake_openai(script: Script) -> Iterator[str]:
    """Serve ``script`` on a free loopback port; yields the base URL (…/v1)."""
    with serving(_handler(script)) as port:
        yield f"http://127.0.0.1:{port}/v1"

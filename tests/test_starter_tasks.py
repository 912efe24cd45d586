"""The starter task set in fixtures/tasks: complete, and of the promised sizes."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import TASKS
from wattbench.cases.levels import build_levels
from wattbench.cases.tasks import load_padding, load_task_dir
from wattbench.scorers.codeblock import extract_code

SIZES = {"short": (50, 100), "medium": (200, 500), "long": (1000, 1600)}


@pytest.fixture(scope="module")
def smollm2_vocab(smollm2: Path) -> Any:
    """SmolLM2's tokenizer alone (vocab_only: no weights)."""
    import llama_cpp

    return llama_cpp.Llama(str(smollm2), vocab_only=True, verbose=False)


def test_every_task_has_every_load_and_what_its_checks_need() -> None:
    tasks = load_task_dir(TASKS)
    assert set(tasks) == {"qa", "summary", "code", "creative", "math", "stem", "reasoning", "extraction",
                          "humanities", "roleplay"}
    for task in tasks.values():
        assert set(task.items) == set(SIZES), task.name
        assert len(task.examples) >= 1
    for name in ("qa", "summary", "math", "stem", "reasoning", "extraction", "humanities"):
        assert all(item.reference for item in tasks[name].items.values()), name
    for name in ("math", "stem"):
        for item in tasks[name].items.values():
            float(item.reference or "")  # a number the math scorer can compare with
    for item in tasks["extraction"].items.values():
        assert isinstance(json.loads(item.reference or ""), dict)
    for item in tasks["roleplay"].items.values():
        assert len(item.extra["turns"]) >= 2  # multi-turn: two follow-ups at least
    for item in tasks["code"].items.values():
        assert item.extra["entry_point"] in item.extra["tests"]
        ast.parse(item.extra["tests"])
    for example in tasks["code"].examples:
        code = extract_code(example.output)
        assert code is not None
        ast.parse(code)


def test_bare_prompts_have_the_promised_size_in_smollm2_tokens(smollm2_vocab: Any) -> None:
    tasks = load_task_dir(TASKS)
    padding = load_padding(TASKS)
    for task in tasks.values():
        for load, (low, high) in SIZES.items():
            item = task.items[load]
            prompts = build_levels(item, task.clarification, task.guidance, task.examples,
                                   padding, key=f"{task.name}/{load}")
            tokens = len(smollm2_vocab.tokenize(prompts["L0"].encode(), add_bos=False))
            assert low <= tokens <= high, (task.name, load, tokens)

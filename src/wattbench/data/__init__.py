"""Data shipped inside the package: the built-in task set, the named system prompts and the
built-in fine-tuning set (finetune.jsonl, its own original).

These are the defaults when no ``--wb-task-dir`` / ``--wb-system-prompt-file`` is set, so the
plugin runs from any folder. They are copies: the repository's ``fixtures/tasks/`` and
``fixtures/system_prompts.json`` are where they are edited, and tests/test_any_folder.py fails,
naming the file, when a copy here differs from its original by a byte. To add a built-in task,
add its file to fixtures/tasks/ and copy it here.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from wattbench.errors import ConfigError


def _path(name: str, option: str) -> Path:
    found = files(__name__) / name
    if not isinstance(found, Path):  # a zipped install: the loaders read plain files and folders
        raise ConfigError(
            f"wattbench's built-in {name} is inside an archive ({found}); install wattbench "
            f"unpacked (pip install) or set {option}"
        )
    return found


def task_dir() -> Path:
    """The built-in task folder: one .json file per task, and padding.txt."""
    return _path("tasks", "--wb-task-dir")


def system_prompt_file() -> Path:
    """The built-in JSON object of system prompt name -> text."""
    return _path("system_prompts.json", "--wb-system-prompt-file")


def finetune_file() -> Path:
    """The built-in fine-tuning set (ShareGPT JSONL; wattbench.finetune.data). It has no copy in
    fixtures/: this file is its original."""
    return _path("finetune.jsonl", "--wb-finetune-data")

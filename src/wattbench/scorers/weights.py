"""Local model weights for the model-based scorers (BERTScore, BARTScore): never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

from wattbench.errors import ConfigError

# Hugging Face libraries read these: with them set, a missing file is an error, not a download.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def local_weights(folder: Path, option: str, example: str = "") -> Path:
    """``folder`` when it holds a model (a config.json), with the Hugging Face libraries set
    offline; ConfigError naming ``option`` and the fix otherwise."""
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"{option} {folder}: not a local model folder (no config.json); give the folder of "
            f"weights already on disk{example}"
        )
    os.environ.update(OFFLINE)
    return folder

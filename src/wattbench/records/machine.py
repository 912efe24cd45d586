"""The machine a run ran on, and the fingerprint that keys its records when runs are merged.

A fingerprint is a short hash of what changes the figures besides the model's own behaviour:
the CPU, the GPUs and their driver, the engine and its version, and the model's digest. Two
records with the same fingerprint were measured under the same conditions; comparing across
fingerprints compares machines as much as builds, and the report says so loudly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.monitors.gpu import gpu_facts

# What a fingerprint hashes, in this order; a missing field hashes as "".
HARDWARE = ("machine_cpu", "machine_cpu_count", "machine_gpus", "gpu_driver_version", "machine_board")
FIELDS = ("machine_cpu", "machine_gpus", "gpu_driver_version", "backend", "engine_version", "model_digest")
# Engine settings that change the figures, hashed only where a record has one and it differs
# from the engine's default, so records at the default (and those from before the setting
# existed) keep their fingerprint. Repacking off is slower (see backends/llamacpp.py).
DEVIATIONS = {"engine_repack": "on"}


@dataclass(frozen=True)
class Machine:
    """What the run's figures depend on besides the model: CPU, GPUs and their driver."""

    cpu: str
    cpu_count: int
    gpus: str  # "; "-joined device names, "none" where no GPU family (NVML, amdsmi) answers
    gpu_driver: str  # "" without a GPU
    board: str  # the Jetson's (or any device tree's) model string, else ""

    def record(self) -> dict[str, Any]:
        """The record keys that carry this machine."""
        return dict(zip(HARDWARE, (self.cpu, self.cpu_count, self.gpus, self.gpu_driver, self.board)))


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (x86 'model name', Arm 'Hardware' or 'Model'), else the platform's."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Hardware", "Model"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def describe_machine(libraries: Mapping[str, Any] | None = None, root: Path = Path("/")) -> Machine:
    """This machine. Its GPUs are the GPU energy sources' answer (monitors/gpu.py);
    ``libraries``: source name -> a fake of its library (``{"nvml": fake}``), ``root`` a fake
    filesystem root."""
    gpus, driver = gpu_facts(libraries)
    try:
        board = (root / "proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace")
    except OSError:
        board = ""
    return Machine(cpu_model(root / "proc/cpuinfo"), os.cpu_count() or 0, gpus, driver, board.strip())


def _field(record: Mapping[str, Any], key: str) -> str:
    """A fingerprint field; a model's digest is its server digest, else its file's sha256, else its id."""
    if key == "model_digest":
        value = record.get("model_digest") or record.get("model_sha256") or record.get("model_id")
    else:
        value = record.get(key)
    return str(value or "")


def fingerprint(record: Mapping[str, Any]) -> str:
    """12 hex digits that change with any of FIELDS, and with DEVIATIONS off their default."""
    raw = tuple(map(record.get, _RAW))
    try:
        return _fingerprint_of(raw)
    except TypeError:  # a value that cannot be a cache key (a list): hash it uncached
        return _fingerprint_of.__wrapped__(raw)


# The record keys FIELDS are read from (_field: a model's digest has fallbacks).
_RAW = (*(key for key in FIELDS if key != "model_digest"), "model_digest", "model_sha256", "model_id",
        *DEVIATIONS)


@functools.lru_cache(maxsize=4096)
def _fingerprint_of(raw: tuple[Any, ...]) -> str:
    # A report fingerprints each of 100,000 records, of a few machines x models: hash each once.
    values = dict(zip(_RAW, raw))
    hashed = [_field(values, key) for key in FIELDS]
    hashed += [f"{key}={values[key]}" for key, usual in DEVIATIONS.items()
               if values[key] not in (None, usual)]
    text = json.dumps(hashed)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def fingerprint_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """'field: A != B' for each fingerprint field where the two records differ."""
    return [
        f"{key}: {_field(a, key) or '-'} != {_field(b, key) or '-'}"
        for key in FIELDS
        if _field(a, key) != _field(b, key)
    ] + [
        f"{key}: {a.get(key) or usual} != {b.get(key) or usual}"
        for key, usual in DEVIATIONS.items()
        if (a.get(key) or usual) != (b.get(key) or usual)
    ]

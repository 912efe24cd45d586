"""What the GPU energy sources share: the measured device, the ``--wb-gpus`` setting, and the
facts each GPU family answers for the machine description and for pytest-xdist's workers.

A GPU family is an energy source module (monitors/nvml.py, monitors/amdsmi.py) that also defines
``gpu_facts(library=None) -> GpuFacts | None`` (its device names and driver; None where its
library is missing or its driver does not start) and ``VISIBLE_ENV``, the environment variable
that restricts its runtime to some devices. FAMILIES lists them; machine.py and workers.py ask
through ``gpu_facts`` and ``set_visible`` here, never a vendor library or variable themselves.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from wattbench.option import setting, split_list

FAMILIES: tuple[str, ...] = ("nvml", "amdsmi")
"""The energy sources that are GPU families, in the order the machine description lists them."""


@dataclass(frozen=True)
class Device:
    """One measured GPU: the library's index and handle, its name, whether its energy counter is
    used, and why not ("" when it is: power is integrated instead otherwise)."""

    index: int
    handle: Any
    name: str
    counter: bool
    why: str = ""


def gpu_list(value: str) -> tuple[str, ...]:
    """GPU indices or UUIDs, or ('all',)."""
    items = split_list(value)
    if not items or "all" in [i.lower() for i in items]:
        return ("all",)
    return items


@dataclass(frozen=True)
class GpuOptions:
    """The GPU sources' settings: which GPUs to measure (None: the runtime's visibility variable,
    else every GPU)."""

    gpus: tuple[str, ...] | None = setting("gpus", gpu_list, "GPUs to measure: indices or UUIDs, or all "
                                           "(default: CUDA_VISIBLE_DEVICES, else all)")


@dataclass(frozen=True)
class GpuFacts:
    """A GPU family's answer: its devices' names ('unreadable' where the library failed to list
    them) and its driver's version ("" unknown)."""

    names: tuple[str, ...]
    driver: str


def gpu_facts(libraries: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """('; '-joined GPU names of every family, the first driver version), ('none', '') on a machine
    where no family answers. ``libraries``: family name -> a fake of its library (tests)."""
    names: list[str] = []
    driver = ""
    for family in FAMILIES:
        module = importlib.import_module(f"wattbench.monitors.{family}")
        facts: GpuFacts | None = module.gpu_facts((libraries or {}).get(family))
        if facts is None:
            continue
        names += facts.names
        driver = driver or facts.driver
    return "; ".join(names) or "none", driver


def set_visible(devices: Sequence[str], env: MutableMapping[str, str] = os.environ) -> None:
    """Make only ``devices`` visible to every GPU family's runtime in this process (before any
    engine starts): each family's VISIBLE_ENV is set to the comma list."""
    for family in FAMILIES:
        name: str = importlib.import_module(f"wattbench.monitors.{family}").VISIBLE_ENV
        env[name] = ",".join(devices)

"""What the GPU energy sources share: the measured device, the ``--wb-gpus`` setting, and the
facts each GPU family answers for the machine description and for pytest-xdist's workers.

A GPU family is an energy source module (monitors/nvml.py, monitors/amdsmi.py) that also defines
``gpu_facts(library=None) -> GpuFacts | None`` (its device names and driver; None where its
library is missing or its driver does not start) and ``VISIBLE_ENV``, the environment variable
that restricts its runtime to some devices. FAMILIES lists them; records/machine.py and scale/workers.py ask
through ``gpu_facts`` and ``set_visible`` here, never a vendor library or variable themselves.
Each family starts and stops its library through a GpuLibrary, so that every family opens, fails
and shuts down alike.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from wattbench.errors import EnergySourceError
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


@dataclass(frozen=True)
class GpuLibrary:
    """One vendor's GPU library as its energy source starts and stops it.

    ``label`` begins every message ("NVML", "amdsmi"); ``init`` and ``shutdown`` are the library's
    own calls; ``error`` is its exception class and ``describe`` puts one on a line; ``hint`` says
    what to check when the library does not start."""

    label: str
    init: Callable[[], object]
    shutdown: Callable[[], object]
    error: type[BaseException]
    describe: Callable[[BaseException], str]
    hint: str

    def shut_down(self) -> None:
        """Shut the library down; its own error while doing so is ignored (nothing is left to free)."""
        with contextlib.suppress(self.error):
            self.shutdown()

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        """Start the library for a source being opened in the block; it stays started when the
        block succeeds (the source's ``close`` shuts it down). EnergySourceError "cannot start"
        where ``init`` fails; any failure in the block shuts the library down again, the library's
        own error raised as EnergySourceError "cannot read the GPUs"."""
        try:
            self.init()
        except self.error as exc:
            why = self.describe(exc)
            raise EnergySourceError(f"{self.label}: cannot start ({why}); {self.hint}") from None
        try:
            yield
        except self.error as exc:
            self.shut_down()
            raise EnergySourceError(f"{self.label}: cannot read the GPUs: {self.describe(exc)}") from None
        except BaseException:
            self.shut_down()
            raise

    def facts(self, read: Callable[[], GpuFacts | None]) -> GpuFacts | None:
        """``read()`` with the library started, for the machine description, which never fails for
        a GPU library: None where it does not start, names ('unreadable',) where ``read`` raises
        the library's error; shut down again in every case."""
        try:
            self.init()
        except Exception:  # the library or the driver is missing: no GPU of this family here
            return None
        try:
            return read()
        except self.error:
            return GpuFacts(("unreadable",), "")
        finally:
            with contextlib.suppress(Exception):
                self.shutdown()


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

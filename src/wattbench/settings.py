"""The run's settings: parsed once from the command line and pytest.ini into a frozen object.

Each setting has one ``--wb-*`` option and one ``wb_*`` ini key (wattbench.options parses and
checks them); the command line wins. This module is plain data: it imports nothing above it, and
each consumer gets a small options object built from it (``backend_options()``, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wattbench import data
from wattbench.backends import server_url
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
from wattbench.cases.build import CaseOptions
from wattbench.cases.levels import LEVELS
from wattbench.finetune.spec import FinetuneOptions
from wattbench.floors import Floor
from wattbench.monitors.carbon import CarbonOptions
from wattbench.monitors.protocol import SourceOptions
from wattbench.option import pick
from wattbench.run.energy import EnergyOptions
from wattbench.run.rerun import ContendedPolicy
from wattbench.scorers.protocol import ScorerOptions
from wattbench.serving.slo import Slo

if TYPE_CHECKING:  # a type only: settings never import the report at run time
    from wattbench.report.gates import Gate

LOADS: tuple[str, ...] = ("short", "medium", "long")
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved from options and ini keys."""

    backend: str = "llamacpp"
    models: tuple[str, ...] = ("default",)
    model_base: Path | None = None  # where a relative model path is relative to (the backend decides)
    model_dirs: tuple[Path, ...] = ()
    discover: bool = True  # local GGUF models where people keep them (backends/discovery.py)
    tasks: tuple[str, ...] = ("all",)
    task_dir: Path | None = None
    loads: tuple[str, ...] = LOADS
    levels: tuple[str, ...] = LEVELS
    case_files: tuple[Path, ...] = ()
    question_files: tuple[Path, ...] = ()
    humaneval_files: tuple[Path, ...] = ()
    prompt_tables: tuple[Path, ...] = ()
    system_prompts: tuple[str, ...] = ("default",)
    system_prompt_file: Path = field(default_factory=data.system_prompt_file)
    runs: int = 1
    sampling: Sampling = field(default_factory=Sampling)
    context_tokens: int = 4096
    threads: int = 0
    repack: str = "auto"  # llama.cpp's weight repacking: auto (off where the CPU has AMX), on, off
    isolation: str = "process"  # in-process engines in a worker process per model, or "off"
    warmup: bool = True
    run_dir: Path = Path("reports")
    # pytest-xdist (wattbench.scale.workers): the GPU set of each worker, and this worker's id.
    devices: tuple[tuple[str, ...], ...] = ()
    worker: str | None = None  # gw0, gw1, ... in an xdist worker; None in a plain run
    shard: str | None = None  # --wb-shard K/N (wattbench.scale.shard); None: the scheduler's env, if any
    # Energy and resources (wattbench.monitors).
    energy: tuple[str, ...] = ("auto",)
    sample_hz: float = 10.0
    idle_s: float = 10.0
    idle_after: bool = False
    energy_min_window_s: float = 1.0
    timeseries: bool = False
    pue: float | None = None  # --wb-pue: every energy figure x the facility's PUE (monitors/boundary.py)
    grid_gco2e_per_kwh: float | None = None  # --wb-grid-intensity (wattbench.monitors.carbon)
    embodied_gco2e_per_h: float | None = None  # --wb-embodied-carbon (wattbench.monitors.carbon)
    quality_floors: tuple[Floor, ...] = ()
    judge_modes: tuple[str, ...] = ()  # any of single, rubric, pairwise
    judge_model: str = "default"
    judge_backend: str | None = None  # None: the run's backend
    judge_max_tokens: int = 512
    # Reports and gates (wattbench.report).
    report: bool = True
    compare_base: Path | None = None
    compare_gates: tuple[Gate, ...] = ()
    compare_untested: str = "fail"  # or "warn": an untested gate is printed, and the run passes
    contended: ContendedPolicy = field(default_factory=ContendedPolicy)  # --wb-contended
    stream_requests: int = 2  # requests each stream of a load point sends in a row
    slo: Slo = field(default_factory=lambda: Slo({}))  # --wb-slo: goodput's objectives
    finetune: FinetuneOptions = field(default_factory=FinetuneOptions)  # --wb-finetune-* (wattbench.finetune)
    axis_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Axis key -> the values every case runs at, for the axes an option lists (wattbench.axes)."""
    extensions: tuple[object, ...] = ()
    """The options object of each options class the backends', energy sources' and scorers'
    registries name (and BackendOptions' server settings), built from their own option rows
    (wattbench.option.build); a class missing here means its defaults (``option``)."""

    def option(self, cls: type[T]) -> T:
        """The run's object of an extension's options class ``cls``, else its defaults."""
        return pick(self.extensions, cls)

    def with_option(self, options: object) -> Settings:
        """These settings with ``options`` in place of the run's object of its class."""
        kept = tuple(o for o in self.extensions if type(o) is not type(options))
        return dataclasses.replace(self, extensions=(*kept, options))

    def backend_options(self) -> BackendOptions:
        """What the run's backends are built from."""
        return dataclasses.replace(
            self.option(BackendOptions), model_dirs=self.model_dirs, model_base=self.model_base,
            discover=self.discover, own=self.extensions,
        )

    def scorer_options(self) -> ScorerOptions:
        """What the run's scorers are built from."""
        return ScorerOptions(self.extensions)

    def carbon_options(self) -> CarbonOptions:
        """The carbon figures the user asked for (wattbench.monitors.carbon)."""
        return CarbonOptions(self.grid_gco2e_per_kwh, self.embodied_gco2e_per_h)

    def source_options(self) -> SourceOptions:
        """What the run's energy sources are opened with."""
        return SourceOptions(sample_hz=self.sample_hz, own=self.extensions)

    def load_options(self) -> LoadOptions:
        """How the run's models are loaded."""
        return LoadOptions(self.context_tokens, self.threads, self.sampling.seed, self.repack)

    def case_options(self) -> CaseOptions:
        """What the run's case set is built from (wattbench.cases.build)."""
        return CaseOptions(
            models=self.models, discover=self.discover, tasks=self.tasks, task_dir=self.task_dir,
            loads=self.loads, levels=self.levels, case_files=self.case_files,
            question_files=self.question_files, humaneval_files=self.humaneval_files,
            prompt_tables=self.prompt_tables, system_prompts=self.system_prompts,
            system_prompt_file=self.system_prompt_file, sampling=self.sampling, axis_values=self.axis_values,
        )

    def energy_options(self) -> EnergyOptions:
        """What the run's energy monitor is built from (wattbench.run.energy); the backend's
        options answer its server's URL."""
        return EnergyOptions(
            names=self.energy, sources=self.source_options(),
            server_url=server_url(self.backend, self.backend_options()), run_dir=self.run_dir,
            idle_s=self.idle_s, idle_after=self.idle_after, worker=self.worker,
            min_window_s=self.energy_min_window_s, timeseries=self.timeseries, pue=self.pue,
            carbon=self.carbon_options(),
        )

"""The run's settings: parsed once from the command line and pytest.ini into a frozen object.

Each setting has one ``--wb-*`` option and one ``wb_*`` ini key; the command line wins. Values
are checked by the parsers below, whose messages name the value and the accepted forms.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from wattbench.errors import ReportInputError
from wattbench.floors import Floor
from wattbench.levels import LEVELS
from wattbench.monitors import SOURCES
from wattbench.report.gates import Gate, parse_gates

LOADS: tuple[str, ...] = ("short", "medium", "long")

T = TypeVar("T")


@dataclass(frozen=True)
class Sampling:
    """How to sample one completion."""

    max_tokens: int = 200
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 42


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved from options and ini keys."""

    backend: str = "llamacpp"
    models: tuple[str, ...] = ("default",)
    model_dirs: tuple[Path, ...] = ()
    tasks: tuple[str, ...] = ("all",)
    task_dir: Path | None = None
    loads: tuple[str, ...] = LOADS
    levels: tuple[str, ...] = LEVELS
    case_files: tuple[Path, ...] = ()
    question_files: tuple[Path, ...] = ()
    humaneval_files: tuple[Path, ...] = ()
    prompt_tables: tuple[Path, ...] = ()
    system_prompts: tuple[str, ...] = ("default",)
    system_prompt_file: Path = Path("fixtures/system_prompts.json")
    runs: int = 1
    sampling: Sampling = field(default_factory=Sampling)
    context_tokens: int = 4096
    threads: int = 0
    warmup: bool = True
    run_dir: Path = Path("reports")
    # Energy and resources (wattbench.monitors).
    energy: tuple[str, ...] = ("auto",)
    gpus: tuple[str, ...] | None = None  # None: CUDA_VISIBLE_DEVICES, else every GPU
    cpu_tdp_w: float = 65.0
    sample_hz: float = 10.0
    idle_s: float = 10.0
    idle_after: bool = False
    energy_min_window_s: float = 1.0
    timeseries: bool = False
    # Servers (wattbench.backends.openai_compat).
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    env_file: Path = Path(".env")
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    retries: int = 3
    ollama_host: str | None = None  # None: OLLAMA_HOST, else http://127.0.0.1:11434
    ollama_keep_alive: str = "30m"
    ollama_cold: bool = False
    quality_floors: tuple[Floor, ...] = ()
    judge_modes: tuple[str, ...] = ()  # any of single, rubric, pairwise
    judge_model: str = "default"
    judge_backend: str | None = None  # None: the run's backend
    judge_max_tokens: int = 512
    bertscore_model: Path | None = None
    bertscore_layers: int = 17  # roberta-large's layer in bert-score's own table
    # Reports and gates (wattbench.report).
    report: bool = False
    compare_base: Path | None = None
    compare_gates: tuple[Gate, ...] = ()


def gate_spec(value: str) -> tuple[Gate, ...]:
    """'decode_tokens_per_s:-5%,rouge_l:-0.05' -> Gates; a bad one names the part and the form."""
    try:
        return tuple(parse_gates(value))
    except ReportInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def split_list(value: str) -> tuple[str, ...]:
    """'a, b,c' or 'a b' -> ('a', 'b', 'c'); empty items dropped."""
    return tuple(item for item in value.replace(",", " ").split() if item)


def choice_list(allowed: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    """A parser for a comma list whose items must be among ``allowed`` (or 'all')."""

    lowered = {a.lower(): a for a in allowed}

    def parse(value: str) -> tuple[str, ...]:
        items = split_list(value)
        if not items:
            raise argparse.ArgumentTypeError(f"no {what} given; choose from {', '.join(allowed)}")
        if any(item.lower() == "all" for item in items):
            return tuple(allowed)
        out = []
        for item in items:
            if item.lower() not in lowered:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {item!r}; choose from {', '.join(allowed)} or 'all'"
                )
            out.append(lowered[item.lower()])
        return tuple(dict.fromkeys(out))

    return parse


def energy_sources(value: str) -> tuple[str, ...]:
    """'auto', 'off', or a comma list of energy sources."""
    items = tuple(dict.fromkeys(item.lower() for item in split_list(value)))
    if items in (("auto",), ("off",)):
        return items
    bad = [item for item in items if item not in SOURCES]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"unknown energy source {bad[0] if bad else value!r}; choose auto, off, or a list of "
            f"{', '.join(SOURCES)}"
        )
    return items


def judge_modes(value: str) -> tuple[str, ...]:
    """'off' -> (); else a list of single, rubric, pairwise."""
    items = tuple(dict.fromkeys(item.lower() for item in split_list(value)))
    if items in ((), ("off",)):
        return ()
    modes = ("single", "rubric", "pairwise")
    bad = [item for item in items if item not in modes]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown judge mode {bad[0]!r}; choose off, or a list of {', '.join(modes)}"
        )
    return items


def gpu_list(value: str) -> tuple[str, ...]:
    """GPU indices or UUIDs, or ('all',)."""
    items = split_list(value)
    if not items or "all" in [i.lower() for i in items]:
        return ("all",)
    return items


def int_at_least(low: int) -> Callable[[str], int]:
    """A parser for a whole number >= low."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"{value!r} must be {low} or more")
        return number

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """A parser for a float in [low, high]."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value!r} must be between {low} and {high}")
        return number

    return parse


def on_off(value: str) -> bool:
    """'on'/'off' (also true/false, yes/no, 1/0)."""
    lowered = value.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not one of on, off")


def default_run_dir(reports: Path) -> Path:
    """reports/run-YYYYmmdd-HHMMSS for a fresh run."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return reports / f"run-{stamp}"

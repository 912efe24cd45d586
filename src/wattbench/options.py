"""The ``--wb-*`` options and ``wb_*`` ini keys, and their reading into Settings.

Every setting can be given on the command line or in pytest.ini; the command line wins. Bad
values stop the run at start-up with a message naming the value and the accepted forms.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
from pathlib import Path
from typing import Any

import pytest

from wattbench import axes, backends, data, monitors, scorers
from wattbench.axes import Axis
from wattbench.backends.protocol import BackendOptions, Sampling
from wattbench.cases.levels import LEVELS
from wattbench.errors import ReportInputError
from wattbench.finetune.spec import METHODS, finetune_options, rank_list, target_sets
from wattbench.floors import parse_floors
from wattbench.monitors import AUTO, SOURCES
from wattbench.option import (  # the parsers are wattbench.option's; these names are kept for conftests
    Option,
    bounded_float,
    build,
    choice_list,
    non_negative_int,
    on_off,
    options_classes,
    positive_int,
    resolve_path,
    rows,
    split_list,
)
from wattbench.report.gates import Gate, parse_gates
from wattbench.run.rerun import parse_contended
from wattbench.scale.workers import parse_devices
from wattbench.serving.slo import Slo, parse_slo
from wattbench.settings import LOADS, Settings


def gate_spec(value: str) -> tuple[Gate, ...]:
    """'decode_tokens_per_s:-5%,rouge_l:-0.05' -> Gates; a bad one names the part and the form."""
    try:
        return tuple(parse_gates(value))
    except ReportInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def energy_sources(value: str) -> tuple[str, ...]:
    """'auto', 'off', or a comma list of energy sources."""
    items = tuple(dict.fromkeys(item.lower() for item in split_list(value)))
    if items in (("auto",), ("off",)):
        return items
    # A name outside SOURCES may be a conftest's (pytest_wattbench_make_energy_source): it is
    # checked when the sources open, at start-up, once every conftest is loaded.
    bad = [item for item in items if not item.isidentifier() or item in ("auto", "off")]
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


def device_sets(value: str) -> tuple[tuple[str, ...], ...]:
    """'0,1;2,3' -> one GPU set per xdist worker."""
    try:
        return parse_devices(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def slo(value: str) -> Slo:
    """--wb-slo as an Slo; argparse's error names the part at fault."""
    try:
        return parse_slo(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def default_run_dir(reports: Path) -> Path:
    """reports/run-YYYYmmdd-HHMMSS for a fresh run."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return reports / f"run-{stamp}"


# The extensions' options classes: each spells its own rows (wattbench.option.setting).
BACKEND_CLASSES: tuple[type, ...] = (BackendOptions, *options_classes(backends.REGISTRY))
SOURCE_CLASSES = options_classes(monitors.SOURCES)
SCORER_CLASSES = options_classes(scorers.REGISTRY)
BACKEND_ROWS, SOURCE_ROWS, SCORER_ROWS = (
    tuple(row for cls in classes for row in rows(cls))
    for classes in (BACKEND_CLASSES, SOURCE_CLASSES, SCORER_CLASSES)
)

OPTIONS: tuple[Option, ...] = (
    Option("backend", str, "engine or server to run the models on (default: llamacpp)", "llamacpp"),
    Option("model", split_list, "models: 'default' (SmolLM2-135M-Instruct), 'all', a .gguf file, a "
           "directory of them, or a name in --wb-model-dir; comma list, repeatable", "default",
           many=True),
    Option("model-dir", split_list, "directories searched for .gguf files by name and by 'all'",
           many=True),
    Option("discover", on_off, "find the GGUF models of Ollama's store, LM Studio's folder and the "
           "Hugging Face cache, so -k NAME selects them (a plain run still runs only --wb-model): "
           "on/off (default: on)", "on"),
    Option("tasks", split_list, "tasks to run: names of task files in --wb-task-dir, or 'all'", "all"),
    Option("task-dir", str, "folder of task .json files and padding.txt "
           "(default: the built-in tasks inside the package)"),
    Option("loads", choice_list(LOADS, "load"), "input loads: short, medium, long, or all", "all"),
    Option("levels", choice_list(LEVELS, "level"), "prompt levels: L0, L1, L2, L3, P, or all", "all"),
    Option("cases", split_list, "JSON test-case files to run as well (list of {model, prompt, "
           "task_type, ...})", many=True),
    Option("questions", split_list, "MT-Bench-style question files (question_id, category, turns) "
           "to run at every level, later turns with the conversation carried", many=True),
    Option("humaneval", split_list, "HumanEval-shape JSONL files (task_id, prompt, entry_point, "
           "test) to run as code cases at every level, scored by their tests", many=True),
    Option("prompt-table", split_list, "CSV or Excel tables: a row per question, columns L0, L1, "
           "L2, L3, P (and id, task, reference)", many=True),
    Option("system-prompts", split_list, "system prompts to run every case under, side by side: "
           "default (none) and names from --wb-system-prompt-file, e.g. default,engineered "
           "(default: default)", "default"),
    Option("system-prompt-file", str, "JSON object of system prompt name -> text (default: "
           "the built-in one inside the package)"),
    Option("contended", parse_contended, "a run measured while other processes used the machine: keep "
           "it (marked contended; the report prefers clean records), or rerun / rerun:N: measure it again, "
           "up to N times (2), once the machine is quiet (default: keep)", "keep"),
    Option("stream-requests", positive_int, "requests each stream of a load point sends in a row "
           "(--wb-concurrency; default: 2)", "2"),
    Option("slo", slo, "service-level objectives for goodput at load points, e.g. "
           "ttft<=2s,tpot<=100ms (default: none)"),
    Option("runs", positive_int, "generations per case, each with seed + run (default: 1)", "1"),
    Option("max-tokens", positive_int, "completion limit in tokens (default: 200)", "200"),
    Option("temperature", bounded_float(0.0, 2.0), "sampling temperature (default: 0.7)", "0.7"),
    Option("top-p", bounded_float(0.0, 1.0), "nucleus sampling threshold (default: 0.95)", "0.95"),
    Option("seed", non_negative_int, "sampling seed of run 0 (default: 42)", "42"),
    Option("ctx", positive_int, "context window in tokens (default: 4096)", "4096"),
    Option("threads", non_negative_int, "CPU threads for in-process engines; 0: the engine's "
           "default (default: 0)", "0"),
    Option("repack", choice_list(("auto", "on", "off"), "repack setting"), "llama.cpp's weight "
           "repacking into its CPU extra buffer types (use_extra_bufts): auto (off where the CPU "
           "reports AMX, whose path segfaults: llama.cpp#20824), on or off (default: auto)", "auto"),
    Option("isolation", choice_list(("process", "off"), "isolation"), "in-process engines "
           "(llama.cpp) run in a worker process per model, so an engine crash fails that model's "
           "cases, not the run: process or off (default: process)", "process"),
    Option("warmup", on_off, "one unrecorded generation after each model load: on/off "
           "(default: on)", "on"),
    # The names come from the registry (wattbench.monitors), so a new source shows up here.
    Option("energy", energy_sources, f"energy sources: auto (every one of {', '.join(AUTO)} that "
           f"measures here, else the estimate), off, or a list of {', '.join(SOURCES)} (default: auto)",
           "auto"),
    *SOURCE_ROWS,  # --wb-gpus, --wb-cpu-tdp: the energy sources' own (wattbench.monitors)
    Option("sample-hz", bounded_float(0.1, 1000.0), "sampler rate in Hz for power and resource "
           "gauges (default: 10)", "10"),
    Option("idle-time", bounded_float(0.0, 3600.0), "seconds of idle power measured before the "
           "first case; 0: off (default: 10)", "10"),
    Option("idle-after", on_off, "measure idle power again after the last case and report the "
           "drift: on/off (default: off)", "off"),
    Option("energy-min-window", bounded_float(0.0, 600.0), "repeat a generation inside one "
           "energy window until it lasts this many seconds; 0: never (default: 1)", "1"),
    Option("timeseries", on_off, "save every window's samples as CSV under <run-dir>/timeseries: "
           "on/off (default: off)", "off"),
    Option("pue", bounded_float(1.0, 10.0), "multiply every energy figure by this power usage "
           "effectiveness of the facility, e.g. 1.09; energy_boundary says so (default: none)"),
    Option("grid-intensity", bounded_float(0.0, 5000.0), "the grid's carbon intensity in gCO2e/kWh, as "
           "you state it (nothing is looked up): adds carbon_gco2e per case and per token, and "
           "sci.csv to the report (default: none)"),
    Option("embodied-carbon", bounded_float(0.0, 1e6), "the machine's embodied carbon in gCO2e per "
           "hour of its time (its embodied total / its life in hours): adds carbon_embodied_gco2e "
           "and the M of sci.csv (default: none: operational only)"),
    *BACKEND_ROWS,  # server timeouts and retries, then each backend's own (wattbench.backends)
    Option("quality-floor", parse_floors, "floors a case must reach, else it fails after its record "
           "is saved: [task:]metric>=value, comma list, repeatable, e.g. summary:rouge_l>=0.2; the "
           "report names per task the cheapest configuration that reaches its floor",
           many=True),
    Option("judge", judge_modes, "grade the answers with an LLM judge after the last case: off, or "
           "a list of single (MT-Bench 1-10), rubric (4 parts, 0-10), pairwise (default: off)", "off"),
    Option("judge-model", str, "the judge model, as --wb-model takes it (default: default, the "
           "embedded SmolLM2 on llamacpp)", "default"),
    Option("judge-backend", str, "the judge's backend (default: the run's --wb-backend)"),
    Option("judge-max-tokens", positive_int, "room for the judge's explanation (default: 512)", "512"),
    *SCORER_ROWS,  # each scorer's own (wattbench.scorers)
    Option("compare-untested", choice_list(("fail", "warn"), "policy"), "a --wb-compare-fail gate "
           "that too few runs or cases cannot test: fail the run (default) or warn", "fail"),
    Option("report", on_off, "write the report (CSVs, texts, workbook, HTML) into the run folder at the "
           "end of the run: on/off; alone it means on (default: on)", "on", bare="on"),
    Option("compare", str, "a saved baseline (run folder or --benchmark-json file) to compare this "
           "run with at the end; the table goes to the terminal summary"),
    Option("compare-fail", gate_spec, "gates against --wb-compare: METRIC:+N%% or METRIC:-N, comma "
           "list; a significant change beyond one fails the run, e.g. decode_tokens_per_s:-5%%,"
           "energy_per_token_j:+10%%,rouge_l:-0.05"),
    Option("devices", device_sets, "GPU sets for pytest-xdist workers, one per worker: '0,1;2,3' gives "
           "gw0 GPUs 0,1 and gw1 GPUs 2,3 (CUDA_VISIBLE_DEVICES is set in each worker)"),
    Option("shard", str, "run the K-th of N shards of the study, split by model (a model's cases over "
           "several shards when models are fewer than shards): K/N, or off "
           "(default: SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX + WB_SHARD_COUNT when set)"),
    # Fine-tuning cases (wattbench.finetune), selected with -k finetune.
    Option("finetune-model", split_list, "models to fine-tune: .gguf files (dequantized by transformers) or "
           "Hugging Face folders, comma list, repeatable (default: the run's --wb-model files)", many=True),
    Option("finetune-data", split_list, "fine-tuning data: builtin (26 conversations, English and Chinese) "
           "or ShareGPT / chat / Alpaca JSONL files, comma list, repeatable (default: builtin)", many=True),
    Option("finetune-method", choice_list(METHODS, "fine-tuning method"), "lora, qlora (4-bit, a CUDA GPU "
           "and bitsandbytes), or both, each a case (default: lora)", "lora"),
    Option("finetune-rank", rank_list, "LoRA ranks, each a case; alpha is twice the rank (default: 8)", "8"),
    Option("finetune-targets", target_sets, "modules LoRA adapts: sets joined by '+', comma list, each a "
           "case, e.g. q_proj+v_proj,all-linear (default: q_proj+v_proj)", "q_proj+v_proj"),
    Option("finetune-steps", positive_int, "training steps per fine-tuning case (default: 8)", "8"),
    Option("finetune-tokens", positive_int, "a budget in training tokens: training stops at whichever of "
           "it and --wb-finetune-steps comes first (default: none)"),
    Option("finetune-warmup", non_negative_int, "first steps left out of tokens/s, s/step and J per token "
           "(default: 1)", "1"),
    Option("finetune-batch", positive_int, "examples per training step (default: 4)", "4"),
    Option("finetune-lr", bounded_float(1e-8, 1.0), "AdamW's learning rate, constant (default: 2e-4)",
           "2e-4"),
    Option("finetune-seq", positive_int, "tokens an example is cut to (default: 256)", "256"),
    Option("finetune-holdout", non_negative_int, "the data's last N examples, held out of training and "
           "asked at the evaluation (default: 4)", "4"),
    Option("finetune-eval", str, "what judges the adapter: holdout (the held-out examples, chrF), a task "
           "of the run's task set, or off (default: holdout)", "holdout"),
    Option("finetune-reference", str, "a model of the tuned model's quality, as --wb-model names it, run on "
           "the same evaluation: the payback is fine-tuning J / the J per query saved against it"),
    Option("target-loss", bounded_float(0.0, 1000.0), "a training loss (nats per token): fine-tuning "
           "records the energy, time and steps to reach it (default: none)"),
    Option("run-dir", str, "where results.jsonl goes; an existing run directory resumes it "
           "(default: reports/run-<time> beside pytest.ini, else in the current directory)"),
)


def _key(option: Option) -> str:
    """The ini key, which is also the option's argparse dest: wb_<name with _ for ->."""
    return option.key


GROUP = ("wattbench", "wattbench: benchmark generative models")


def axis_option(axis: Axis) -> Option:
    """The option of an axis whose values an option lists (wattbench.axes)."""

    def parse(value: str) -> tuple[str, ...]:
        items = split_list(value)
        if axis.whole:
            return tuple(item if item == axis.default else str(positive_int(item)) for item in items)
        if axis.choices:
            return choice_list(axis.choices, axis.key.replace("_", " "))(value)
        return items

    return Option(axis.option, parse, f"{axis.description}: every case runs at each value of "
                  f"this comma list, side by side (default: {axis.default})", axis.default)


def add_options(parser: pytest.Parser) -> None:
    """Register every option in one group and every ini key."""
    for option in (*OPTIONS, *(axis_option(axis) for axis in axes.optional())):
        _add(parser, option)


def add_axis(parser: pytest.Parser, axis: Axis) -> None:
    """A new axis of the case matrix, from a conftest's ``pytest_addoption``: registered in
    wattbench.axes, with its option ``--wb-<axis.option>`` and ini key. Raises ValueError as
    wattbench.axes.register does."""
    axes.register(axis)
    if parser.getgroup(*GROUP).options and any(
        _key(axis_option(axis)) == o.dest for o in parser.getgroup(*GROUP).options
    ):
        return  # wattbench's own add_options registered it already (pytester, in one process)
    _add(parser, axis_option(axis))


def _add(parser: pytest.Parser, option: Option) -> None:
    flags = [f"--wb-{option.name}"]
    if option.name == "model":
        flags.append("--wb-models")
    bare = {} if option.bare is None else {"nargs": "?", "const": option.parse(option.bare)}
    parser.getgroup(*GROUP).addoption(
        *flags,
        dest=_key(option),
        action="append" if option.many else "store",
        default=None,
        type=option.parse,
        help=option.help,
        **bare,
    )
    parser.addini(_key(option), option.help, default=None)


def _value(config: pytest.Config, option: Option) -> tuple[Any, bool]:
    """(value, given on the command line): the command line, else the option's environment
    variable (it describes this machine), else the ini key, else the default."""
    given = config.getoption(_key(option))
    if given is not None:
        if option.many:
            return tuple(item for chunk in given for item in chunk), True
        return given, True
    env = os.environ.get(option.env) if option.env else None
    if env:
        try:
            return option.parse(env), False
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"environment variable {option.env} = {env!r}: {exc}") from None
    raw = config.getini(_key(option))
    if raw is None or raw == "" or raw == []:
        raw = option.default
        if raw is None:
            return None, False
    text = " ".join(raw) if isinstance(raw, list) else str(raw)
    try:
        return option.parse(text), False
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini key {_key(option)} = {text!r}: {exc}") from None


_path = resolve_path


def read_settings(config: pytest.Config) -> Settings:
    """Settings from the command line and ini.

    Relative paths given on the command line are relative to the current directory; those in
    the ini file are relative to the ini file's directory. With no ini file, the defaults that
    are paths (reports/, .env) are in the current directory too: pytest's rootdir is then the
    common ancestor of every path argument, --wb-model's file included, so it could be ``/``.
    """
    cwd = Path(config.invocation_params.dir)
    ini_base = Path(config.inipath).parent if config.inipath else cwd
    values: dict[str, Any] = {}
    bases: dict[str, Path] = {}
    for option in OPTIONS:
        values[option.name], from_cli = _value(config, option)
        bases[option.name] = cwd if from_cli else ini_base

    def paths(name: str) -> tuple[Path, ...]:
        return tuple(_path(v, bases[name]) for v in values[name] or ())

    task_dir, run_dir = values["task-dir"], values["run-dir"]
    return Settings(
        backend=values["backend"],
        models=tuple(values["model"] or ("default",)),
        model_base=bases["model"],
        model_dirs=paths("model-dir"),
        discover=values["discover"],
        tasks=values["tasks"],
        task_dir=_path(task_dir, bases["task-dir"]) if task_dir else data.task_dir(),
        loads=values["loads"],
        levels=values["levels"],
        case_files=paths("cases"),
        question_files=paths("questions"),
        humaneval_files=paths("humaneval"),
        prompt_tables=paths("prompt-table"),
        system_prompts=values["system-prompts"],
        system_prompt_file=(
            _path(values["system-prompt-file"], bases["system-prompt-file"])
            if values["system-prompt-file"] else data.system_prompt_file()
        ),
        runs=values["runs"],
        sampling=Sampling(
            max_tokens=values["max-tokens"],
            temperature=values["temperature"],
            top_p=values["top-p"],
            seed=values["seed"],
        ),
        context_tokens=values["ctx"],
        threads=values["threads"],
        repack=_one(values["repack"], "repack"),
        isolation=_one(values["isolation"], "isolation"),
        warmup=values["warmup"],
        run_dir=_path(run_dir, bases["run-dir"]) if run_dir else default_run_dir(ini_base / "reports"),
        devices=values["devices"] or (),
        shard=values["shard"],
        energy=values["energy"],
        sample_hz=values["sample-hz"],
        idle_s=values["idle-time"],
        idle_after=values["idle-after"],
        energy_min_window_s=values["energy-min-window"],
        timeseries=values["timeseries"],
        pue=values["pue"],
        grid_gco2e_per_kwh=values["grid-intensity"],
        embodied_gco2e_per_h=values["embodied-carbon"],
        quality_floors=tuple(values["quality-floor"] or ()),
        judge_modes=values["judge"],
        judge_model=values["judge-model"],
        judge_backend=values["judge-backend"],
        judge_max_tokens=values["judge-max-tokens"],
        compare_untested=values["compare-untested"][0],
        report=values["report"],
        compare_base=_compare_base(values["compare"], bases["compare"], values["compare-fail"]),
        compare_gates=values["compare-fail"] or (),
        stream_requests=values["stream-requests"],
        contended=values["contended"],
        slo=values["slo"] or Slo({}),
        finetune=finetune_options(values, bases),
        axis_values={
            axis.key: tuple(dict.fromkeys(_value(config, axis_option(axis))[0] or (str(axis.default),)))
            for axis in axes.optional()
        },
        extensions=tuple(
            build(cls, values, bases) for cls in (*BACKEND_CLASSES, *SOURCE_CLASSES, *SCORER_CLASSES)
        ),
    )


def _one(chosen: tuple[str, ...], name: str) -> str:
    """The single value of a one-choice option (choice_list parses lists)."""
    if len(chosen) != 1:
        raise pytest.UsageError(f"--wb-{name} takes one value, not {', '.join(chosen)}")
    return chosen[0]


def _compare_base(spec: str | None, base: Path, gates: Any) -> Path | None:
    """--wb-compare as a path that exists; gates without a baseline are a usage error."""
    if spec is None:
        if gates:
            raise pytest.UsageError("--wb-compare-fail needs --wb-compare BASE, the baseline run")
        return None
    path = _path(spec, base)
    if not path.exists():
        raise pytest.UsageError(f"--wb-compare {spec}: no such run folder or benchmark JSON file ({path})")
    return path

"""A shard's manifest: ``manifest.json`` beside its records, saying what the shard was to run.

    {
      "format": "wattbench-manifest", "format_version": 2,
      "shard": "2/4" | null,            K/N, null for an unsharded run
      "shard_source": "--wb-shard",     or SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX
      "plan": [["model", ["case id", ...]], ...],   the WHOLE run's models and cases, in order
      "models": ["model", ...],         the models this shard loads (a part of the plan)
      "cases": ["case id", ...],        the cases this shard owns, in run order (version 2; a
                                        version 1 manifest owns every case of its models)
      "runs_count": 3,                  --wb-runs: runs per case
      "host": "node17",                 the host name (platform.node())
      "machine": {"machine_cpu": ..., ...},   wattbench.records.machine.HARDWARE keys
      "backend": "llamacpp",
      "wattbench_version": "0.1.0",
      "started": ISO 8601 UTC, "finished": ISO 8601 UTC | null,
      "energy": {...} | null            baseline.json's content (sources, idle baselines), at the end
    }

The manifest is written when the shard starts, before any model loads, so a shard that dies
still says which cases it owed; it is written again when the shard ends, with its energy
set-up and baselines. Every shard carries the whole plan, so ``wattbench merge`` can name the
missing cases of a shard whose folder never arrived (wattbench.scale.shard computes any shard's cases
from the plan). A model's cases may be spread over several shards (fewer models than shards),
so a shard's cases are listed, not only its models.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wattbench import __version__
from wattbench.errors import ConfigError, ReportInputError
from wattbench.scale.shard import ShardSpec, parse_shard

MANIFEST_FILE = "manifest.json"
FORMAT = "wattbench-manifest"
FORMAT_VERSION = 2
READS = (1, 2)  # version 1: no "cases" field; a shard owned every case of its models

Plan = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Manifest:
    """What one shard was to run and where it ran; see the module docstring for the file."""

    shard: ShardSpec | None
    plan: Plan
    models: tuple[str, ...]
    runs_count: int
    host: str
    machine: Mapping[str, Any] = field(default_factory=dict)
    backend: str = ""
    wattbench_version: str = __version__
    started: str = ""
    finished: str | None = None
    energy: Mapping[str, Any] | None = None
    owned: tuple[str, ...] | None = None  # the shard's case ids; None: every case of its models

    @property
    def cases(self) -> list[str]:
        """This shard's case ids, in run order."""
        if self.owned is not None:
            return list(self.owned)
        mine = set(self.models)
        return [case for model, cases in self.plan if model in mine for case in cases]

    @property
    def planned(self) -> list[str]:
        """Every case id of the whole run, in run order."""
        return [case for _, cases in self.plan for case in cases]

    @property
    def groups(self) -> list[tuple[str, int]]:
        """(model, case count) of the whole run: what wattbench.scale.shard.split balances."""
        return [(model, len(cases)) for model, cases in self.plan]

    def as_json(self) -> dict[str, Any]:
        """The manifest as the JSON object written to manifest.json."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "shard": None if self.shard is None else str(self.shard),
            "shard_source": None if self.shard is None else self.shard.source,
            "plan": [[model, list(cases)] for model, cases in self.plan],
            "models": list(self.models),
            "cases": self.cases,
            "runs_count": self.runs_count,
            "host": self.host,
            "machine": dict(self.machine),
            "backend": self.backend,
            "wattbench_version": self.wattbench_version,
            "started": self.started,
            "finished": self.finished,
            "energy": None if self.energy is None else dict(self.energy),
        }


def plan_of(models: Sequence[str], cases: Iterable[tuple[str, str]]) -> Plan:
    """The run's plan from its models (--wb-model order) and its (model, case id) pairs; a model
    only a case file names comes after them, in the order its first case appears."""
    grouped: dict[str, list[str]] = {model: [] for model in models}
    for model, case_id in cases:
        grouped.setdefault(model, []).append(case_id)
    return tuple((model, tuple(ids)) for model, ids in grouped.items())


def new_manifest(
    shard: ShardSpec | None, plan: Plan, runs_count: int, backend: str, machine: Mapping[str, Any],
    started: str, models: Sequence[str] | None = None, cases: Sequence[str] | None = None,
) -> Manifest:
    """The manifest a shard writes as it starts; ``models`` defaults to every model of the plan
    (an unsharded run), ``cases`` to every case of ``models``. ``started`` is an ISO 8601 UTC
    time (wattbench.records.record.now_utc)."""
    mine = tuple(models) if models is not None else tuple(model for model, _ in plan)
    if cases is None:
        loaded = set(mine)
        cases = [case for model, ids in plan if model in loaded for case in ids]
    return Manifest(shard, plan, mine, runs_count, platform.node(), dict(machine), backend,
                    started=started, owned=tuple(cases))


def finished(manifest: Manifest, energy: Mapping[str, Any], at: str) -> Manifest:
    """The manifest as the shard ends: its energy set-up and baselines (baseline.json's content)."""
    return replace(manifest, energy=dict(energy), finished=at)


def write_manifest(run_dir: Path, manifest: Manifest, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``run_dir/manifest.json`` atomically (a reader never sees half a file); its path.

    ``extra`` adds fields after the manifest's own (a merge's findings); readers ignore them.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / MANIFEST_FILE
    part = path.with_name(f".{MANIFEST_FILE}.{os.getpid()}.part")
    data = {**manifest.as_json(), **(extra or {})}
    part.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(part, path)
    return path


def _expect(path: Path, name: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReportInputError(f"{path}: field {name!r} is {value!r}; it must be {what}")
    return value


def _names(path: Path, name: str, value: Any) -> tuple[str, ...]:
    items = _expect(path, name, value, list, "a list of strings")
    for item in items:
        _expect(path, name, item, str, "a list of strings")
    return tuple(items)


def manifest_from_json(data: Any, path: Path) -> Manifest:
    """A Manifest from manifest.json's object; ReportInputError names the file, field and value."""
    data = _expect(path, "(the file)", data, dict, f"a JSON object ({FORMAT})")
    if data.get("format") != FORMAT:
        raise ReportInputError(
            f"{path}: field 'format' is {data.get('format')!r}; it must be {FORMAT!r} (a shard's "
            "manifest.json, written by pytest --wb-shard)"
        )
    version = data.get("format_version")
    if version not in READS or isinstance(version, bool):
        raise ReportInputError(
            f"{path}: field 'format_version' is {version!r}; this wattbench reads versions "
            f"{', '.join(map(str, READS))}: merge with the wattbench version that wrote it"
        )
    shard: ShardSpec | None = None
    if data.get("shard") is not None:
        text = _expect(path, "shard", data["shard"], str, "K/N or null")
        source = str(data.get("shard_source") or "--wb-shard")
        try:
            shard = parse_shard(text, source)
        except ValueError as exc:
            raise ReportInputError(f"{path}: field 'shard': {exc}") from None
    plan: list[tuple[str, tuple[str, ...]]] = []
    for entry in _expect(path, "plan", data.get("plan"), list, "a list of [model, [case id, ...]]"):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise ReportInputError(f"{path}: field 'plan' holds {entry!r}; each entry must be "
                                   "[model, [case id, ...]]")
        plan.append((entry[0], _names(path, f"plan[{entry[0]}]", entry[1])))
    models = _names(path, "models", data.get("models"))
    unknown = sorted(set(models) - {model for model, _ in plan})
    if unknown:
        raise ReportInputError(f"{path}: field 'models' names {unknown}, which the plan does not hold")
    owned: tuple[str, ...] | None = None
    if version >= 2:
        owned = _names(path, "cases", data.get("cases"))
        planned = {case: model for model, cases in plan for case in cases}
        strays = [case for case in owned if case not in planned]
        if strays:
            raise ReportInputError(f"{path}: field 'cases' names {strays[:5]}, which the plan does not "
                                   "hold; the manifest was edited or is of another run")
        unloaded = sorted({planned[case] for case in owned} - set(models))
        if unloaded:
            raise ReportInputError(f"{path}: field 'cases' holds cases of {unloaded}, which field "
                                   "'models' does not name; a shard loads the model of every case it owns")
    runs = _expect(path, "runs_count", data.get("runs_count"), int, "a whole number of runs >= 1")
    if runs < 1:
        raise ReportInputError(f"{path}: field 'runs_count' is {runs}; it must be >= 1")
    energy = data.get("energy")
    if energy is not None:
        _expect(path, "energy", energy, dict, "an object (baseline.json's content) or null")
    finished_at = data.get("finished")
    if finished_at is not None:
        _expect(path, "finished", finished_at, str, "an ISO 8601 time or null")
    return Manifest(
        shard=shard,
        plan=tuple(plan),
        models=models,
        runs_count=runs,
        host=_expect(path, "host", data.get("host"), str, "the host name"),
        machine=_expect(path, "machine", data.get("machine", {}), dict, "an object of machine_* keys"),
        backend=str(data.get("backend") or ""),
        wattbench_version=str(data.get("wattbench_version") or ""),
        started=str(data.get("started") or ""),
        finished=finished_at,
        energy=energy,
        owned=owned,
    )


def _k_of_n(spec: ShardSpec | None) -> tuple[int, int] | None:
    return None if spec is None else (spec.index, spec.count)


def resumed_shard(spec: ShardSpec | None, run_dir: Path) -> ShardSpec | None:
    """The shard a run into ``run_dir`` is, given the manifest an earlier attempt left there.

    A Slurm array task resubmitted alone (``sbatch --array=3`` after ``--array=1-4``) runs in an
    array of one task, so its environment says shard 1/1; the folder's manifest says which
    shard it was, and it resumes that one. Any other disagreement (another --wb-shard or array
    size, an unsharded run into a shard's folder) raises ConfigError naming both and the fix, as
    a folder holds one shard. A folder without a manifest leaves ``spec`` as it is.
    """
    if not (run_dir / MANIFEST_FILE).is_file():
        return spec
    before = read_manifest(run_dir).shard
    if _k_of_n(before) == _k_of_n(spec):
        return spec
    if before is not None and spec is not None and spec.source == "SLURM_ARRAY_TASK_ID" and spec.count == 1:
        return before
    this = f"shard {spec} ({spec.source})" if spec else "not sharded"
    held = f"shard {before}" if before else "an unsharded run"
    fix = f"give --wb-shard {before}" if before else "give --wb-shard off"
    raise ConfigError(
        f"the run folder {run_dir} holds {held} (its {MANIFEST_FILE}), and this run is {this}: a folder "
        f"holds one shard. To resume it, {fix} (resubmit a failed Slurm task alone: sbatch "
        "--array=ID); else give this run its own --wb-run-dir"
    )


def read_manifest(run_dir: Path) -> Manifest:
    """The manifest of the shard in ``run_dir``; ReportInputError names the file and the fix."""
    path = run_dir / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReportInputError(
            f"{run_dir}: holds no {MANIFEST_FILE}; give the run folders that pytest --wb-shard K/N "
            "wrote (each shard writes its manifest as it starts)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ReportInputError(f"{path}: not JSON ({exc.msg} at {where})") from None
    return manifest_from_json(data, path)

"""What a run folder holds besides its records, merged by ``wattbench merge`` (wattbench.scale.merge).

The merged folder gets, beside results.jsonl, judgements.jsonl and timeseries/::

    shards/<part>/manifest.json   each input folder's own manifest, baseline.json and judge.json,
    shards/<part>/baseline.json   copied as they are (a merged input's own shards/ go beneath
    shards/<part>/judge.json      its part), so nothing a shard measured is lost
    judge.json                    the shards' judge phases summed: per mode, per host, in all
    ratings.sqlite                every shard's raters and human ratings (wattbench.rating.store)

Idle baselines stay per host and per shard (:func:`idle_baselines`, in the merged manifest's
``hosts``): a baseline is one machine's idle power (W), and averaging it across machines would
describe none of them, as summing joules per host (never averaging power) does for energy.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.errors import ReportInputError
from wattbench.records.rundir import BASELINE_FILE, JUDGE_SUMMARY_FILE
from wattbench.scale.manifest import MANIFEST_FILE

SHARDS_DIR = "shards"
COPIED = (MANIFEST_FILE, BASELINE_FILE, JUDGE_SUMMARY_FILE)
COUNTS = ("judged", "parse_failures", "errors", "weighted")  # judge.json's per-mode counts, summed
IDLE_KEYS = ("energy_source", "energy_boundary", "idle_before", "idle_after", "idle_drift_pct", "idle_errors")
PAIRS_APART = ("pairwise pairs are formed within each shard: answers of models that ran on different "
               "shards were never compared")


@dataclass(frozen=True)
class Side:
    """One input folder's files besides its records: read and checked before anything is written."""

    path: Path
    label: str  # '2/4', or the folder for an unsharded run
    part: str  # its folder under shards/ (wattbench.scale.merge.Shard.part)
    host: str  # the manifest's host ('a+b' for a merged folder)
    judge: dict[str, Any] | None  # judge.json, when the judge phase ran


def _json(path: Path) -> dict[str, Any] | None:
    """A JSON object file; None when absent. ReportInputError names the file when it is not one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno}); restore it from the shard's host, or "
            "move it out of the folder to merge without it"
        ) from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: holds {type(data).__name__}, not a JSON object")
    return data


def read_side(path: Path, label: str, part: str, host: str) -> Side:
    """The side files of the input folder ``path``; ReportInputError for one that is not JSON."""
    return Side(path, label, part, host, _json(path / JUDGE_SUMMARY_FILE))


def copy_sides(sides: Sequence[Side], out: Path) -> None:
    """Each input's manifest, baseline.json, judge.json and shards/ into ``out/shards/<part>/``."""
    for side in sides:
        target = out / SHARDS_DIR / side.part
        target.mkdir(parents=True, exist_ok=True)
        for name in COPIED:
            if (side.path / name).is_file():
                shutil.copy2(side.path / name, target / name)
        nested = side.path / SHARDS_DIR
        if nested.is_dir():
            shutil.copytree(nested, target / SHARDS_DIR)


def _folders(path: Path, label: str, host: str) -> Iterator[tuple[Path, str, str]]:
    """(folder, shard label, host) of an input and, for a merged input, of each shard beneath it."""
    yield path, label, host
    nested = path / SHARDS_DIR
    for sub in sorted(p for p in nested.iterdir() if p.is_dir()) if nested.is_dir() else ():
        manifest = _json(sub / MANIFEST_FILE) or {}
        yield from _folders(sub, str(manifest.get("shard") or sub.name), str(manifest.get("host") or "?"))


def idle_baselines(sides: Sequence[Side]) -> dict[str, dict[str, dict[str, Any]]]:
    """host -> shard label -> that shard's energy set-up and idle power before and after (W),
    from its baseline.json; a shard that never measured idle is not listed."""
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for side in sides:
        for folder, label, host in _folders(side.path, side.label, side.host):
            baseline = _json(folder / BASELINE_FILE)
            if baseline is not None:
                found[host][label] = {key: baseline.get(key) for key in IDLE_KEYS}
    return dict(found)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _per_host(side: Side, judge: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """host -> that host's judge time and energy in ``judge`` (a merged input keeps its own)."""
    hosts = judge.get("hosts")
    if isinstance(hosts, dict):
        return {str(h): dict(v) for h, v in hosts.items() if isinstance(v, dict)}
    modes = [m for m in (judge.get("modes") or {}).values() if isinstance(m, dict)]
    return {side.host: {"shards": [side.label], "judged": sum(int(m.get("judged") or 0) for m in modes),
                        "judge_latency_s": judge.get("judge_latency_s"),
                        "judge_energy_j": judge.get("judge_energy_j")}}


def _sum_or_null(values: Sequence[Any]) -> float | None:
    """The sum when every value is a number; None (unknown) when any is not: a partial sum would
    under-count."""
    return float(sum(values)) if values and all(_number(v) for v in values) else None


def merge_judge(sides: Sequence[Side]) -> dict[str, Any] | None:
    """The merged judge.json of the shards that ran a judge phase; None when none did.

    Counts add per mode (the parse-failure rate is recomputed from them); judge seconds and
    joules add, per host and in all; joules are null when any shard's are. A shard whose phase
    could not run is listed under ``errors_by_shard``.
    """
    judged = [(side, side.judge) for side in sides if side.judge is not None]
    if not judged:
        return None
    modes: dict[str, dict[str, Any]] = {}
    formats: dict[str, set[str]] = defaultdict(set)
    hosts: dict[str, dict[str, Any]] = {}
    models: set[str] = set()
    latencies: list[Any] = []
    energies: list[Any] = []
    unmeasured: list[int] = []
    errors: dict[str, str] = {}
    notes: set[str] = set()
    for side, judge in judged:
        if "error" in judge and "modes" not in judge:
            errors[side.label] = str(judge["error"])
            continue
        errors.update({str(k): str(v) for k, v in (judge.get("errors_by_shard") or {}).items()})
        if judge.get("judge_model"):
            models.add(str(judge["judge_model"]))
        models.update(str(m) for m in judge.get("judge_models") or ())
        for mode, figures in (judge.get("modes") or {}).items():
            into = modes.setdefault(mode, dict.fromkeys(COUNTS, 0))
            for key in COUNTS:
                into[key] += int(figures.get(key) or 0)
            formats[mode].update(figures.get("output_formats") or ())
        latencies.append(judge.get("judge_latency_s"))
        energies.append(judge.get("judge_energy_j"))
        if _number(judge.get("judge_energy_unmeasured_count")):
            unmeasured.append(int(judge["judge_energy_unmeasured_count"]))
        for key in ("pairwise_note", "pairwise_shards_note"):
            if judge.get(key):
                notes.add(str(judge[key]))
        for host, figures in _per_host(side, judge).items():
            into = hosts.setdefault(host, {"shards": [], "judged": 0, "latencies": [], "energies": []})
            into["shards"] += figures.get("shards") or []
            into["judged"] += int(figures.get("judged") or 0)
            into["latencies"].append(figures.get("judge_latency_s"))
            into["energies"].append(figures.get("judge_energy_j"))
    for mode, into in modes.items():
        into["parse_failure_rate"] = into["parse_failures"] / into["judged"] if into["judged"] else None
        into["output_formats"] = sorted(formats[mode])
    out: dict[str, Any] = {
        "judge_model": next(iter(models)) if len(models) == 1 else None,
        "judge_models": sorted(models),
        "modes": modes,
        "judge_latency_s": _sum_or_null(latencies),
        "judge_energy_j": _sum_or_null(energies),
        "judge_energy_unmeasured_count": sum(unmeasured) if unmeasured else None,
        "hosts": {
            host: {"shards": h["shards"], "judged": h["judged"],
                   "judge_latency_s": _sum_or_null(h["latencies"]),
                   "judge_energy_j": _sum_or_null(h["energies"])}
            for host, h in sorted(hosts.items())
        },
        "shards": [side.label for side, _ in judged],
    }
    if "pairwise" in modes and len(sides) > 1:
        notes.add(PAIRS_APART)
    if notes:
        out["notes"] = sorted(notes)
    if errors:
        out["errors_by_shard"] = errors
    return out


def write_judge(summary: dict[str, Any], out: Path) -> None:
    """The merged judge.json in ``out``."""
    (out / JUDGE_SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

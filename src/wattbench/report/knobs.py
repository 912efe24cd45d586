"""The knob question: per model and task, which reasoning state and which GPU power cap or clock
point give the best quality per joule at the quality the reader needs, and their Pareto fronts.

The knobs are the axes a user turns to trade energy for quality: ``reasoning`` (--wb-reasoning),
``gpu_power_limit`` and ``gpu_clocks`` (--wb-gpu-power-limit, --wb-gpu-clocks). Their points are
the study's configurations (``Study.configs``: a system at a level, system prompt and knob
values, averaged over the task's loads), so the answer names the level too.

- *At the floor* (--wb-quality-floor, per task on its own scale): the candidates are the
  configurations whose quality's lower 95% CI bound reaches it, from PROVISIONAL_RUNS or more
  clean runs per case (the rule of ``findings.cheapest_at``); among them the best quality per
  joule (mean quality / mean J per case) wins. Without a floor for the task, every configuration
  with both figures is a candidate, and the answer says no floor was given.
- Joules are compared within one energy boundary (monitors/boundary.py).
- A cap that never fired (``sw_power_cap`` in none of its samples) is said to have measured the
  same GPU as the uncapped point: its difference is noise, not the cap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from wattbench import axes
from wattbench.report import interval, svg
from wattbench.report.findings import Finding
from wattbench.report.pareto import pareto_front
from wattbench.report.rating import PROVISIONAL_RUNS
from wattbench.report.study import Study, by_boundary

KNOBS = ("reasoning", "gpu_power_limit", "gpu_clocks")
NAMES = {"reasoning": "reasoning", "gpu_power_limit": "power cap", "gpu_clocks": "SM clock"}
UNITS = {"gpu_power_limit": " W", "gpu_clocks": " MHz"}


@dataclass(frozen=True)
class KnobPoint:
    """One configuration of a (system, task): its knob values, figures and throttle state."""

    row: dict[str, Any]  # its Study.configs row
    values: Mapping[str, str]  # knob axis -> its value here
    cap_fired: bool | None  # at a capped point: sw_power_cap active in any sample; None: not known

    @property
    def quality_per_j(self) -> float | None:
        """Mean quality (the task's own scale) per joule of one case."""
        q, energy = self.row.get("quality"), self.row.get("energy_j")
        return q / energy if q is not None and energy else None


def varied(study: Study) -> tuple[str, ...]:
    """The knob axes some group of the study has at a value other than the default."""
    found = axes.by_key()
    return tuple(k for k in KNOBS if k in found
                 and any(str(g.get(k, found[k].default)) != found[k].default for g in study.groups))


def describe(values: Mapping[str, str], knobs: tuple[str, ...]) -> str:
    """A point in words: 'reasoning high, power cap 300 W, SM clock unlocked'."""
    parts = []
    for key in knobs:
        value = values.get(key, "")
        if key == "gpu_power_limit" and value == "none":
            parts.append("uncapped")
        elif key == "gpu_clocks" and value == "none":
            parts.append("clocks unlocked")
        else:
            parts.append(f"{NAMES[key]} {value}{UNITS.get(key, '')}")
    return ", ".join(parts)


def tag(values: Mapping[str, str], knobs: tuple[str, ...]) -> str:
    """A point in a chart's few characters, as its id spells it: 'rhigh pl300'; 'defaults'."""
    by = axes.by_key()
    parts = [f"{by[k].prefix}{values[k]}" for k in knobs if values.get(k, by[k].default) != by[k].default]
    return " ".join(parts) or "defaults"


def points(study: Study) -> dict[tuple[str, str], list[KnobPoint]]:
    """(system, task) -> its configurations with their knob values, where a knob varies."""
    knobs = varied(study)
    if not knobs:
        return {}
    by = axes.by_key()
    values: dict[tuple[str, str, str], dict[str, str]] = {}
    fired: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
    for g in study.groups:
        key = (g["system"], g["config"], g["task"])
        values.setdefault(key, {k: str(g.get(k, by[k].default)) for k in knobs})
        active = g.get("gpu_power_cap_active_count_mean")
        if active is not None and g.get("gpu_clock_event_samples_count_mean"):
            fired[key].append(active > 0)
    out: dict[tuple[str, str], list[KnobPoint]] = defaultdict(list)
    for row in study.configs:
        key = (row["system"], row["config"], row["task"])
        if key not in values:
            continue
        capped = values[key].get("gpu_power_limit", "none") != "none"
        seen = fired.get(key)
        out[row["system"], row["task"]].append(
            KnobPoint(row, values[key], (any(seen) if seen else None) if capped else None)
        )
    return dict(out)


def front(part: list[KnobPoint]) -> set[int]:
    """Indices of ``part`` on the Pareto front of quality against J per case."""
    return set(pareto_front([
        (p.row["quality"], p.row["energy_j"], i) for i, p in enumerate(part)
        if p.row.get("quality") is not None and p.row.get("energy_j") is not None
    ]))


def best_at(part: list[KnobPoint], floor: float | None) -> KnobPoint | None:
    """The best quality per joule among ``part`` at ``floor`` (see the module doc); None where
    none reaches it."""
    if floor is None:
        reaching = [p for p in part if p.quality_per_j is not None and not p.row.get("contended_only")]
        reaching = reaching or [p for p in part if p.quality_per_j is not None]
    else:
        reaching = [
            p for p in part
            if p.quality_per_j is not None and p.row.get("quality_ci_low") is not None
            and p.row["quality_ci_low"] >= floor and p.row.get("runs_min", 0) >= PROVISIONAL_RUNS
            and not p.row.get("contended_only")
        ]
    return max(reaching, key=lambda p: (p.quality_per_j or 0.0, -(p.row.get("latency_s") or 0.0)),
               default=None)


def _within(found: list[KnobPoint]) -> list[tuple[str, list[KnobPoint]]]:
    parts = by_boundary([p.row for p in found])
    if len(parts) <= 1:
        return [("", found)]
    return [(f"[{b or 'no energy'}] ", [p for p in found if (p.row.get("energy_boundary") or "") == b])
            for b in sorted(parts)]


def knob_finding(study: Study, floors: Mapping[str, float]) -> Finding | None:
    """Per model and task: the knob point with the best quality per joule at the reader's floor,
    the Pareto front, and the caps that never fired; None where no knob varies."""
    knobs = varied(study)
    found = points(study)
    if not found:
        return None
    answers = []
    for (system, task), every in sorted(found.items()):
        metric = study.metrics.get(task, "quality")
        floor = floors.get(task)
        for within, part in _within(every):
            best = best_at(part, floor)
            at = (f"at {metric} >= {floor:g}" if floor is not None
                  else f"with no floor given (--wb-quality-floor {task}:{metric}>=X)")
            if best is None and floor is None:
                answers.append(f"{system} on {task}: {within}no point has both a quality score and joules "
                               "(energy off?), so none is named.")
                continue
            if best is None:
                answers.append(
                    f"{system} on {task}: {within}no point's {metric} reaches {floor:g} with 95% confidence "
                    f"(its lower CI bound, from {PROVISIONAL_RUNS} or more clean runs per case)."
                )
                continue
            ranked = sorted(front(part), key=lambda i: part[i].row["energy_j"])
            row = best.row
            low = row.get("quality_ci_low")
            answers.append(
                f"{system} on {task}: {within}{describe(best.values, knobs)} ({row['config']}) has the best "
                f"quality per joule {at}: {best.quality_per_j:.4g} per J ({metric} {row['quality']:.3g}"
                + ("" if low is None else f", lower 95% bound {low:.3g}")
                + f", {row['energy_j']:.3g} J per case); Pareto front of quality against energy: "
                + ", ".join(part[i].row["config"] for i in ranked)
                + "."
            )
        quiet = sorted({p.values["gpu_power_limit"] for p in every if p.cap_fired is False}, key=float)
        if quiet:
            caps = ", ".join(f"{w} W" for w in quiet)
            answers.append(
                f"{system} on {task}: the {caps} cap{'s' if len(quiet) > 1 else ''} never fired "
                "(sw_power_cap active in none of its windows' samples): such a point measured the same GPU "
                "as the uncapped one, and differs from it only by noise."
            )
    return Finding("Which reasoning state and GPU setting give the best quality per joule at the quality I "
                   "need?", answers)


def knob_section(study: Study, floors: Mapping[str, float]) -> str:
    """The page's section: per model and task, a table of the knob points and their Pareto chart."""
    knobs = varied(study)
    found = points(study)
    if not found:
        return ""
    parts = [
        "<p>Each point is a configuration of the knobs (--wb-reasoning, --wb-gpu-power-limit, "
        "--wb-gpu-clocks), averaged over the task's loads. ★ marks the best quality per joule at your "
        "floor (--wb-quality-floor; without one, over every point); ◆ the Pareto front of quality against "
        "J per case. A cap that never fired (sw_power_cap in no sample of its windows) measured the same "
        "GPU as the uncapped point.</p>"
    ]
    gpu = tuple(k for k in knobs if k != "reasoning")
    for (system, task), every in sorted(found.items()):
        floor = floors.get(task)
        for within, part in _within(every):
            best = best_at(part, floor)
            on_front = {id(part[i]) for i in front(part)}
            rows = []
            for p in sorted(part, key=lambda p: p.row["energy_j"] or 0.0):
                row = p.row
                fired = {True: "yes", False: "never: as uncapped", None: ""}[p.cap_fired]
                marks = ("★" if p is best else "") + ("◆" if id(p) in on_front else "")
                rows.append(
                    f"<tr><td>{escape(describe(p.values, knobs))}</td><td>{escape(row['config'])}</td>"
                    f"<td>{_ci(row)}</td><td>{_n(row.get('energy_j'))}</td>"
                    f"<td>{_n(p.quality_per_j, '.4g')}</td>"
                    f"<td>{fired}</td><td>{marks}</td></tr>"
                )
            title = f"{system} · {task}{' ' + within.strip() if within else ''}"
            marked = [
                svg.Point(p.row["energy_j"], p.row["quality"],
                          f"{describe(p.values, knobs)} ({p.row['config']})",
                          p.values["reasoning"] if "reasoning" in knobs else system, id(p) in on_front,
                          tag=tag(p.values, knobs), kind=tag(p.values, gpu) if gpu else "",
                          y_ci=_bounds(p.row), contended=bool(p.row.get("contended_only")))
                for p in part if p.row.get("energy_j") is not None and p.row.get("quality") is not None
            ]
            chart = svg.scatter(f"Quality vs energy by knob: {title}", marked, "J per case",
                                "quality (primary score)")
            floor_text = "" if floor is None else f" (floor {floor:g})"
            parts.append(
                f"<h3>{escape(title)}{escape(floor_text)}</h3><table><tr><th>point</th><th>configuration</th>"
                "<th>quality [95% CI]</th><th>J per case</th><th>quality per J</th><th>cap fired</th>"
                f"<th></th></tr>{''.join(rows)}</table><div class=\"charts\">{chart}</div>"
            )
    return '<h2>Reasoning, power cap and clocks</h2><div class="wide">' + "".join(parts) + "</div>"


def _n(value: float | None, digits: str = ".3g") -> str:
    return "n/a" if value is None else f"{value:{digits}}"


def _bounds(row: Mapping[str, Any]) -> tuple[float, float] | None:
    low, high = row.get("quality_ci_low"), row.get("quality_ci_high")
    return None if low is None or high is None else (low, high)


def _ci(row: Mapping[str, Any]) -> str:
    return interval.of_row(row, "quality")

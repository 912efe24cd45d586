"""Plain answers to the questions people ask of such a study, computed from its ratings.

Each answer names its figures, so a reader can check it against ratings.csv. An answer that
ranks energy ("best ratio", "cheapest") ranks within one energy boundary: where the study holds
several, it answers once per boundary and names it (monitors/boundary.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wattbench.floors import Floor
from wattbench.report.loadcurve import curves
from wattbench.report.rating import PROVISIONAL_RUNS
from wattbench.report.study import Study, by_boundary

BASE_LEVEL = "L0"


@dataclass(frozen=True)
class Finding:
    """One question and the sentences that answer it."""

    question: str
    answers: list[str]


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _times(new: float | None, old: float | None) -> str:
    return "n/a" if new is None or not old else f"x{new / old:.2f}"


def _contended(row: Mapping[str, Any]) -> str:
    """The mark of a configuration measured only while the machine was contended."""
    if row.get("contended_only"):
        return " (contended records only)"
    return " (partly contended records only)" if row.get("contended_part") else ""


def _label(row: dict[str, Any]) -> str:
    return f"{row['system']} at {row['config']}{_contended(row)}"


def _within(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(a prefix naming the boundary, its rows) for each energy boundary among ``rows``; the
    prefix is "" where there is only one, so a study of one boundary reads as before."""
    parts = by_boundary(rows)
    if len(parts) <= 1:
        return [("", rows)]
    return [(f"[{b or 'no energy'}] ", part) for b, part in sorted(parts.items())]


def level_effect(study: Study) -> Finding:
    """Does a longer prompt level buy quality, and at what cost in latency and energy?"""
    answers = []
    by_system: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in study.overall:
        if row["config"] == row["level"]:  # the default system prompt
            by_system[row["system"]][row["level"]] = row
    for system, levels in sorted(by_system.items()):
        base = levels.get(BASE_LEVEL)
        if base is None:
            answers.append(f"{system}: no {BASE_LEVEL} cases, nothing to compare the levels with.")
            continue
        for level, row in levels.items():
            if level == BASE_LEVEL:
                continue
            q, q0 = row["quality_norm"], base["quality_norm"]
            delta = "n/a" if q is None or q0 is None else f"{q - q0:+.3f}"
            answers.append(
                f"{system}: {level} against {BASE_LEVEL}: normalised quality {delta} "
                f"({_f(q0, 3)} -> {_f(q, 3)}), "
                f"prompt tokens {_times(row['prompt_tokens'], base['prompt_tokens'])}, "
                f"energy {_times(row['energy_j'], base['energy_j'])}, "
                f"latency {_times(row['latency_s'], base['latency_s'])}."
            )
    return Finding(
        "Does a longer prompt level buy quality, and at what cost?", answers or ["No levels to compare."]
    )


def best_level(study: Study) -> Finding:
    """Which level gives the best efficiency-quality ratio, per system?"""
    answers = []
    by_system: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in study.overall:
        if row["ratio_share"] is not None:
            by_system[row["system"]].append(row)
    for system, rows in sorted(by_system.items()):
        best = max(rows, key=lambda r: r["ratio_share"])
        answers.append(
            f"{system}: {best['config']}{_contended(best)} ({_stars(best)}; "
            f"{_f(best['ratio_share'])} of each task's best "
            f"quality per joule on average, over {best['tasks_rated']} rated tasks)."
        )
    return Finding(
        "Which prompt level has the best ratio?", answers or ["No configuration has a quality score."]
    )


def rated_per_task(study: Study) -> list[tuple[str, list[dict[str, Any]]]]:
    """(task, its rated configurations) in task order; a task none scored in has []."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in study.configs:
        by_task[row["task"]].append(row)
    return [
        (task, [r for r in rows if r["ratio_per_j"] is not None]) for task, rows in sorted(by_task.items())
    ]


def _why_unrated(study: Study, task: str) -> str:
    """Why no configuration of ``task`` is rated: each scored 0, or some or all are untested
    (no score at all, e.g. code whose tests did not run): untested is never said as 0."""
    rows = [row for row in study.configs if row["task"] == task]
    untested = sum(row.get("quality") is None for row in rows)
    if untested == len(rows):
        return "no configuration has a quality score: untested, not 0 (e.g. code whose tests did not run)"
    scored = len(rows) - untested
    return (f"no configuration scored above 0 ({scored} scored 0" +
            (f"; {untested} untested, with no score: not 0)" if untested else ")"))


def task_fit(study: Study) -> Finding:
    """Which system suits which task: the best ratio, and the best quality, per task."""
    answers = []
    systems = {row["system"] for row in study.configs}
    for task, rated in rated_per_task(study):
        if not rated:
            answers.append(f"{task}: {_why_unrated(study, task)}, so none is rated.")
            continue
        for within, part in _within(rated):
            ratio = max(part, key=lambda r: r["ratio_per_j"])
            top = max(part, key=lambda r: r["quality_norm"])
            answers.append(
                f"{task}: {within}best ratio {_label(ratio)} "
                f"(quality {_f(ratio['quality'], 3)}, {_f(ratio['energy_j'], 1)} J); "
                f"best quality {_label(top)} (quality {_f(top['quality'], 3)}, {_f(top['energy_j'], 1)} J)."
            )
    if len(systems) == 1:
        answers.append("Only one model is in this study: run several (--wb-model all) to compare models.")
    return Finding("Which model suits which task?", answers or ["No tasks."])


def findings(study: Study, floors: Mapping[str, float] | None = None) -> list[Finding]:
    """The study's answers, in the order a reader asks; with floors (task -> the quality needed),
    the cheapest configuration that reaches each first: the question people bring."""
    first = [cheapest_finding(study, floors)] if floors else []
    loads = [load_finding(study)] if curves(study.groups) else []
    return [*first, level_effect(study), best_level(study), task_fit(study), *loads]


def load_finding(study: Study) -> Finding:
    """Per configuration measured at load points: the knee, and the most efficient point that
    met every SLO (wattbench.report.loadcurve)."""
    answers = []
    for curve in curves(study.groups):
        where = f"{curve.system} on {curve.task} ({curve.load}, {curve.config})"
        points = ", ".join(map(str, curve.concurrencies))
        knee = f"no knee within N = {points}" if curve.knee is None else f"the knee is at N = {curve.knee}"
        if curve.best_under_slo is not None:
            slo = f"; the most efficient point that met every SLO is N = {curve.best_under_slo}"
        elif curve.slo_given:
            slo = "; no point met every SLO with no failed request"
        else:
            slo = ""
        changed = (f"; quality changed with the load at N = {', '.join(map(str, curve.quality_changes))}"
                   if curve.quality_changes else "")
        contended = [int(p["concurrency"]) for p in curve.points if p.get("contended_only")]
        left = f" (contended, so left out of it: N = {', '.join(map(str, contended))})" if contended else ""
        answers.append(f"{where}: {knee}{left}{slo}{changed}.")
    return Finding("How many concurrent streams should the server carry?", answers)


def task_floors(study: Study, floors: Sequence[Floor]) -> dict[str, float]:
    """task -> the quality it needs: the highest lower-bound floor (``>=`` or ``>``) of
    --wb-quality-floor that applies to the task and names its quality metric."""
    out: dict[str, float] = {}
    for task in study.tasks:
        metric = study.metrics.get(task)
        for floor in floors:
            if floor.op in (">=", ">") and floor.task in (None, task) and floor.metric == metric:
                out[task] = max(out.get(task, floor.value), floor.value)
    return out


def cheapest_at(
    study: Study, task: str, floor: float, boundary: str | None = None
) -> dict[str, Any] | None:
    """The cheapest configuration of ``task`` (least J per case, then least time) whose quality's
    lower 95% CI bound reaches ``floor``, on the task's own scale; None where none does. Only
    configurations of PROVISIONAL_RUNS or more runs per case can show it (two runs' percentile
    bound is just the lower run), and only from clean records (a contended-only one is left out).
    Joules are compared within one energy boundary: ``boundary``, else the study's only one
    (None where the reaching configurations hold several: cheapest_finding names each)."""
    reaching = [
        r for r in study.configs
        if r["task"] == task and r.get("quality_ci_low") is not None and r["quality_ci_low"] >= floor
        and r.get("energy_j") is not None and r.get("runs_min", 0) >= PROVISIONAL_RUNS
        and not r.get("contended_only")
        and (boundary is None or (r.get("energy_boundary") or "") == boundary)
    ]
    if len(by_boundary(reaching)) > 1:
        return None
    return min(reaching, key=lambda r: (r["energy_j"], r.get("latency_s") or 0.0), default=None)


def untested_cheaper(study: Study, task: str, floor: float, chosen: Mapping[str, Any] | None) -> str:
    """Words naming the cheapest configuration of ``task`` that is cheaper than ``chosen`` (any, where
    none was chosen) and whose mean quality reaches ``floor``, but that could not show it: fewer
    than PROVISIONAL_RUNS clean runs per case. "" where there is none. Without it, "none reaches
    it" would read as quality too low when the runs were too few to tell."""
    limit = chosen["energy_j"] if chosen is not None else float("inf")
    short = [
        r for r in study.configs
        if r["task"] == task and r.get("quality") is not None and r["quality"] >= floor
        and r.get("energy_j") is not None and r["energy_j"] < limit
        and (r.get("runs_min", 0) < PROVISIONAL_RUNS or r.get("contended_only"))
    ]
    if not short:
        return ""
    r = min(short, key=lambda row: row["energy_j"])
    why = "only contended records" if r.get("contended_only") else (
        f"{r.get('runs_min', 0)} clean run(s) per case, {PROVISIONAL_RUNS} needed")
    return f"{_label(r)} ({_f(r['energy_j'], 2)} J) may reach it but could not be tested: {why}"


def cheapest_finding(study: Study, floors: Mapping[str, float]) -> Finding:
    """One sentence per task with a floor: the cheapest configuration that reaches it."""
    answers = []
    boundaries = sorted(by_boundary(study.configs))
    for task, floor in floors.items():
        metric = study.metrics.get(task, "quality")
        for boundary in boundaries:
            within = f"[{boundary or 'no energy'}] " if len(boundaries) > 1 else ""
            row = cheapest_at(study, task, floor, boundary)
            untested = untested_cheaper(study, task, floor, row)
            also = f" Cheaper, {untested}." if untested else ""
            if row is None:
                answers.append(
                    f"{task}: {within}no configuration's {metric} reaches {floor:g} with 95% confidence "
                    f"(its lower CI bound, from {PROVISIONAL_RUNS} or more clean runs per case).{also}"
                )
                continue
            answers.append(
                f"{task}: {within}{_label(row)} is the cheapest at {metric} >= {floor:g}: "
                f"{_f(row['energy_j'], 2)} J and {_f(row['latency_s'], 2)} s per case, {metric} "
                f"{_f(row['quality'], 3)} (lower 95% CI bound {_f(row['quality_ci_low'], 3)}).{also}"
            )
    return Finding("What is the cheapest configuration at the quality I need?", answers or ["No tasks."])


def cheapest_lines(study: Study, floors: Mapping[str, float]) -> list[str]:
    """The terminal summary's lines for --wb-quality-floor (none without one)."""
    return cheapest_finding(study, floors).answers if floors else []


def as_markdown(items: list[Finding], cautions: Sequence[str] = ()) -> str:
    """findings.md: the cautions a reader needs before any figure (the page's warnings), then a
    heading per question and a bullet per answer."""
    first = "".join(f"- {c}\n" for c in cautions)
    first = f"## Before reading these figures\n\n{first}\n" if first else ""
    return first + "\n".join(
        f"## {item.question}\n\n" + "\n".join(f"- {a}" for a in item.answers) + "\n" for item in items
    )


def _stars(row: Mapping[str, Any]) -> str:
    """A row's stars in words: relative to this study, provisional where runs are few; "no
    stars" where nothing was compared."""
    if row.get("stars") is None:
        return "no stars (nothing to compare with)"
    said = f"{row['stars']}/5 stars relative to this study"
    return said + (" (provisional: fewer than 3 runs)" if row.get("stars_provisional") else "")


def best_per_task(study: Study) -> list[str]:
    """One line per task for the end of a run: the best (model, level) by quality per joule,
    with its stars ('?' marks stars resting on fewer than PROVISIONAL_RUNS runs)."""
    lines = []
    for task, rated in rated_per_task(study):
        if not rated:
            lines.append(f"{task}: {_why_unrated(study, task)}, so none is rated")
            continue
        for within, part in _within(rated):
            best = max(part, key=lambda r: r["ratio_per_j"])
            # Plain ASCII: a terminal on a Windows code page cannot print star glyphs.
            word = "best" if len(part) > 1 else "only rated configuration:"
            lines.append(
                f"{task}: {within}{word} {_label(best)} {_stars(best)} (quality {_f(best['quality'], 3)}, "
                f"{_f(best['energy_j'], 2)} J, {_f(best['ratio_per_j'] and best['ratio_per_j'] * 1000, 1)} "
                "quality per kJ)"
            )
    return lines

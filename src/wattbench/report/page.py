"""report.html: one self-contained page (inline CSS and SVG, no script, no network) with the
answers, the star table, Pareto scatters, quality and energy against prompt level, a radar per
model across tasks, a heat map of the ratio, and the machine fingerprints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape
from typing import Any

from wattbench.machine import HARDWARE
from wattbench.report import svg
from wattbench.report.findings import Finding
from wattbench.report.study import Study

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1120px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.wide{overflow-x:auto}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}.stars{color:#d4a017;letter-spacing:1px;white-space:nowrap}
.warn{background:#fff3cd;border:2px solid #d39e00;padding:8px 12px;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg{background:#fff;border:1px solid #eee}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-size:13px;font-weight:600}
svg .a{font-size:12px}svg .l{font-size:11px}svg .g{stroke:#e5e5e5}svg .ring{fill:none;stroke:#ddd}
svg .front{fill:none;stroke:#444;stroke-dasharray:4 3}svg .on{stroke:#000;stroke-width:1.5}
svg .dark{fill:#fff}small{color:#666}
"""


def star_text(count: int | None) -> str:
    """'★★★☆☆' for 3 stars; '-' when not rated."""
    return "-" if count is None else "★" * count + "☆" * (5 - count)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = False) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell if raw else escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _machines(study: Study) -> str:
    keys = (
        "machine_cpu",
        "machine_cpu_count",
        "machine_gpus",
        "gpu_driver_version",
        "backend",
        "engine_version",
        "energy_source",
        "energy_method",
    )
    rows = [[fp, *(m.get(k, "") for k in keys)] for fp, m in sorted(study.machines.items())]
    warning = ""
    machines = {tuple(str(m.get(k, "")) for k in HARDWARE) for m in study.machines.values()}
    if len(machines) > 1:
        warning = (
            '<p class="warn">This report merges runs from different machines. Figures of one model '
            "on two machines are kept apart (model@fingerprint), but comparing across machines "
            "compares hardware as much as models.</p>"
        )
    estimated = any(m.get("energy_method") == "estimated" for m in study.machines.values())
    note = (
        (
            '<p class="warn">Energy here is an estimate (busy CPU time x TDP), not a measurement; '
            "rank with care.</p>"
        )
        if estimated
        else ""
    )
    return f'{warning}{note}<div class="wide">{_table(["fingerprint", *keys], rows)}</div>'


def _stars(study: Study) -> str:
    per_task = {(r["system"], r["config"], r["task"]): r for r in study.configs}
    rows = []
    for o in study.overall:
        cells = []
        for task in study.tasks:
            r = per_task.get((o["system"], o["config"], task))
            mark = " ◆" if r is not None and r.get("pareto_energy") else ""
            tip = "" if r is None or r["ratio_per_j"] is None else f"{r['ratio_per_j']:.3g} quality/J"
            cells.append(
                f'<span class="stars" title="{tip}">{star_text(None if r is None else r["stars"])}</span>'
                f"{mark}"
            )
        cells.append(f'<span class="stars">{star_text(o["stars"])}</span>')
        rows.append([escape(o["system"]), escape(o["config"]), *cells])
    return _table(["model", "level", *study.tasks, "overall"], rows, raw=True)


def _pareto(study: Study) -> str:
    charts = []
    for cost, flag, label in (
        ("energy_j", "pareto_energy", "energy per case (J)"),
        ("latency_s", "pareto_latency", "latency per case (s)"),
    ):
        points = [
            svg.Point(r[cost], r["quality_norm"], f"{r['system']} {r['config']}", r["system"], r[flag])
            for r in study.overall
            if r[cost] is not None and r["quality_norm"] is not None
        ]
        charts.append(
            svg.scatter(f"Quality vs {cost.split('_')[0]}: Pareto front", points, label, "normalised quality")
        )
    return "".join(charts)


def _levels(study: Study) -> str:
    series: dict[str, dict[str, dict[str, float | None]]] = defaultdict(lambda: defaultdict(dict))
    for r in study.overall:
        if r["config"] == r["level"]:
            for key in ("quality_norm", "energy_j", "latency_s"):
                series[key][r["system"]][r["level"]] = r[key]
    return "".join(
        svg.lines(
            title, study.levels, {s: [v.get(lv) for lv in study.levels] for s, v in series[key].items()}, unit
        )
        for key, title, unit in (
            ("quality_norm", "Quality vs prompt level", "normalised quality"),
            ("energy_j", "Energy vs prompt level", "J per case"),
            ("latency_s", "Latency vs prompt level", "s per case"),
        )
    )


def _radars(study: Study) -> str:
    by_system: dict[str, dict[str, dict[str, float | None]]] = defaultdict(lambda: defaultdict(dict))
    for r in study.configs:
        by_system[r["system"]][r["config"]][r["task"]] = r["quality_norm"]
    return "".join(
        svg.radar(
            f"{system}: normalised quality per task",
            study.tasks,
            {config: [values.get(t) for t in study.tasks] for config, values in configs.items()},
        )
        for system, configs in sorted(by_system.items())
    )


def _heatmap(study: Study) -> str:
    cells = {
        (f"{r['system']} {r['config']}", r["task"]): (r["ratio_share"], f"{r['ratio_share']:.2f}")
        for r in study.configs
        if r["ratio_share"] is not None
    }
    rows = [f"{o['system']} {o['config']}" for o in study.overall]
    return svg.heatmap("Quality per joule, as a share of each task's best", rows, study.tasks, cells)


def render(study: Study, items: Sequence[Finding], title: str) -> str:
    """The whole page."""
    answers = "".join(
        f"<h3>{escape(f.question)}</h3><ul>" + "".join(f"<li>{escape(a)}</li>" for a in f.answers) + "</ul>"
        for f in items
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f"<p>{study.records} run records in {len(study.groups)} groups: {len(study.tasks)} tasks, "
        f"levels {', '.join(study.levels)}. Quality is each task's primary score divided by the best "
        "group mean of that task; stars are equal bands over the observed range of quality per joule "
        "(per task, and overall as the mean share of each task's best). ◆ marks the Pareto front of "
        "quality against energy within a task.</p>"
        f"<h2>Answers</h2>{answers}"
        f"<h2>Ratings</h2>{_stars(study)}"
        f'<h2>Pareto fronts</h2><div class="charts">{_pareto(study)}</div>'
        f'<h2>Prompt levels</h2><div class="charts">{_levels(study)}</div>'
        f'<h2>Models across tasks</h2><div class="charts">{_radars(study)}{_heatmap(study)}</div>'
        f"<h2>Machines</h2>{_machines(study)}"
        "<p><small>Made by wattbench; the figures behind every chart are in stats.csv and ratings.csv."
        "</small></p></body></html>\n"
    )

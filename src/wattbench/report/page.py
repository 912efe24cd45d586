"""report.html: one self-contained page (inline CSS and SVG, no script, no network) with the
warnings first (estimated energy, merged machines, a partial run, provisional stars), the
answers, the star table, an efficiency table with CIs, Pareto scatters with error bars and a
label on every point, quality and energy against prompt level, a radar per model across tasks,
a heat map of the ratio, and the machine fingerprints.

Every text on the page, including model names and answers from models or users' files, goes
through ``html.escape``, so the page renders it as text and never as markup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from wattbench.axes import REASONING
from wattbench.monitors.boundary import refusal
from wattbench.records.machine import HARDWARE
from wattbench.report import interval, svg
from wattbench.report.findings import Finding, cheapest_at, untested_cheaper
from wattbench.report.human import HumanStudy
from wattbench.report.humanpage import section as human_section
from wattbench.report.knobs import knob_section
from wattbench.report.loadcurve import curves
from wattbench.report.rating import PROVISIONAL_RUNS
from wattbench.report.runs import Outcomes
from wattbench.report.stats import BOOTSTRAP_MIN_N
from wattbench.report.study import Study

FAILED_SHOWN = 10  # failed cases named on the page; all of them are in results.jsonl

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1120px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.wide{overflow-x:auto}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}.stars{color:#d4a017;letter-spacing:1px;white-space:nowrap}
.warn{background:#fff3cd;border:2px solid #d39e00;padding:8px 12px;font-weight:600}
.badge{background:#fff3cd;border:1px solid #d39e00;padding:0 4px;font-size:11px;white-space:nowrap}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg{background:#fff;border:1px solid #eee}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-size:13px;font-weight:600}
svg .a{font-size:12px}svg .l{font-size:11px}svg .g{stroke:#e5e5e5}svg .ring{fill:none;stroke:#ddd}
svg .front{fill:none;stroke:#444;stroke-dasharray:4 3}svg .on{stroke:#000;stroke-width:1.5}
svg .dark{fill:#fff}svg .bar{stroke-width:1.2;fill:none}svg .tag{font-size:10px;fill:#444}
small{color:#666}.prov{color:#888;font-style:italic}
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


def warnings(study: Study, outcomes: Outcomes | None = None) -> list[str]:
    """The cautions a reader needs before any figure, as plain sentences (most severe first)."""
    found = []
    if outcomes is not None and outcomes.failed_cases:
        failed = outcomes.failed_cases
        named = "; ".join(f"{case} ({error.splitlines()[0][:120]})" for case, error in
                          list(failed.items())[:FAILED_SHOWN])
        more = f"; and {len(failed) - FAILED_SHOWN} more" if len(failed) > FAILED_SHOWN else ""
        total = len(outcomes.cases)
        found.append(
            f"Partial run: {total - len(failed)} of {total} cases finished every run; "
            f"{len(failed)} failed: {named}{more}. Their figures are missing from every table and chart."
        )
    contention = study.contention
    if contention.records:
        time_share = contention.latency_s / contention.total_latency_s if contention.total_latency_s else 0.0
        joule_share = contention.energy_j / contention.total_energy_j if contention.total_energy_j else 0.0
        found.append(
            f"{contention.records} of {study.records} records were contended (other processes used the "
            f"machine during their window), holding {time_share:.0%} of the time and {joule_share:.0%} of "
            f"the joules. Every figure here uses the clean records of a configuration where it has "
            f"them ({contention.excluded} contended records left out). "
            + (f"{contention.only} group{' has' if contention.only == 1 else 's have'} only contended "
               "records, marked (contended) wherever shown. " if contention.only else "")
            + "Rerun on a quiet machine before trusting a comparison."
        )
    if any(m.get("energy_method") == "estimated" for m in study.machines.values()):
        found.append("Energy here is an estimate (busy CPU time x TDP), not a measurement; rank with care.")
    refused = refusal((g.get("energy_boundary") for g in study.groups), "rank energy")
    if refused:
        found.append(
            f"The {refused[0].lower()}{refused[1:]}. Stars, ratio shares and energy fronts here rank "
            "configurations only against others of the same boundary."
        )
    machines = {tuple(str(m.get(k, "")) for k in HARDWARE) for m in study.machines.values()}
    if len(machines) > 1:
        found.append(
            "This report merges runs from different machines. Figures of one model on two machines are "
            "kept apart (model@fingerprint), but comparing across machines compares hardware as much as "
            "models."
        )
    fewest = min((g["runs"] for g in study.groups), default=0)
    if fewest < PROVISIONAL_RUNS:
        found.append(
            f"Some cases ran {fewest} time(s): stars resting on fewer than {PROVISIONAL_RUNS} runs per case "
            "are provisional (marked ?)"
            + (", and a figure from one run has no interval" if fewest == 1 else "")
            + f". Rerun with --wb-runs {PROVISIONAL_RUNS} or more before ranking."
        )
    return found


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
    return f'<div class="wide">{_table(["fingerprint", *keys], rows)}</div>'


def _star_cell(count: int | None, provisional: bool, tip: str = "") -> str:
    if provisional:
        return (f'<span class="stars prov" title="provisional: fewer than {PROVISIONAL_RUNS} runs per case'
                f'{"; " + escape(tip) if tip else ""}">{star_text(count)}?</span>')
    return f'<span class="stars" title="{escape(tip)}">{star_text(count)}</span>'


def _stars(study: Study) -> str:
    per_task = {(r["system"], r["config"], r["task"]): r for r in study.configs}
    rows = []
    for o in study.overall:
        cells = []
        for task in study.tasks:
            r = per_task.get((o["system"], o["config"], task))
            mark = " ◆" if r is not None and r.get("pareto_energy") else ""
            tip = "" if r is None or r["ratio_per_j"] is None else f"{r['ratio_per_j']:.3g} quality/J"
            q = None if r is None else r.get("quality")
            absolute = "" if q is None else f" <small>q {q:.3g}</small>"
            cells.append(
                _star_cell(None if r is None else r["stars"], r is not None and r["stars_provisional"], tip)
                + mark + absolute
            )
        cells.append(_star_cell(o["stars"], o["stars_provisional"]))
        flag = _contended(o) and f' <span class="badge">{_contended(o).strip()}</span>'
        rows.append([escape(o["system"]), escape(o["config"]) + flag, *cells])
    note = (
        "<p>Stars are relative to this study: they rank its configurations against each other and "
        "say nothing on their own. q is the absolute quality, on the task's own metric's scale "
        "(0-1 scores; chrF and judge grades on theirs)."
        + (" One configuration: nothing to compare, so no stars." if len(study.overall) < 2 else "")
        + "</p>"
    )
    table = _table(["model", "level", *study.tasks, "overall"], rows, raw=True)
    return f'{note}<div class="wide">{table}</div>'


def _contended(row: dict[str, Any]) -> str:
    """The mark of a configuration measured only while the machine was contended (text)."""
    if row.get("contended_only"):
        return " (contended)"
    return " (partly contended)" if row.get("contended_part") else ""


def _with_ci(row: dict[str, Any], name: str, digits: str = ".3g") -> str:
    return interval.of_row(row, name, digits=digits)


def _efficiency(study: Study) -> str:
    """Per configuration across tasks: decode speed, TTFT, J/token, energy method, each with its CI."""
    methods: dict[str, set[str]] = defaultdict(set)
    for g in study.groups:
        method = study.machines.get(g["fingerprint"], {}).get("energy_method")
        methods[g["system"]].add(str(method) if method else "none")
    rows = [
        [
            o["system"],
            o["config"] + _contended(o),
            _with_ci(o, "decode_tokens_per_s"),
            _with_ci(o, "ttft_s"),
            _with_ci(o, "energy_per_token_j"),
            _with_ci(o, "energy_j"),
            ", ".join(sorted(methods[o["system"]])),
            o["runs_min"],
        ]
        for o in study.overall
    ]
    return _table(
        ["model", "level", "decode tokens/s [95% CI]", "TTFT s [95% CI]", "J/token [95% CI]",
         "J per case [95% CI]", "energy method", "runs per case (fewest)"],
        rows,
    )


def _pareto(study: Study) -> str:
    charts = []
    for cost, flag, label in (
        ("energy_j", "pareto_energy", "energy per case (J)"),
        ("latency_s", "pareto_latency", "latency per case (s)"),
    ):
        points = [
            svg.Point(
                r[cost],
                r["quality_norm"],
                f"{r['system']} {r['config']}{_contended(r)}",
                r["system"],
                r[flag],
                tag=f"{r['system']} {r['config']}",
                kind=r["level"],
                x_ci=_ci(r, cost),
                y_ci=_ci(r, "quality_norm"),
                contended=bool(r.get("contended_only")),
            )
            for r in study.overall
            if r[cost] is not None and r["quality_norm"] is not None
        ]
        charts.append(
            svg.scatter(f"Quality vs {cost.split('_')[0]}: Pareto front", points, label, "normalised quality")
        )
    return "".join(charts)


def _ci(row: dict[str, Any], name: str) -> tuple[float, float] | None:
    low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    return None if low is None or high is None else (low, high)


def _levels(study: Study) -> str:
    series: dict[str, dict[str, dict[str, float | None]]] = defaultdict(lambda: defaultdict(dict))
    contended: dict[str, set[str]] = defaultdict(set)  # system -> its levels of contended records only
    for r in study.overall:
        if r["config"] == r["level"]:
            for key in ("quality_norm", "energy_j", "latency_s"):
                series[key][r["system"]][r["level"]] = r[key]
            if r.get("contended_only"):
                contended[r["system"]].add(r["level"])
    marked = {s: [lv in levels for lv in study.levels] for s, levels in contended.items()}
    return "".join(
        svg.lines(
            title, study.levels, {s: [v.get(lv) for lv in study.levels] for s, v in series[key].items()},
            unit, contended=marked,
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
    contended = {(o["system"], o["config"]) for o in study.overall if o.get("contended_only")}
    return "".join(
        svg.radar(
            f"{system}: normalised quality per task",
            study.tasks,
            {config: [values.get(t) for t in study.tasks] for config, values in configs.items()},
            {config for config in configs if (system, config) in contended},
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
    contended = {f"{o['system']} {o['config']}" for o in study.overall if o.get("contended_only")}
    title = "Quality per joule, as a share of each task's best"
    return svg.heatmap(title, rows, study.tasks, cells, contended)


FLOOR_SHARES = (0.5, 0.75, 0.9)  # without --wb-quality-floor: floors at these shares of a task's best


def _quality_needed(study: Study, floors: Mapping[str, float]) -> str:
    """Per task and floor, the cheapest configuration whose quality's lower 95% CI bound reaches
    the floor: the task's floor from --wb-quality-floor, and floors at FLOOR_SHARES of the
    task's best mean quality, each on the task's own scale."""
    best: dict[str, float] = defaultdict(float)
    for r in study.configs:
        if r.get("quality") is not None:
            best[r["task"]] = max(best[r["task"]], r["quality"])
    rows = []
    for task in study.tasks:
        floor = floors.get(task)
        values = ([floor] if floor is not None else []) + [share * best[task] for share in FLOOR_SHARES
                                                          if best[task] > 0]
        for value in values:
            row = cheapest_at(study, task, value)
            given = " (yours)" if floor is not None and value == floor else ""
            untested = untested_cheaper(study, task, value, row)
            also = f"; cheaper, {untested}" if untested else ""
            if row is None:
                none = f"none reaches it with 95% confidence{also}"
                rows.append([task, f"{value:.3g}{given}", none, "", "", ""])
                continue
            rows.append([
                task, f"{value:.3g}{given}",
                f"{row['system']} {row['config']}{_contended(row)}{also}",
                f"{row['energy_j']:.3g}",
                "n/a" if row.get("latency_s") is None else f"{row['latency_s']:.3g}",
                _with_ci(row, "quality"),
            ])
    intro = (
        "<p>The cheapest configuration (least energy per case, then least time) whose quality's lower "
        "95% bound reaches each floor, on the task's own scale. "
        + ("Yours come from --wb-quality-floor; the others are" if floors else
           "Give your own with --wb-quality-floor (e.g. summary:rouge_l>=0.2); these floors are")
        + f" {', '.join(f'{s:.0%}' for s in FLOOR_SHARES)} of the task's best mean quality. Only a "
        f"configuration of {PROVISIONAL_RUNS} or more clean runs per case can show that it reaches a "
        "floor.</p>"
    )
    return intro + _table(["task", "quality floor", "cheapest configuration", "J per case", "s per case",
                           "quality [95% CI]"], rows)


def _load_curves(study: Study) -> str:
    """Each configuration's load points (--wb-concurrency): a table and two charts per curve."""
    found = curves(study.groups)
    if not found:
        return ""
    parts = [
        "<p>Each load point keeps N streams in flight on the server; its energy and system tokens/s "
        "are read over the steady state (every stream generating), and a request's joules are "
        "attributed (J/token over that window x its tokens). Failed requests are not retried: they "
        "are the error rate, and are left out of tokens/s and J/token. The knee is the first point "
        "from which one more step gains less system throughput than it loses speed per stream "
        "(contended points left out). Quality is said to change with the load only where intervals "
        "of 10 or more answers each do not overlap. A point's J/token is measured once per run: "
        "run the sweep with --wb-runs 3 or more for its interval (the charts' error bars). J/request is "
        "the attributed mean. The Pareto front (outlined) holds the points no other point beats on "
        "tokens/s per stream, system tokens/s and J/token at once; each point's tag gives its system "
        "tokens/s and quality.</p>"
    ]
    for curve in found:
        rows = [
            [
                (f"{p['concurrency']} (knee)" if int(p["concurrency"]) == curve.knee else p["concurrency"])
                + _contended(p),
                _figure(p, "serving_system_tokens_per_s", ".4g"),
                _figure(p, "serving_stream_tokens_per_s", ".4g"),
                _mean_ci(p, "energy_per_token_j"),
                _figure(p, "energy_j", ".3g"),
                _mean_ci(p, "quality"),
                _figure(p, "serving_error_pct", ".3g", "%"),
                _percentiles(p, "serving_ttft"),
                _percentiles(p, "serving_tpot"),
                *([_figure(p, "slo_met_pct", ".3g", "%")] if curve.slo_given else []),
                _figure(p, "serving_goodput_tokens_per_j", ".3g"),
                f"{p.get('requests', p['runs'])} ({p['runs']})",
            ]
            for p in curve.points
        ]
        said = []
        if curve.quality_changes:
            said.append(
                "quality changes with the load: at N = " + ", ".join(map(str, curve.quality_changes))
                + " its interval does not overlap N = " + str(curve.concurrencies[0]) + "'s"
            )
        if curve.knee is not None:
            said.append(f"the knee: N = {curve.knee}; one more step from it gains less system "
                        "throughput than it loses speed per stream")
        if curve.best_under_slo is not None:
            said.append(f"the most efficient load point that met every SLO: N = {curve.best_under_slo}")
        elif curve.slo_given:
            said.append("no load point met every SLO with no failed request")
        title = f"{curve.system} · {curve.task} · {curve.load} · {curve.config}"
        parts.append(
            f"<h3>{escape(title)}</h3>" + "".join(f"<p>{escape(s)}.</p>" for s in said)
            + _table(["N", "system tokens/s", "tokens/s per stream", "J/token [95% CI]",
                      "J/request (attributed)", "quality [95% CI]", "errors", "TTFT s p50 / p90 / p99",
                      "TPOT s p50 / p90 / p99",
                      *(["SLO met"] if curve.slo_given else []), "goodput tokens/J", "requests (runs)"],
                     rows, raw=False)
            + '<div class="charts">'
            + _curve(f"J/token vs load: {title}", curve.points, {curve.system: "energy_per_token_j"},
                     "J/token (95% CI over runs)")
            + _curve(f"Speed vs load: {title}", curve.points,
                     {"per stream": "serving_stream_tokens_per_s", "system": "serving_system_tokens_per_s"},
                     "tokens/s (95% CI over runs)")
            + svg.scatter(
                f"Per-stream speed vs J/token: {title}",
                [svg.Point(p["energy_per_token_j_mean"], p["serving_stream_tokens_per_s_mean"],
                           f"N = {p['concurrency']}: "
                           f"{_figure(p, 'serving_system_tokens_per_s', '.4g')} system tokens/s, "
                           f"quality {_mean_ci(p, 'quality')}", curve.system,
                           int(p["concurrency"]) in curve.front, tag=_front_tag(p),
                           contended=bool(p.get("contended_only")))
                 for p in curve.points
                 if p.get("energy_per_token_j_mean") is not None
                 and p.get("serving_stream_tokens_per_s_mean") is not None],
                "J/token", "tokens/s per stream")
            + _curve(f"Quality vs load: {title}", curve.points, {curve.system: "quality"},
                     "quality (primary score, 95% CI)")
            + "</div>"
        )
    return '<h2>Load curves</h2><div class="wide">' + "".join(parts) + "</div>"


def _curve(title: str, points: Sequence[dict[str, Any]], series: Mapping[str, str], y_label: str) -> str:
    """Figures against N, one line per series with each point's 95% CI as an error bar (none from
    one run); N spaced evenly (1, 2, 4, 8 read as steps); ``series`` maps a legend name to the
    figure's name in the group rows."""
    return svg.lines(
        title, [str(p["concurrency"]) for p in points],
        {label: [p.get(f"{name}_mean") for p in points] for label, name in series.items()},
        y_label, "streams (N)",
        contended={label: [bool(p.get("contended_only")) for p in points] for label in series},
        ci={label: [_ci(p, name) for p in points] for label, name in series.items()},
    )


def _percentiles(row: dict[str, Any], name: str) -> str:
    """A load point's p50 / p90 / p99 of ``name`` (serving_ttft, serving_tpot), each its mean over
    runs; n/a for one the records lack."""
    return " / ".join(_figure(row, f"{name}_{p}_s", ".3g") for p in ("p50", "p90", "p99"))


def _front_tag(point: dict[str, Any]) -> str:
    """A Pareto point's printed tag: its N, system tokens/s and quality, so the third axis and the
    quality are read on paper too."""
    parts = [f"N={point['concurrency']}"]
    if (system := point.get("serving_system_tokens_per_s_mean")) is not None:
        parts.append(f"{system:.3g} sys tok/s")
    if (quality := point.get("quality_mean")) is not None:
        parts.append(f"q {quality:.2g}")
    return " · ".join(parts)


def _figure(row: dict[str, Any], name: str, digits: str, unit: str = "") -> str:
    """A group row's mean of ``name``, or n/a."""
    mean = row.get(f"{name}_mean")
    return "n/a" if mean is None else f"{mean:{digits}}{unit}"


def _reasoning(study: Study) -> str:
    """Energy, quality and thinking per reasoning state (--wb-reasoning), per model and task:
    the means over the task's loads and levels."""
    states = {str(g.get("reasoning", "default")) for g in study.groups}
    if states <= {"default"}:
        return ""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for g in study.groups:
        by[(g["system"], g["task"], str(g.get("reasoning", "default")))].append(g)

    def mean(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in rows if r.get(key) is not None]
        return sum(values) / len(values) if values else None

    def cell(value: float | None, digits: str = ".3g") -> str:
        return "n/a" if value is None else f"{value:{digits}}"

    def place(key: tuple[str, str, str]) -> tuple[str, str, int]:
        system, task, state = key
        return system, task, REASONING.index(state) if state in REASONING else len(REASONING)

    rows = [
        [system, task, state, cell(mean(groups, "energy_j_mean")), cell(mean(groups, "quality_mean")),
         cell(mean(groups, "thinking_tokens_mean"), ".4g"),
         cell(mean(groups, "completion_tokens_mean"), ".4g"), len(groups)]
        for (system, task, state), groups in sorted(by.items(), key=lambda kv: place(kv[0]))
    ]
    intro = (
        "<p>Each reasoning state asked of the model (--wb-reasoning), averaged over the task's loads "
        "and levels. Thinking tokens say whether a state took; a state the model refused is not "
        "here (its records say unsupported).</p>"
    )
    return "<h2>Reasoning states</h2>" + intro + _table(
        ["model", "task", "reasoning", "J per case", "quality", "thinking tokens", "completion tokens",
         "cases"], rows)


def _mean_ci(row: dict[str, Any], name: str) -> str:
    """A group row's mean of ``name`` with its 95% CI, method and n, or n/a."""
    return interval.of_row(row, name, f"{name}_mean")


def render(
    study: Study, items: Sequence[Finding], title: str, outcomes: Outcomes | None = None,
    floors: Mapping[str, float] | None = None, human: HumanStudy | None = None, extra: str = "",
) -> str:
    """The whole page; ``outcomes`` (the failed runs) makes a partial run say so at the top;
    ``floors`` (task -> quality) are the reader's "quality I need" (--wb-quality-floor);
    ``human`` (the run folders' ratings) adds the human judgement; ``extra`` is HTML of sections
    from beside the records (the fine-tuning section, report/finetune.py), before the machines."""
    answers = "".join(
        f"<h3>{escape(f.question)}</h3><ul>" + "".join(f"<li>{escape(a)}</li>" for a in f.answers) + "</ul>"
        for f in items
    )
    cautions = "".join(f'<p class="warn">{escape(w)}</p>' for w in warnings(study, outcomes))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{cautions}"
        f"<p>{study.records} run records in {len(study.groups)} groups: {len(study.tasks)} tasks, "
        f"levels {escape(', '.join(study.levels))}. Quality is each task's primary score divided by the best "
        "group mean of that task; stars are relative, equal bands over the observed range of quality "
        "per joule "
        "(per task, and overall as the mean share of each task's best). ◆ marks the Pareto front of "
        f"quality against energy within a task; ? marks provisional stars (fewer than {PROVISIONAL_RUNS} "
        "runs per case). Error bars and [brackets] are 95% CIs of the mean over each case's runs, "
        f"each named beside it: Student-t from fewer than {BOOTSTRAP_MIN_N} runs, percentile bootstrap from "
        f"{BOOTSTRAP_MIN_N} or more, combined over loads and tasks in quadrature. A figure from one run "
        "has none (n = 1, no interval).</p>"
        f"<h2>Answers</h2>{answers}"
        f'<h2>The quality I need</h2><div class="wide">{_quality_needed(study, floors or {})}</div>'
        f"<h2>Ratings</h2>{_stars(study)}"
        f"{human_section(human) if human is not None else ''}"
        f'<h2>Efficiency</h2><div class="wide">{_efficiency(study)}</div>'
        f'<h2>Pareto fronts</h2><div class="charts">{_pareto(study)}</div>'
        f'<h2>Prompt levels</h2><div class="charts">{_levels(study)}</div>'
        f"{_load_curves(study)}"
        f"{_reasoning(study)}"
        f"{knob_section(study, floors or {})}"
        f'<h2>Models across tasks</h2><div class="charts">{_radars(study)}{_heatmap(study)}</div>'
        f"{extra}<h2>Machines</h2>{_machines(study)}"
        "<p><small>Made by wattbench; the figures behind every chart are in stats.csv and ratings.csv."
        "</small></p></body></html>\n"
    )

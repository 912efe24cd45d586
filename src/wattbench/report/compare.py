"""Compare two saved runs: a row per (case, metric) and per (model, metric) aggregate, each
with a significance verdict and the test that decided it, and a verdict per gate.

- A case row tests the runs of one case, two-sided at p < ALPHA. Its change is the difference
  of the means, absolute and relative to the baseline. The test is fixed by the sample sizes
  before any p-value is seen, so the choice cannot favour a verdict:
  1. ``mann-whitney`` (Mann-Whitney U) when it can reach p < ALPHA at all (4 v 4, 3 v 5 runs or
     more): it assumes nothing about the distribution, so a single slow run cannot sway it;
  2. else ``welch-log`` (Welch's t-test on the logs of the values) with 2 or more runs a side and
     every value > 0, or ``welch`` (on the values) when some value is <= 0: it has power at 2 or
     3 runs a side, where Mann-Whitney has none (its smallest p with 3 v 3 is 0.1);
  3. else the row is ``UNTESTED`` (one run on a side).
- An aggregate row pools a model's cases: its change is the geometric mean of the per-case
  ratios (new mean / base mean) for positive figures, else the mean difference, shown with the
  95% CI of that mean over cases, its method named (``ci_method``: ``student-t`` below
  stats.BOOTSTRAP_MIN_N cases, ``bootstrap-percentile`` from there; one case has none, never a
  zero-width one). It is decided by a ``sign-flip`` permutation test over the cases, which needs 6
  or more cases; with fewer it is ``UNTESTED``. It works with one run per case.
- A gate is tested on a case when the case's own row or its model's aggregate row was tested.
  It FAILs when a significant row crosses it, is UNTESTED when some matched case was tested by
  neither (or lacks the figure), and PASSes otherwise. An UNTESTED gate is never a pass:
  ``exit_code`` gives EXIT_UNTESTED (3) for it unless the caller relaxes that.

Contended records (other processes used the machine in their window) are used for a case only
where the case has no clean record on that side, as the report's study does: such a row says
``contended`` (base, new or both), the comparison starts with a CONTENDED line, and its verdict
is no better than the machine it was measured on.

Cases match by (model, task, load, level, system prompt). Matched cases whose fingerprints
differ are compared, with a warning that names what differs (CPU, GPU, driver, engine, model).
Matched cases whose energy was counted within different boundaries (``energy_boundary``,
monitors/boundary.py) are not compared on any energy figure (gates.is_energy): the comparison
starts with a REFUSED line naming both boundaries, those rows are left out of the case and model
rows, and a gate on an energy figure over such a case is REFUSED (exit code EXIT_INPUT, 2).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wattbench import axes
from wattbench.metrics import BY_KEY
from wattbench.monitors.boundary import of_record, refusal
from wattbench.records.machine import fingerprint_difference
from wattbench.report.gates import (
    DERIVED,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_UNTESTED,
    REFUSED,
    UNTESTED,
    UNTESTED_POLICIES,
    Gate,
    is_energy,
)
from wattbench.report.quality import number
from wattbench.report.stats import (
    NO_INTERVAL,
    mann_whitney_p,
    mean_ci,
    sign_flip_p,
    smallest_mann_whitney_p,
    welch_p,
)
from wattbench.report.study import derived

ALPHA = 0.05
DEFAULT_METRICS = (
    "decode_tokens_per_s",
    "ttft_s",
    "latency_s",
    "energy_per_token_j",
    "completion_tokens",
    "quality",
)
HIGHER_IS_BETTER_UNITS = ("tokens/s", "score", "points")
HIGHER_IS_BETTER = {"quality", "quality_per_j", "quality_per_s", "tokens_per_j"}
SIGNIFICANT = ("better", "worse", "changed")  # the verdicts of a significant change
NEUTRAL_UNITS = ("tokens", "count", "")  # more tokens is neither better nor worse


@dataclass(frozen=True)
class Row:
    """One compared figure: the case (or 'model: all cases'), its means, change and verdict."""

    label: str
    metric: str
    base_n: int
    new_n: int
    base_mean: float
    new_mean: float
    change_abs: float | None
    change_pct: float | None
    p_value: float | None  # case rows
    ci: tuple[float, float] | None  # aggregate rows: CI of the change (percent if relative, else absolute)
    verdict: str  # better, worse, changed, no significant change, or UNTESTED
    ci_relative: bool = False  # the CI is of the percent change (positive figures), else absolute
    failed: list[Gate] = field(default_factory=list)
    test: str = ""  # the test that decided: mann-whitney, welch-log, welch, sign-flip; "" when UNTESTED
    note: str = ""  # why the row is UNTESTED
    ci_method: str = ""  # aggregate rows: how ``ci`` was computed (stats.interval_method()), or why none
    contended: str = ""  # "base", "new" or "both": the side(s) measured only while contended


@dataclass(frozen=True)
class GateResult:
    """One gate over the matched cases: FAIL, UNTESTED or PASS, with the cases it could not test."""

    gate: Gate
    status: str  # FAIL, REFUSED, UNTESTED or PASS
    crossed: int  # rows that crossed the gate
    cases: int  # matched cases
    untested: list[str]  # "case: why" for each matched case the gate could not test
    refused: list[str] = field(default_factory=list)  # "case: base boundary != new boundary"

    def describe(self) -> str:
        """'GATE decode_tokens_per_s:-10%: UNTESTED on 1 of 1 cases (m-qa-short-L0: 1 v 1 runs ...)'."""
        tested = self.cases - len(self.untested) - len(self.refused)
        line = f"GATE {self.gate}: {self.status}"
        if self.crossed:
            line += f", crossed by {self.crossed} row(s)"
        line += f"; tested on {tested} of {self.cases} cases"
        if self.refused:
            shown = "; ".join(self.refused[:3]) + ("; ..." if len(self.refused) > 3 else "")
            line += f"; REFUSED on {len(self.refused)}, energy counted within different boundaries ({shown})"
        if self.untested:
            shown = "; ".join(self.untested[:3]) + ("; ..." if len(self.untested) > 3 else "")
            line += f"; UNTESTED on {len(self.untested)} ({shown})"
        return line


@dataclass
class Comparison:
    """All rows, the warnings to show first, and whether any gate failed."""

    rows: list[Row]
    warnings: list[str]
    only_base: int
    only_new: int
    gates: list[GateResult] = field(default_factory=list)

    @property
    def failures(self) -> list[Row]:
        """Rows that crossed a gate."""
        return [r for r in self.rows if r.failed]

    @property
    def untested(self) -> list[GateResult]:
        """Gates that some matched case could not test, or that matched no case at all."""
        return [g for g in self.gates if g.untested or g.status == UNTESTED]

    @property
    def refused(self) -> list[GateResult]:
        """Gates on energy over cases whose two runs counted energy within different boundaries."""
        return [g for g in self.gates if g.refused]


def exit_code(comparison: Comparison, untested: str = "fail") -> int:
    """EXIT_FAILED (1) when a gate failed, else EXIT_INPUT (2) when a gate was refused (energy
    across different boundaries), else EXIT_UNTESTED (3) when a gate is untested and
    ``untested`` is "fail" (the default), else EXIT_OK (0). ``untested="warn"`` lets an untested
    gate pass, never a refused one; the caller still prints its GATE line. Raises ValueError for
    another policy."""
    if untested not in UNTESTED_POLICIES:
        raise ValueError(f"untested policy {untested!r}: use one of {', '.join(UNTESTED_POLICIES)}")
    if comparison.failures:
        return EXIT_FAILED
    if comparison.refused:
        return EXIT_INPUT
    if comparison.untested and untested == "fail":
        return EXIT_UNTESTED
    return EXIT_OK


def direction(metric: str) -> int:
    """+1 when a higher value is better, -1 when lower is better, 0 when neither."""
    if metric in HIGHER_IS_BETTER:
        return 1
    unit = BY_KEY[metric].unit if metric in BY_KEY else ""
    if unit in HIGHER_IS_BETTER_UNITS:
        return 1
    return 0 if unit in NEUTRAL_UNITS else -1


def _verdict(metric: str, change: float, significant: bool | None) -> str:
    if significant is None:
        return UNTESTED
    if not significant:
        return "no significant change"
    sign = direction(metric)
    if sign == 0 or change == 0:
        return "changed"
    return "better" if (change > 0) == (sign > 0) else "worse"


_Case = tuple[str, ...]


@dataclass
class _Side:
    """One saved run's figures per case: case -> metric -> values over runs (its clean records'
    where it has any, else its contended ones), one record per case (for its fingerprint
    fields), its energy boundaries (monitors/boundary.py), and the cases measured only while
    contended, with how many contended records were left out beside clean ones."""

    values: dict[_Case, dict[str, list[float]]]
    first: dict[_Case, Mapping[str, Any]]
    bounds: dict[_Case, set[str]]
    contended_only: set[_Case]
    excluded: int


def _values(records: Iterable[Mapping[str, Any]], metrics: Sequence[str]) -> _Side:
    """The figures of one saved run's records, per case (see _Side)."""
    clean: dict[_Case, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    contended: dict[_Case, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    runs: dict[_Case, int] = defaultdict(int)  # contended records per case
    first: dict[_Case, Mapping[str, Any]] = {}
    bounds: dict[_Case, set[str]] = defaultdict(set)
    clean_cases: set[_Case] = set()
    for record in records:
        key = tuple(str(record.get(k)) for k in axes.record_keys())
        first.setdefault(key, record)
        bound = of_record(record)
        if bound is not None:
            bounds[key].add(bound)
        if record.get("contended"):
            into = contended[key]
            runs[key] += 1
        else:
            into = clean[key]
            clean_cases.add(key)
        ratios = derived(record) if any(m in DERIVED for m in metrics) else {}
        for metric in metrics:
            value = ratios.get(metric) if metric in DERIVED else number(record.get(metric))
            if value is not None:
                into[metric].append(value)
    only = {key for key in contended if key not in clean_cases}
    values = {key: clean[key] if key in clean_cases else contended[key] for key in (*clean, *contended)}
    excluded = sum(runs[key] for key in contended if key in clean_cases)
    return _Side(values, first, bounds, only, excluded)


def _case_test(base: list[float], new: list[float]) -> tuple[str, float | None, str]:
    """(test, p, why untested) for one case's runs: the rule in the module docstring."""
    if smallest_mann_whitney_p(len(base), len(new)) < ALPHA:
        return "mann-whitney", mann_whitney_p(base, new), ""
    if len(base) >= 2 and len(new) >= 2:
        log = all(v > 0 for v in (*base, *new))
        return ("welch-log" if log else "welch"), welch_p(base, new, log), ""
    return "", None, f"{len(base)} v {len(new)} runs (a test over runs needs 2 or more a side)"


def _case_row(label: str, metric: str, base: list[float], new: list[float]) -> Row:
    b, n = statistics.fmean(base), statistics.fmean(new)
    pct = (n - b) / abs(b) * 100 if b else None
    test, p, note = _case_test(base, new)
    significant = None if p is None else p < ALPHA
    return Row(
        label,
        metric,
        len(base),
        len(new),
        b,
        n,
        n - b,
        pct,
        p,
        None,
        _verdict(metric, n - b, significant),
        test=test,
        note=note,
    )


def _aggregate_row(label: str, metric: str, pairs: list[tuple[list[float], list[float]]]) -> Row:
    base_means = [statistics.fmean(b) for b, _n in pairs]
    new_means = [statistics.fmean(n) for _b, n in pairs]
    base_mean, new_mean = statistics.fmean(base_means), statistics.fmean(new_means)
    positive = all(v > 0 for v in base_means + new_means)
    change: float
    pct: float | None
    if positive:  # relative: the geometric mean of the per-case ratios
        logs = [math.log(n / b) for b, n in zip(base_means, new_means)]
        interval = mean_ci(logs)
        pct = (math.exp(statistics.fmean(logs)) - 1) * 100
        ci = None if interval is None else (math.expm1(interval[0]) * 100, math.expm1(interval[1]) * 100)
        change, differences = pct, logs
    else:
        differences = [n - b for b, n in zip(base_means, new_means)]
        interval = mean_ci(differences)
        ci = None if interval is None else interval[:2]
        change = statistics.fmean(differences)
        pct = change / abs(base_mean) * 100 if base_mean else None
    # With fewer than 6 cases no flip of signs can reach p < ALPHA: say so.
    p = sign_flip_p(differences) if 2 / 2 ** len(pairs) < ALPHA else None
    note = "" if p is not None else f"{len(pairs)} cases (the sign-flip test over cases needs 6 or more)"
    return Row(
        label,
        metric,
        len(pairs),
        len(pairs),
        base_mean,
        new_mean,
        new_mean - base_mean,
        pct,
        p,
        ci,
        _verdict(metric, change, None if p is None else p < ALPHA),
        ci_relative=positive,
        test="" if p is None else "sign-flip",
        note=note,
        ci_method=NO_INTERVAL if interval is None else interval[2],  # one case: none, never [x, x]
    )


def compare(
    base: Iterable[Mapping[str, Any]],
    new: Iterable[Mapping[str, Any]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    gates: Sequence[Gate] = (),
) -> Comparison:
    """Rows for every metric of every case in both runs, then per-model aggregates; gates judged."""
    metrics = list(dict.fromkeys([*metrics, *(g.metric for g in gates)]))
    base_side, new_side = _values(base, metrics), _values(new, metrics)
    base_values, base_first, base_bounds = base_side.values, base_side.first, base_side.bounds
    new_values, new_first, new_bounds = new_side.values, new_side.first, new_side.bounds
    shared = [k for k in base_values if k in new_values]
    warnings = []
    contended = {
        k: "both" if k in base_side.contended_only and k in new_side.contended_only
        else "base" if k in base_side.contended_only else "new"
        for k in shared if k in base_side.contended_only or k in new_side.contended_only
    }
    if contended or base_side.excluded or new_side.excluded:
        warnings.append(
            f"CONTENDED: other processes used the machine during some runs. Clean runs are compared "
            f"where a case has them ({base_side.excluded} contended record(s) of the baseline and "
            f"{new_side.excluded} of the new run left out); {len(contended)} matched case(s) have only "
            "contended runs on a side, marked (contended) below: rerun them on a quiet machine before "
            "trusting their verdict."
        )
    differences = sorted({d for k in shared for d in fingerprint_difference(base_first[k], new_first[k])})
    if differences:
        warnings.append(
            "WARNING: the runs were measured under different fingerprints, so changes mix "
            "machine and build: " + "; ".join(differences)
        )
    # Energy across boundaries is never compared (a GPU-only figure beside a GPU+CPU one).
    apart = {
        k: f"{_label(k)}: {' + '.join(sorted(base_bounds[k]))} != {' + '.join(sorted(new_bounds[k]))}"
        for k in shared
        if base_bounds[k] and new_bounds[k] and (base_bounds[k] != new_bounds[k] or len(base_bounds[k]) > 1)
    }
    if apart:
        said = refusal({b for k in apart for b in base_bounds[k] | new_bounds[k]}, "compare or gate energy")
        energy = [m for m in metrics if is_energy(m)]
        warnings.append(
            f"REFUSED: {said}. {len(apart)} matched case(s) differ"
            + (f"; their {', '.join(energy)} rows are left out" if energy else "")
        )
    rows: list[Row] = []
    case_rows: dict[tuple[tuple[str, ...], str], Row] = {}
    pooled: dict[tuple[str, str], list[tuple[list[float], list[float]]]] = defaultdict(list)
    for key in shared:
        label = _label(key)
        for metric in metrics:
            if key in apart and is_energy(metric):
                continue
            b, n = base_values[key].get(metric), new_values[key].get(metric)
            if b and n:
                row = _case_row(label, metric, b, n)
                if key in contended:
                    row = dataclasses.replace(row, contended=contended[key])
                rows.append(row)
                case_rows[key, metric] = row
                pooled[key[0], metric].append((b, n))
    aggregates: dict[tuple[str, str], Row] = {}
    marked = {model for model, *_rest in contended}
    for (model, metric), pairs in sorted(pooled.items()):
        aggregates[model, metric] = _aggregate_row(f"{model}: all {len(pairs)} cases", metric, pairs)
        if model in marked:  # some of its cases rest on contended runs only
            aggregates[model, metric] = dataclasses.replace(aggregates[model, metric], contended="some cases")
        rows.append(aggregates[model, metric])
    gated = [_gate(row, gates) for row in rows]
    results = [_judge(gate, shared, case_rows, aggregates, gated, apart) for gate in gates]
    return Comparison(
        gated,
        warnings,
        len(set(base_values) - set(new_values)),
        len(set(new_values) - set(base_values)),
        results,
    )


def _label(key: tuple[str, ...]) -> str:
    """A compared case's name: its case id (wattbench.ids)."""
    return axes.row_id(dict(zip(axes.record_keys(), key)))


def _judge(
    gate: Gate,
    shared: Sequence[tuple[str, ...]],
    case_rows: Mapping[tuple[tuple[str, ...], str], Row],
    aggregates: Mapping[tuple[str, str], Row],
    rows: Sequence[Row],
    apart: Mapping[tuple[str, ...], str],
) -> GateResult:
    """The gate's verdict over every matched case: tested by the case row or the model's aggregate;
    REFUSED on a case whose runs' energy boundaries differ, for a gate on energy."""
    untested, refused = [], []
    for key in shared:
        row, pooled = case_rows.get((key, gate.metric)), aggregates.get((key[0], gate.metric))
        if key in apart and is_energy(gate.metric):
            refused.append(apart[key])
        elif row is None:
            untested.append(f"{_label(key)}: no {gate.metric} on one side")
        elif row.verdict == UNTESTED and (pooled is None or pooled.verdict == UNTESTED):
            why = row.note if pooled is None else f"{row.note}; {pooled.note}"
            untested.append(f"{_label(key)}: {why}")
    crossed = sum(1 for r in rows if gate in r.failed)
    status = "FAIL" if crossed else REFUSED if refused else UNTESTED if untested or not shared else "PASS"
    return GateResult(gate, status, crossed, len(shared), untested, refused)


def _gate(row: Row, gates: Sequence[Gate]) -> Row:
    if row.verdict not in SIGNIFICANT:
        return row
    failed = [g for g in gates if g.metric == row.metric and g.crossed(row.change_pct, row.change_abs)]
    if not failed:
        return row
    return dataclasses.replace(row, failed=failed)


def describe_failure(row: Row) -> str:
    """'decode_tokens_per_s of smollm2-qa-short-L0: -32.1% (24.1 -> 16.4, p=0.008) crossed -5%'."""
    change = f"{row.change_pct:+.1f}%" if row.change_pct is not None else f"{row.change_abs:+.4g}"
    if row.ci is not None:
        evidence = (f"{row.test} p={row.p_value:.3g} over {row.base_n} cases, "
                    f"95% CI ({row.ci_method}) {row.ci[0]:+.3g}..{row.ci[1]:+.3g}"
                    f"{'%' if row.ci_relative else ''}")
    else:
        evidence = f"{row.test} p={row.p_value:.3g}, {row.base_n} v {row.new_n} runs"
    gates = ", ".join(str(g) for g in row.failed)
    return (
        f"{row.metric} of {row.label}: {change} ({row.base_mean:.4g} -> {row.new_mean:.4g}, {evidence}) "
        f"crossed {gates}"
    )


def format_table(comparison: Comparison, everything: bool = False) -> list[str]:
    """Lines of the table: aggregates always, case rows when significant, gated, or ``everything``."""
    header = f"{'case':<48} {'metric':<22} {'base':>10} {'new':>10} {'change':>9}  {'evidence':<40} verdict"
    lines = [header, "-" * len(header)]
    shown = [
        r
        for r in comparison.rows
        if everything or r.ci_method or r.failed or r.verdict in SIGNIFICANT
    ]
    for r in shown:
        change = f"{r.change_pct:+.1f}%" if r.change_pct is not None else f"{r.change_abs:+.3g}"
        if r.ci is not None:
            p = "" if r.p_value is None else f"{r.test} p={r.p_value:.2g} "
            evidence = f"{p}{r.ci_method} CI {r.ci[0]:+.3g}..{r.ci[1]:+.3g}{'%' if r.ci_relative else ''}"
        elif r.ci_method == NO_INTERVAL:
            evidence = f"{r.base_n} case: n = 1, no interval"
        else:
            evidence = "-" if r.p_value is None else f"{r.test} p={r.p_value:.3g} ({r.base_n}v{r.new_n})"
        flag = "  FAIL " + ",".join(str(g) for g in r.failed) if r.failed else ""
        if r.contended:
            flag += f" (contended: {r.contended})"
        lines.append(
            f"{r.label[:48]:<48} {r.metric[:22]:<22} {r.base_mean:>10.4g} {r.new_mean:>10.4g} "
            f"{change:>9}  {evidence:<40} {r.verdict}{flag}"
        )
    hidden = len(comparison.rows) - len(shown)
    if hidden:
        lines.append(f"({hidden} case rows not shown: no significant change, or UNTESTED; "
                     "--all shows them)")
    return lines


def comparison_lines(comparison: Comparison, everything: bool = False) -> list[str]:
    """The warnings, the table, unmatched cases and one REGRESSION line per failed row."""
    lines = [*comparison.warnings, *format_table(comparison, everything)]
    if comparison.only_base or comparison.only_new:
        lines.append(
            f"{comparison.only_base} cases only in the baseline, {comparison.only_new} only in the new run"
        )
    lines += [result.describe() for result in comparison.gates]
    return lines + [f"REGRESSION {describe_failure(row)}" for row in comparison.failures]

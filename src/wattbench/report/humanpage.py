"""The report page's human judgement: ratings per configuration, agreement and preferences.

Everything here comes from wattbench.report.human's HumanStudy; this module only lays it out.
Grades are raters' Likert points, 1-5; intervals are 95% (bootstrap for means, Fisher z for rho,
Wilson for win rates) and a figure without one says so.
"""

from __future__ import annotations

from html import escape

from wattbench.report.human import HumanStudy


def _cell(mean: float, low: float | None, high: float | None, n: int) -> str:
    if low is None or high is None:
        return f"{mean:.2f} (n = {n}, no interval)"
    if low == high:  # every grade the same: a bootstrap of equal values is not certainty
        return f"{mean:.2f} (all {n} grades equal, no interval)"
    return f"{mean:.2f} [{low:.2f}, {high:.2f}] (n = {n})"


def _table(columns: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="wide"><table><tr>{head}</tr>{body}</table></div>'


def _number(value: float | None, digits: str = ".3f") -> str:
    return "n/a" if value is None else f"{value:{digits}}"


def section(human: HumanStudy) -> str:
    """The "Human judgement" section; empty when the run folders hold no rating."""
    if not human.ratings_count:
        return ""
    dims = human.dimensions
    means = [[row["config"], *(_cell(*row[d]) if d in row else "not rated" for d in dims)]
             for row in human.configs]
    parts = [
        "<h2>Human judgement</h2>",
        f"<p>{human.ratings_count} ratings (1-5 points) on {escape(', '.join(dims))}; means over each "
        "configuration's rated answers, with 95% bootstrap CIs.</p>",
        _table(["configuration", *dims], means),
    ]
    alphas = [a for a in human.agreement if a.measure.startswith("krippendorff")]
    if alphas:
        parts.append(
            "<h3>Do the raters agree?</h3><p>Percent agreement is the share of pairs of grades of one "
            "answer that are equal; Krippendorff's alpha corrects it for the agreement chance would "
            "give (1 is perfect, 0 is chance). Read both: when grades crowd on one value, alpha can be "
            "low while raters almost always agree.</p>"
        )
        parts.append(_table(
            ["dimension", "percent agreement", "Krippendorff's alpha (ordinal)", "answers", "raters", "note"],
            [[a.dimension, "n/a" if a.percent_agreement is None else f"{a.percent_agreement:.0f}%",
              _number(a.value), str(a.items_count), str(a.raters_count), a.note] for a in alphas],
        ))
    rhos = [a for a in human.agreement if not a.measure.startswith("krippendorff")]
    if rhos:
        parts.append("<h3>Does the judge rank answers as people do?</h3>")
        parts.append(_table(
            ["dimension", "judge grade", "Spearman's rho [95% CI]", "answers", "note"],
            [[a.dimension, a.judge_key, _rho(a.value, a.ci_low, a.ci_high), str(a.items_count), a.note]
             for a in rhos],
        ))
    if human.preferences:
        parts.append(
            "<h3>Which answer did raters prefer?</h3><p>From side-by-side pages: the answer a rater "
            "graded higher wins; ties are counted apart and left out of the rate (95% Wilson CI).</p>"
        )
        parts.append(_table(
            ["dimension", "configuration A", "configuration B", "A's win rate", "A wins", "B wins", "ties"],
            [[p.dimension, p.first, p.second, _rate(p.win_rate, p.interval()), str(p.wins), str(p.losses),
              str(p.ties)] for p in human.preferences],
        ))
    return "".join(parts)


def _rho(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" + ("" if low is None or high is None else f" [{low:.3f}, {high:.3f}]")


def _rate(rate: float | None, ci: tuple[float, float] | None) -> str:
    if rate is None or ci is None:
        return "n/a (every comparison a tie)"
    return f"{rate:.0%} [{ci[0]:.0%}, {ci[1]:.0%}]"


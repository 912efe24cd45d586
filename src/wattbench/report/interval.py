"""How a figure and its 95% interval read on the page: the interval with its method and n, or why
there is none. One spelling for every table, so no interval appears without saying what it is.

- ``101 [98.5, 103] (Student-t, n = 3)``: a mean with its CI, the method named;
- ``100 (n = 1, no interval)``: one run gives no interval, never ``[100, 100]``;
- ``0.5 (all 3 equal)``: every run gave the same figure (a deterministic engine): the Student-t
  interval is zero-width, which would read as certainty about more runs than were made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wattbench.report.stats import BOOTSTRAP, NO_INTERVAL, STUDENT_T
from wattbench.report.study import COMBINED

SHORT = {STUDENT_T: "Student-t", BOOTSTRAP: "bootstrap"}  # a method's name in a table cell


def method_text(method: str | None) -> str:
    """A method key (stats.interval_method(), possibly "A+B combined in quadrature") in words."""
    if not method:
        return ""
    combined = method.endswith(COMBINED)
    parts = method.removesuffix(COMBINED).split("+")
    return "+".join(SHORT.get(p, p) for p in parts) + (", combined" if combined else "")


def describe(
    value: float | None, low: float | None, high: float | None, n: int | None, method: str | None,
    digits: str = ".3g",
) -> str:
    """The figure with its interval, method and n, or why it has no interval (n/a: no figure)."""
    if value is None:
        return "n/a"
    shown = f"{value:{digits}}"
    if low is None or high is None:
        if n == 1 or method == NO_INTERVAL:
            return f"{shown} (n = 1, no interval)"
        return f"{shown} (no interval)"
    if low == high:
        return f"{shown} (all {n} equal)" if n else f"{shown} (zero-width interval)"
    said = ", ".join(s for s in (method_text(method), f"n = {n}" if n else "") if s)
    return f"{shown} [{low:{digits}}, {high:{digits}}]" + (f" ({said})" if said else "")


def of_row(row: Mapping[str, Any], name: str, mean_key: str | None = None, digits: str = ".3g") -> str:
    """describe() of figure ``name`` in a study row (a group's ``NAME_mean`` when ``mean_key``
    says so, a configuration's ``NAME``), its ``NAME_ci_low``/``_ci_high``/``_n``/``_ci_method``;
    a row older than ``NAME_n`` falls back on its runs."""
    n = row.get(f"{name}_n", row.get("runs", row.get("runs_min")))
    return describe(row.get(mean_key or name), row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high"), n,
                    row.get(f"{name}_ci_method"), digits)

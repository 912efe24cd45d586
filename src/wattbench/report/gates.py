"""Regression gates: ``"decode_tokens_per_s:-5%,energy_per_token_j:+10%,rouge_l:-0.05"``.

Each gate names a metric and the change that fails it: the sign says which way is a
regression, a ``%`` makes it relative to the baseline's mean, no ``%`` makes it absolute (for
scores in [0, 1]). A change fails its gate only when it is significant and reaches the threshold.

A gate that cannot be tested (one run a side and fewer than 6 cases, or a figure missing) is
``UNTESTED``, never a pass: ``wattbench compare`` then exits with EXIT_UNTESTED (3) unless
``--untested warn`` is given (see compare.py for which test decides).

A gate on an energy figure (``is_energy``) between runs whose energy was counted within
different boundaries (``energy_boundary``: a GPU-only run against a GPU+CPU one) is ``REFUSED``:
it is never judged, and the comparison exits with EXIT_INPUT (2), whatever the untested policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wattbench.errors import ReportInputError
from wattbench.metrics import BY_KEY

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_UNTESTED = 0, 1, 2, 3  # wattbench compare's exit codes
UNTESTED = "UNTESTED"  # the verdict of a row or gate no test could decide
REFUSED = "REFUSED"  # a gate on energy across different energy boundaries: never judged
UNTESTED_POLICIES = ("fail", "warn")  # what an UNTESTED gate does to the exit code
DERIVED = ("quality", "quality_per_j", "quality_per_s", "tokens_per_j")  # computed by the report
ENERGY_UNITS = ("J", "J/token", "tokens/J", "gCO2e", "gCO2e/token")  # figures an energy boundary bounds
_GATE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*:\s*([+-])\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


def is_energy(metric: str) -> bool:
    """Whether ``metric`` depends on what the energy figures counted (their boundary)."""
    if metric in ("quality_per_j", "tokens_per_j"):
        return True
    return metric in BY_KEY and BY_KEY[metric].unit in ENERGY_UNITS


@dataclass(frozen=True)
class Gate:
    """Fail when ``metric`` moves by ``threshold`` (signed; percent or absolute) or further."""

    metric: str
    threshold: float
    relative: bool

    def __str__(self) -> str:
        return f"{self.metric}:{self.threshold:+g}{'%' if self.relative else ''}"

    def crossed(self, change_pct: float | None, change_abs: float | None) -> bool:
        """Whether a change reaches the threshold in the threshold's direction."""
        change = change_pct if self.relative else change_abs
        if change is None:
            return False
        return change <= self.threshold if self.threshold < 0 else change >= self.threshold


def parse_gates(spec: str) -> list[Gate]:
    """Gates from a comma-separated spec; an error names the part that is wrong and the form."""
    gates = []
    for part in (p for p in spec.split(",") if p.strip()):
        match = _GATE.match(part)
        if match is None:
            raise ReportInputError(
                f"gate {part.strip()!r}: write METRIC:+N% or METRIC:-N (the sign says which way is a "
                "regression), e.g. decode_tokens_per_s:-5%,energy_per_token_j:+10%,rouge_l:-0.05"
            )
        metric, sign, number, percent = match.groups()
        if metric not in BY_KEY and metric not in DERIVED:
            raise ReportInputError(
                f"gate {part.strip()!r}: {metric!r} is not a recorded metric; see the record keys "
                "in docs/results.md (e.g. decode_tokens_per_s, ttft_s, energy_per_token_j, rouge_l)"
            )
        gates.append(Gate(metric, float(sign + number), bool(percent)))
    if not gates:
        raise ReportInputError(f"gate spec {spec!r} names no gate")
    return gates

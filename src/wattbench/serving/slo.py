"""Service-level objectives: the limits a request must meet to count in goodput (--wb-slo).

Goodput, as DistServe (Zhong et al., OSDI 2024) and vLLM's benchmarks use it: the work done by
requests that met every objective. wattbench reports it per joule at each load point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SLO = re.compile(r"^(ttft|tpot|latency)\s*<=\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s)?$")


@dataclass(frozen=True)
class Slo:
    """Service-level objectives a request must meet to count in goodput: limits in seconds."""

    limits: Mapping[str, float]  # "ttft" | "tpot" | "latency" -> at most this many seconds
    text: str = ""

    def met(self, figures: Mapping[str, Any]) -> bool | None:
        """Whether a request's timing (ttft_s, tpot_s, latency_s) meets every limit; None without
        limits. A figure that is missing (a one-token answer has no TPOT) does not count against it."""
        if not self.limits:
            return None
        return all(
            figures.get(f"{name}_s") is None or float(figures[f"{name}_s"]) <= limit
            for name, limit in self.limits.items()
        )


def parse_slo(text: str) -> Slo:
    """``ttft<=2s,tpot<=100ms`` as an Slo. Raises ValueError naming the part at fault."""
    limits: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _SLO.match(part.lower())
        if match is None:
            raise ValueError(f"{part!r} is not an SLO; write ttft<=2s, tpot<=100ms or latency<=10s")
        name, value, unit = match.groups()
        if name in limits:
            raise ValueError(f"{name} is given twice in {text!r}; give each limit once")
        limits[name] = float(value) / (1000.0 if unit == "ms" else 1.0)
    return Slo(limits, text)

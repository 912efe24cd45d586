"""What an energy figure counts: its boundary, declared on every record with energy.

``energy_boundary`` names the parts the figure counted, ``+``-joined in the fixed order below,
and ends in ``*pue=X`` when --wb-pue multiplied every energy figure by a facility's power usage
effectiveness X. Examples: ``accelerator``, ``accelerator+cpu_package+dram``, ``board``,
``accelerator+cpu_package*pue=1.09``.

    accelerator   GPUs (NVML, amdsmi; Apple's GPU through powermetrics)
    ane           Apple's Neural Engine (powermetrics)
    cpu_package   CPU packages (RAPL package zones; the estimate; Apple's CPU clusters)
    dram          DRAM (RAPL dram zones)
    board         a module's input rail, every part of the board (Jetson VDD_IN, POM_5V_IN)
    rails         a board's rails summed, where it has no input rail (Jetson)
    soc           an SoC's CPU + GPU + ANE as one figure (powermetrics' Combined Power alone)

A channel of another domain (a conftest's source) adds its domain's name after these. The
figure is gross: the counted devices' own idle draw during the window is inside it (and
``energy_net_j`` takes it out); no share of machines held idle elsewhere is counted, since
wattbench measures one machine. Google's 2025 method shows why a boundary must be stated: a
median prompt was 0.10 Wh accelerator-only and 0.24 Wh with host CPU and RAM, idle machines and
a PUE of 1.09. Figures of different boundaries are never ranked or gated against each other
(report/study.py, report/compare.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PARTS = {
    "gpu": "accelerator",
    "ane": "ane",
    "cpu": "cpu_package",
    "dram": "dram",
    "board": "board",
    "rail": "rails",
    "soc": "soc",
}
"""Channel domain -> its part of the boundary, in the boundary's order."""
_ORDER = tuple(PARTS.values())
PUE_MARK = "*pue="
LEGACY = "unstated"
"""The boundary of a record with energy, written before energy_boundary existed, whose channels
do not say what it counted."""


def boundary(domains: Iterable[str], pue: float | None = None) -> str:
    """The boundary of a figure over channels of ``domains`` (their Channel.domain), times ``pue``."""
    parts = {PARTS.get(domain, domain) for domain in domains}
    ordered = sorted(parts, key=lambda p: (_ORDER.index(p) if p in _ORDER else len(_ORDER), p))
    text = "+".join(ordered) or "none"
    return f"{text}{PUE_MARK}{pue:g}" if pue is not None and pue != 1.0 else text


def of_record(record: Mapping[str, Any]) -> str | None:
    """A record's boundary: its ``energy_boundary``; for a record written before the key existed,
    the boundary its channels imply (``energy_components_j``, else ``energy_source``), or LEGACY
    where they do not say; None for a record without energy."""
    stated = record.get("energy_boundary")
    if stated:
        return str(stated)
    return _implied(record) if record.get("energy_source") else None


_SOURCE_DOMAIN = {"nvml": "gpu", "amdsmi": "gpu", "estimate": "cpu"}  # sources of one domain
_INPUT_RAILS = ("VDD_IN", "POM_5V_IN")  # a Jetson's module input: the rails are inside it


def _implied(record: Mapping[str, Any]) -> str:
    """The boundary of an older record's channels (they were counted as today), else LEGACY."""
    components = record.get("energy_components_j")
    domains: list[str] = []
    if isinstance(components, dict) and components:
        channels = [str(key).partition(":") for key in components]
        has_input = any(src == "jetson" and ch in _INPUT_RAILS for src, _, ch in channels)
        for source, _, channel in channels:
            if source in _SOURCE_DOMAIN:
                domains.append(_SOURCE_DOMAIN[source])
            elif source == "rapl":
                domains.append("dram" if channel.startswith("dram") else "cpu")
            elif source == "jetson":
                if channel in _INPUT_RAILS or not has_input:
                    domains.append("board" if channel in _INPUT_RAILS else "rail")
            else:
                return LEGACY
        return boundary(domains)
    sources = str(record.get("energy_source")).split("+")
    if any(source not in _SOURCE_DOMAIN for source in sources):
        return LEGACY
    return boundary(_SOURCE_DOMAIN[source] for source in sources)


def refusal(boundaries: Iterable[str | None], what: str) -> str | None:
    """A sentence refusing ``what`` (e.g. "gate energy") across more than one boundary; None
    when there is at most one (records without energy have none and do not count)."""
    seen = sorted({b for b in boundaries if b})
    if len(seen) < 2:
        return None
    return (
        f"energy figures here were counted within different boundaries ({'; '.join(seen)}): "
        f"wattbench does not {what} across them, and keeps them apart as it keeps machines apart; "
        "measure every run with the same --wb-energy sources and --wb-pue to compare them"
    )

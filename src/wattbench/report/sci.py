"""sci.csv: a Software Carbon Intensity figure per group, in the manner of the Green Software
Foundation's SCI for AI, written where the runs carry carbon (--wb-grid-intensity).

    SCI = (E x I + M) / R     per completion token (the functional unit R)

E is a generation's energy in kWh (``energy_j``, within its ``energy_boundary``, PUE included
when --wb-pue was given), I the grid intensity the user stated (gCO2e/kWh), M the generation's
embodied carbon (``carbon_embodied_gco2e``, from --wb-embodied-carbon; 0 without it, and the row
says ``operational`` only). Each figure is the group's mean per generation, so the ratio of means
is the ratio of the group's totals. Rows of different boundaries are not comparable, and the
column says which each is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wattbench import axes
from wattbench.monitors.carbon import J_PER_KWH
from wattbench.report.tables import write_rows

SCI_FILE = "sci.csv"


def sci_rows(groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A row per group with operational carbon (stats.csv's rows, report/study.py)."""
    rows = []
    for group in groups:
        carbon, tokens = group.get("carbon_gco2e_mean"), group.get("completion_tokens_mean")
        energy = group.get("energy_j_mean")
        if carbon is None or not tokens or not energy:
            continue
        embodied = group.get("carbon_embodied_gco2e_mean")
        rows.append({
            "system": group.get("system"),
            "config": group.get("config"),
            **{key: group.get(key) for key in axes.record_keys() if key != "model"},
            "energy_boundary": group.get("energy_boundary"),
            "runs": group.get("runs"),
            "functional_unit": "completion token",
            "tokens_per_generation": tokens,
            "energy_kwh_per_generation": energy / J_PER_KWH,
            "grid_intensity_gco2e_per_kwh": carbon / (energy / J_PER_KWH),
            "embodied_gco2e_per_generation": embodied or 0.0,
            "operational_gco2e_per_token": carbon / tokens,
            "embodied_gco2e_per_token": (embodied or 0.0) / tokens,
            "sci_gco2e_per_token": (carbon + (embodied or 0.0)) / tokens,
            "scope": "operational+embodied" if embodied is not None else "operational",
        })
    return rows


def write_sci(out_dir: Path, groups: Sequence[Mapping[str, Any]]) -> bool:
    """Write sci.csv when any group carries carbon; whether it was written."""
    rows = sci_rows(groups)
    if rows:
        write_rows(out_dir / SCI_FILE, rows)
    return bool(rows)

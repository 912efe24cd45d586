"""Carbon from energy: gCO2e at a grid intensity the user states; nothing is looked up.

With ``--wb-grid-intensity G`` (gCO2e/kWh) every record with energy also carries
``carbon_gco2e`` (the generation's operational carbon: energy_j x G / 3.6e6 J/kWh) and
``carbon_per_token_gco2e`` (the same per completion token), over the record's
``energy_boundary`` (PUE included when --wb-pue is given). With ``--wb-embodied-carbon M``
(gCO2e per hour of the machine's time: its embodied emissions over its expected life in hours)
it also carries ``carbon_embodied_gco2e``: M x the generation's share of its window, in hours.

The report folder then holds ``sci.csv``, an SCI-for-AI style figure per configuration: the
Green Software Foundation's Software Carbon Intensity, (E x I + M) / R, with the completion token
as the functional unit R, operational only (M = 0) unless an embodied figure was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class CarbonOptions:
    """What the user stated: the grid's intensity and the machine's embodied carbon rate."""

    grid_gco2e_per_kwh: float | None = None
    embodied_gco2e_per_h: float | None = None

    @property
    def wanted(self) -> bool:
        """Whether any carbon figure is asked for."""
        return self.grid_gco2e_per_kwh is not None or self.embodied_gco2e_per_h is not None


def carbon_figures(
    energy: Mapping[str, Any], seconds: float | None, options: CarbonOptions
) -> dict[str, Any]:
    """The carbon keys for a record's energy keys (``energy_j``, ``energy_per_token_j``, J) and
    the machine time (s) its generation held; a figure whose energy is None is None."""
    figures: dict[str, Any] = {}
    grid = options.grid_gco2e_per_kwh
    if grid is not None:
        def grams(key: str) -> float | None:
            joules = energy.get(key)
            return None if joules is None else joules / J_PER_KWH * grid

        figures["grid_intensity_gco2e_per_kwh"] = grid
        figures["carbon_gco2e"] = grams("energy_j")
        figures["carbon_per_token_gco2e"] = grams("energy_per_token_j")
    if options.embodied_gco2e_per_h is not None:
        figures["embodied_rate_gco2e_per_h"] = options.embodied_gco2e_per_h
        figures["carbon_embodied_gco2e"] = (
            None if seconds is None else options.embodied_gco2e_per_h * seconds / 3600.0
        )
    return figures

"""Star ratings: 1 to 5 stars in equal bands over the observed range of quality per joule.

As AI Energy Score rates energy alone, in bands over the models it measured, wattbench rates
the efficiency-quality ratio: the band of the best fifth of the observed range gets 5 stars.
Ratings compare within one report only; they are not absolute, and every place that shows them
says so ("relative to this study") beside the absolute quality on its own scale. A study of one
configuration gets no stars: there is nothing to compare it with.

A rating that rests on fewer than PROVISIONAL_RUNS runs of some case is marked provisional: with
one or two runs a case's mean moves by more than the width of a band between two runs (its CI
cannot even be estimated from one run), so the stars could change on a rerun.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
PROVISIONAL_RUNS = 3  # stars resting on fewer runs per case are provisional


def stars(values: Mapping[K, float]) -> dict[K, int]:
    """label -> 1..5 stars by equal bands between the lowest and the highest value; none for
    fewer than two labels (one configuration has nothing to be compared with)."""
    if len(values) < 2:
        return {}
    low, high = min(values.values()), max(values.values())
    if high == low:
        return dict.fromkeys(values, 3)
    return {label: min(5, 1 + int(5 * (v - low) / (high - low))) for label, v in values.items()}

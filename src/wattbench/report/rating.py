"""Star ratings: 1 to 5 stars in equal bands over the observed range of quality per joule.

As AI Energy Score rates energy alone, in bands over the models it measured, wattbench rates
the efficiency-quality ratio: the band of the best fifth of the observed range gets 5 stars.
Ratings compare within one report only; they are not absolute.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def stars(values: Mapping[K, float]) -> dict[K, int]:
    """label -> 1..5 stars by equal bands between the lowest and the highest value."""
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    if high == low:
        return dict.fromkeys(values, 3)
    return {label: min(5, 1 + int(5 * (v - low) / (high - low))) for label, v in values.items()}

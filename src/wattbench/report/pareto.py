"""The Pareto front: points that no other point beats on both quality (higher) and cost (lower)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def pareto_front(points: Sequence[tuple[float, float, T]]) -> list[T]:
    """Labels of the (quality, cost, label) points on the front, cheapest first."""
    front: list[tuple[float, float, T]] = []
    best_quality = float("-inf")
    for q, cost, label in sorted(points, key=lambda p: (p[1], -p[0])):
        if q > best_quality:  # cheaper points came first: only a better quality earns a place
            front.append((q, cost, label))
            best_quality = q
    return [label for _q, _c, label in front]

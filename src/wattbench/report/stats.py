"""Mean, variance and a 95% confidence interval over a case's runs (bootstrap: runs are few)."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Summary:
    """n values: their mean, sample variance (0 for one value) and 95% CI bounds."""

    n: int
    mean: float
    variance: float
    ci_low: float
    ci_high: float


def summarise(values: Sequence[float], seed: int = 0) -> Summary:
    """The percentile bootstrap CI of the mean; one value gives a zero-width interval."""
    if not values:
        raise ValueError("no values to summarise")
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Summary(1, mean, 0.0, mean, mean)
    rng = random.Random(seed)
    means = sorted(
        statistics.fmean(rng.choices(values, k=len(values))) for _ in range(BOOTSTRAP_SAMPLES)
    )
    low = means[int(0.025 * BOOTSTRAP_SAMPLES)]
    high = means[int(0.975 * BOOTSTRAP_SAMPLES) - 1]
    return Summary(len(values), mean, statistics.variance(values), low, high)

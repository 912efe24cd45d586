"""Mean, variance and a 95% confidence interval over a case's runs, and the tests that decide
whether a change between two saved runs is real.

Every interval names its method (interval_method()), by the number of values n:
- n = 1: no variance and no interval (None, "none: n = 1"); ``[x, x]`` would read as certainty;
- 2 <= n < BOOTSTRAP_MIN_N: ``student-t``, the mean +- t(0.975, n - 1) x s / sqrt(n). A
  percentile bootstrap of so few values is the sample's own spread, not a 95% interval: with 2
  runs it is exactly [min, max], 1/12.7 of the Student-t width (and still ~0.85x it at 10 runs);
- n >= BOOTSTRAP_MIN_N: ``bootstrap-percentile``, BOOTSTRAP_SAMPLES resamples; no assumption about
  the distribution, and by then its narrowness bias is within ~6% of Student-t's width.

Two tests compare the runs of one case: Mann-Whitney U (no assumption about the distribution, but
with 3 runs a side its smallest p is 0.1) and Welch's t-test on log values (assumes roughly
log-normal runs, which timings and energies are; it has power from 2 runs a side). compare.py says
which one decides a row.

A report holds thousands of groups, so the bootstrap is drawn once per sample size as a matrix of
multinomial weights and applied to every group of that size in one matrix product: the same
resamples for every group, which keeps the report deterministic. Student-t intervals are one
vectorised formula per sample size (the quantile from scipy.stats.t).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_MIN_N = 30  # from this many values the percentile bootstrap; fewer: Student-t (see above)
STUDENT_T = "student-t"
BOOTSTRAP = "bootstrap-percentile"
NO_INTERVAL = "none: n = 1"
METHOD_NAMES = {  # what a reader sees beside an interval: the method in words
    STUDENT_T: "Student-t 95% CI of the mean",
    BOOTSTRAP: f"percentile bootstrap 95% CI of the mean ({BOOTSTRAP_SAMPLES} resamples)",
    NO_INTERVAL: "n = 1, no interval",
}
CHUNK_GROUPS = 2048  # groups per matrix product: bounds memory at CHUNK x SAMPLES floats
EXACT_ARRANGEMENTS = 20_000  # up to this many splits the Mann-Whitney p-value is exact


def interval_method(n: int) -> str:
    """The method of the 95% CI of a mean of ``n`` values: STUDENT_T, BOOTSTRAP, or NO_INTERVAL
    for one value (see the module docstring)."""
    if n < 2:
        return NO_INTERVAL
    return STUDENT_T if n < BOOTSTRAP_MIN_N else BOOTSTRAP


@dataclass(frozen=True)
class Summary:
    """n values: their mean, sample variance and 95% CI bounds, both None for one value (one run
    gives no variance and no interval: ``[x, x]`` would read as certainty)."""

    n: int
    mean: float
    variance: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def method(self) -> str:
        """How the interval was computed (interval_method())."""
        return interval_method(self.n)


def summarise(values: Sequence[float], seed: int = 0) -> Summary:
    """The 95% CI of the mean by interval_method(n); one value gives no variance nor interval."""
    return summarise_many([values], seed)[0]


def summarise_many(series: Sequence[Sequence[float]], seed: int = 0) -> list[Summary]:
    """summarise() for each series, batched by length so 100,000 groups take seconds."""
    table = summary_table(series, seed)
    return [
        Summary(int(n), mean, none_if_nan(var), none_if_nan(low), none_if_nan(high))
        for n, mean, var, low, high in table.tolist()
    ]


def none_if_nan(value: float) -> float | None:
    """``value``, or None for the NaN that stands for "no interval" in a summary table."""
    return None if value != value else value


def summary_table(series: Sequence[Sequence[float]], seed: int = 0) -> np.ndarray:
    """summarise() for each series as one float array, a row (n, mean, variance, ci_low, ci_high)
    per series: no Python object per figure, so 300,000 series cost 12 MB, not 50. A series of
    one value has NaN variance and bounds: no interval. The interval's method is
    interval_method(n)."""
    import numpy as np  # lazy: the report's run-files process (report/helper.py) needs none

    out = np.empty((len(series), 5))
    by_length: dict[int, list[int]] = defaultdict(list)
    for index, values in enumerate(series):
        if not len(values):
            raise ValueError("no values to summarise")
        by_length[len(values)].append(index)
    low_k, high_k = int(0.025 * BOOTSTRAP_SAMPLES), int(0.975 * BOOTSTRAP_SAMPLES) - 1
    for n, indices in by_length.items():
        if n < BOOTSTRAP_MIN_N:
            _student_t_rows(series, indices, n, out)
            continue
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n, [1.0 / n] * n, size=BOOTSTRAP_SAMPLES)  # B x n
        # n runs allow at most C(2n-1, n) distinct resamples: compute each mean once and weigh it
        # by how often it was drawn. The order statistics are those of all B.
        unique, drawn = np.unique(counts, axis=0, return_counts=True)
        weights = unique.T / n  # n x U
        for start in range(0, len(indices), CHUNK_GROUPS):
            chunk = indices[start : start + CHUNK_GROUPS]
            matrix = _rows(series, chunk, n)  # groups x n
            means = matrix.mean(axis=1)
            variances = matrix.var(axis=1, ddof=1)
            boot = matrix @ weights  # groups x U
            order = np.argsort(boot, axis=1)
            ranked = np.take_along_axis(boot, order, axis=1)
            cumulative = np.cumsum(drawn[order], axis=1)  # resamples at or below each mean
            rows = np.arange(len(chunk))
            lows = ranked[rows, (cumulative > low_k).argmax(axis=1)]
            highs = ranked[rows, (cumulative > high_k).argmax(axis=1)]
            out[chunk] = np.column_stack([np.full(len(chunk), n), means, variances, lows, highs])
    return out


def _student_t_rows(series: Sequence[Sequence[float]], indices: list[int], n: int, out: np.ndarray) -> None:
    """Rows of ``out`` for the series of ``n`` values at ``indices``: the Student-t 95% CI of the
    mean (n >= 2), or NaN variance and bounds (n = 1: no interval)."""
    import numpy as np

    if n > 1:
        from scipy import stats as scipy_stats  # lazy: ~0.3 s to import

        quantile = float(scipy_stats.t.ppf(0.975, n - 1))
    for start in range(0, len(indices), CHUNK_GROUPS):
        chunk = indices[start : start + CHUNK_GROUPS]
        matrix = _rows(series, chunk, n)
        means = matrix.mean(axis=1)
        if n > 1:
            variances = matrix.var(axis=1, ddof=1)
            half = quantile * np.sqrt(variances / n)
            lows, highs = means - half, means + half
        else:  # one run: no variance, no interval, never a zero-width one
            variances = lows = highs = np.full(len(chunk), np.nan)
        out[chunk] = np.column_stack([np.full(len(chunk), n), means, variances, lows, highs])


def _rows(series: Sequence[Sequence[float]], chunk: list[int], n: int) -> np.ndarray:
    """The chunk's series as a groups x n float array. The accumulator's array("d") series are
    joined as bytes: 20x faster than numpy reading them one float at a time."""
    import numpy as np

    picked = [series[i] for i in chunk]
    doubles = [s for s in picked if isinstance(s, array) and s.typecode == "d"]
    if len(doubles) == len(picked):
        return np.frombuffer(b"".join(doubles), dtype=float).reshape(len(chunk), n)
    return np.array(picked, dtype=float)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test that ``a`` and ``b`` come from one distribution.

    Ties get mid-ranks. The p-value is exact (every split of the pooled ranks) up to
    EXACT_ARRANGEMENTS splits, else the normal approximation with the tie correction. With 3
    runs on each side the smallest possible p is 0.1: a change cannot be significant at 5%.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = sorted((v, side) for side, values in enumerate((a, b)) for v in values)
    ranks: list[float] = [0.0] * len(pooled)
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    rank_sum_a = sum(r for r, (_v, side) in zip(ranks, pooled) if side == 0)
    u = rank_sum_a - n1 * (n1 + 1) / 2
    centre = n1 * n2 / 2
    if math.comb(n1 + n2, n1) <= EXACT_ARRANGEMENTS:
        observed = abs(u - centre)
        extreme = total = 0
        for chosen in itertools.combinations(ranks, n1):
            total += 1
            extreme += abs(sum(chosen) - n1 * (n1 + 1) / 2 - centre) >= observed - 1e-9
        return extreme / total
    counts: dict[float, int] = defaultdict(int)
    for r in ranks:
        counts[r] += 1
    n = n1 + n2
    ties = sum(t**3 - t for t in counts.values())
    sd = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sd == 0:
        return 1.0
    z = (abs(u - centre) - 0.5) / sd  # continuity correction
    return min(1.0, 2 * (1 - statistics.NormalDist().cdf(max(z, 0.0))))


def smallest_mann_whitney_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value Mann-Whitney can give with n1 v n2 values (no ties)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def welch_p(a: Sequence[float], b: Sequence[float], log: bool) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) that ``a`` and ``b`` share a mean.

    With ``log`` the test runs on the natural logs of the values (all must be > 0), so it
    tests the ratio of geometric means, the right scale for speeds, times and energies. Needs
    2 or more values a side. When neither side varies the t statistic is undefined: equal means
    give p = 1, different means p = 0 (every run on each side gave the same figure, as a
    deterministic engine does). Raises ValueError for fewer than 2 values a side or a value
    <= 0 with ``log``. The t-distribution is scipy's (``scipy.stats.ttest_ind``,
    ``equal_var=False``).
    """
    import numpy as np

    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's t-test needs 2 or more values a side, got {len(a)} v {len(b)}")
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if log:
        if (x <= 0).any() or (y <= 0).any():
            raise ValueError("Welch's t-test on logs needs values > 0")
        x, y = np.log(x), np.log(y)
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # exact: a mean of equal floats can be off by an ulp
        return 1.0 if x[0] == y[0] else 0.0
    from scipy import stats as scipy_stats  # lazy: only comparisons need it, and it takes ~0.3 s

    return float(scipy_stats.ttest_ind(x, y, equal_var=False).pvalue)


def sign_flip_p(differences: Sequence[float], seed: int = 0) -> float:
    """Two-sided p-value that paired differences are centred on 0 (a sign-flip permutation test).

    Under no change each case's difference is as likely negative as positive, so every flip of
    signs is an equally likely outcome. Exact up to EXACT_ARRANGEMENTS flips, else that many
    random flips with a fixed seed. Unlike a bootstrap CI it keeps its 5% error rate with few cases.
    """
    n = len(differences)
    if n == 0:
        return 1.0
    observed = abs(sum(differences)) - 1e-12 * (1 + sum(abs(d) for d in differences))
    if 2**n <= EXACT_ARRANGEMENTS:
        flips: Iterable[Sequence[int]] = itertools.product((1, -1), repeat=n)
    else:
        rng = random.Random(seed)
        flips = ([rng.choice((1, -1)) for _ in range(n)] for _ in range(EXACT_ARRANGEMENTS))
    total = extreme = 0
    for signs in flips:
        total += 1
        extreme += abs(sum(s * d for s, d in zip(signs, differences))) >= observed
    if 2**n <= EXACT_ARRANGEMENTS:
        return extreme / total
    return (extreme + 1) / (total + 1)  # a sampled p-value counts the observed flip: never 0


def mean_ci(values: Sequence[float], seed: int = 0) -> tuple[float, float, str] | None:
    """(low, high, method) of the 95% CI of the mean of ``values`` (interval_method()); None for
    fewer than two values."""
    s = summarise(values, seed)
    return None if s.ci_low is None or s.ci_high is None else (s.ci_low, s.ci_high, s.method)

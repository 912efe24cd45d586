"""Human ratings in the report: human_<dimension> per case, inter-rater and judge-human agreement.

Reads ``ratings.sqlite`` (wattbench.rating.store) of each run folder the report is given and
joins its rows to the run's records by the answer's opaque id (wattbench.rating.items.item_id).

- ``human_<dimension>`` of an answer is the mean of its raters' Likert grades (points, 1-5);
  it is added to the answer's record, so results.csv carries it and ``--primary`` can make it
  a task's quality. As a quality it is rescaled to [0, 1]: (grade - 1) / 4
  (wattbench.report.quality).
- human.csv: per case (fingerprint, model, task, load, level, system prompt), for each
  dimension, the mean over every rating of the case's answers (all raters, all runs), its 95%
  percentile bootstrap CI (wattbench.report.stats; ratings of one answer by several raters are
  treated as independent, so the CI is somewhat narrow) and the number of ratings.
- agreement.csv: Krippendorff's alpha per dimension (ordinal, the ``krippendorff`` package;
  needs 2 raters who graded the same answer), and, where the judge graded (judgements.jsonl),
  Spearman's rho between each judge_* grade and the answer's mean human grade, with a 95% CI
  from Fisher's z with the standard error sqrt(1.06 / (n - 3)) of Fieller, Hartley and Pearson
  (1957, Biometrika 44), the usual one for Spearman's rho; needs 4 or more answers. A figure
  that cannot be computed is empty, and its ``note`` says why.
- Beside alpha, percent agreement: the share of pairs of grades of one answer by two raters that
  are equal. Alpha corrects for the agreement chance would give, so when grades crowd on one
  value it can be near 0 while raters almost always agree (the "kappa paradox": Feinstein and
  Cicchetti 1990, J Clin Epidemiol 43); the note says so where alpha < 0.667 (Krippendorff's
  lowest level for tentative conclusions) and percent agreement >= 80%.
- The report page shows, per configuration (model and configuration label, over its tasks), each
  dimension's mean with its CI; the agreement figures with their notes; and, from pairwise pages
  (``wattbench rate --pairwise``), each pair of configurations' win rate per dimension: the
  answer a rater graded higher wins, equal grades are ties and left out of the rate, whose 95%
  CI is Wilson's score interval (scipy.stats.binomtest).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench import axes
from wattbench.errors import ReportInputError
from wattbench.rating.items import item_id
from wattbench.rating.store import Rating, read_ratings
from wattbench.report.runs import read_run
from wattbench.report.stats import summarise_many


def case_keys() -> tuple[str, ...]:
    """What names a rated case: the model's file, every axis, the case id."""
    return ("fingerprint", *axes.record_keys(), "case_id")

JUDGE_KEYS = ("judge_score", "judge_rubric_total", "judge_factuality", "judge_helpfulness", "judge_structure",
              "judge_conciseness")
HUMAN_PREFIX = "human_"
FISHER_SPEARMAN_VARIANCE = 1.06  # Fieller, Hartley and Pearson (1957)
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Agreement:
    """One agreement figure: alpha of a dimension, or rho between a judge key and a dimension."""

    measure: str  # krippendorff_alpha_ordinal or spearman_rho
    dimension: str
    judge_key: str
    items_count: int
    raters_count: int
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    note: str = ""
    percent_agreement: float | None = None  # alpha's: % of pairs of grades of one answer that are equal


@dataclass(frozen=True)
class Preference:
    """Pairwise pages of one dimension: how often ``first``'s answer was graded above ``second``'s."""

    dimension: str
    first: str  # a configuration: "model level..."
    second: str
    wins: int
    losses: int
    ties: int

    @property
    def win_rate(self) -> float | None:
        """wins / (wins + losses), in [0, 1]; None when every comparison was a tie."""
        decided = self.wins + self.losses
        return self.wins / decided if decided else None

    def interval(self) -> tuple[float, float] | None:
        """The win rate's 95% Wilson score interval (scipy), None with no decided comparison."""
        decided = self.wins + self.losses
        if not decided:
            return None
        from scipy.stats import binomtest  # type: ignore[import-untyped,unused-ignore]

        ci = binomtest(self.wins, decided).proportion_ci(0.95, method="wilson")
        return float(ci.low), float(ci.high)


@dataclass
class HumanStudy:
    """The human side of a report: per case rows, agreement figures and each answer's means."""

    dimensions: list[str] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)  # human.csv rows
    agreement: list[Agreement] = field(default_factory=list)  # agreement.csv rows
    answer_means: dict[str, dict[str, float]] = field(default_factory=dict)  # item id -> key -> mean
    configs: list[dict[str, Any]] = field(default_factory=list)  # per configuration: dimension mean, CI, n
    preferences: list[Preference] = field(default_factory=list)  # pairwise pages' win rates
    ratings_count: int = 0
    unmatched_count: int = 0  # ratings of answers no record holds (a rerun replaced them)

    def lines(self) -> list[str]:
        """Summary lines for the report command."""
        if not self.ratings_count:
            return []
        out = [f"human ratings: {self.ratings_count} on {', '.join(self.dimensions)}"
               + (f" ({self.unmatched_count} of answers no longer in the run, left out)"
                  if self.unmatched_count else "")]
        for a in self.agreement:
            what = "alpha" if a.measure.startswith("krippendorff") else f"rho({a.judge_key})"
            value = "n/a" if a.value is None else f"{a.value:.3f}"
            ci = "" if a.ci_low is None or a.ci_high is None else f" [{a.ci_low:.3f}, {a.ci_high:.3f}]"
            note = f" ({a.note})" if a.note else ""
            agree = "" if a.percent_agreement is None else f", {a.percent_agreement:.0f}% agreement"
            out.append(f"  {a.dimension}: {what} = {value}{ci}{agree}, {a.items_count} answers, "
                       f"{a.raters_count} raters{note}")
        return out


def alpha(grades: Mapping[str, Mapping[str, int]], dimension: str) -> Agreement:
    """Krippendorff's alpha (ordinal, values 1-5) of rater -> item -> grade, or None with a note."""
    raters = sorted(grades)
    items = sorted({i for by_item in grades.values() for i in by_item})
    shared = [i for i in items if sum(i in grades[r] for r in raters) >= 2]
    measure = "krippendorff_alpha_ordinal"
    if len(raters) < 2 or not shared:
        return Agreement(measure, dimension, "", len(shared), len(raters), None,
                         note="needs two raters grading the same answer")
    values = {grades[r][i] for r in raters for i in shared if i in grades[r]}
    agree = percent_agreement(grades, shared)
    if len(values) < 2:
        return Agreement(measure, dimension, "", len(shared), len(raters), None,
                         note=f"every grade is {values.pop()}: alpha is undefined without variation",
                         percent_agreement=agree)
    try:
        import krippendorff
    except ImportError:  # the rate extra's: its absence is a note, not a report that fails
        return Agreement(measure, dimension, "", len(shared), len(raters), None,
                         note="needs the krippendorff package: pip install 'wattbench[rate]'")
    import numpy as np

    data = np.array([[grades[r].get(i, np.nan) for i in shared] for r in raters], dtype=float)
    value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                                     value_domain=[1, 2, 3, 4, 5]))
    note = ""
    if value < TENTATIVE_ALPHA and agree >= HIGH_AGREEMENT_PCT:
        note = (f"alpha is low while raters agree on {agree:.0f}% of pairs: the grades crowd on few values, "
                "so the agreement chance would give is high (the kappa paradox); read both")
    return Agreement(measure, dimension, "", len(shared), len(raters), value, note=note,
                     percent_agreement=agree)


TENTATIVE_ALPHA = 0.667  # Krippendorff (2004): the lowest alpha for tentative conclusions
HIGH_AGREEMENT_PCT = 80.0


def percent_agreement(grades: Mapping[str, Mapping[str, int]], items: Sequence[str]) -> float:
    """% of pairs of grades given to one answer (of ``items``) by two raters that are equal."""
    pairs = same = 0
    for item in items:
        given = [by_item[item] for by_item in grades.values() if item in by_item]
        for i, first in enumerate(given):
            for second in given[i + 1:]:
                pairs += 1
                same += first == second
    return 100.0 * same / pairs if pairs else 0.0


def spearman(judge: Sequence[float], human: Sequence[float], dimension: str, judge_key: str,
             raters: int) -> Agreement:
    """Spearman's rho of judge v human grades per answer, with a Fisher-z 95% CI."""
    n, measure = len(judge), "spearman_rho"
    if n < 4:
        return Agreement(measure, dimension, judge_key, n, raters, None,
                         note="needs 4 or more answers both graded")
    if len(set(judge)) < 2 or len(set(human)) < 2:
        side = "judge" if len(set(judge)) < 2 else "human"
        return Agreement(measure, dimension, judge_key, n, raters, None,
                         note=f"every {side} grade is the same: rho is undefined")
    from scipy.stats import spearmanr  # type: ignore[import-untyped,unused-ignore]

    rho = float(spearmanr(judge, human).statistic)
    low = high = None
    if n > 3 and abs(rho) < 1:
        z, se = math.atanh(rho), math.sqrt(FISHER_SPEARMAN_VARIANCE / (n - 3))
        low, high = math.tanh(z - Z_95 * se), math.tanh(z + Z_95 * se)
    note = "" if low is not None else "rho is +-1: no Fisher-z interval"
    return Agreement(measure, dimension, judge_key, n, raters, rho, low, high, note)


def _case_key(record: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(record.get(k)) for k in case_keys())


def human_study(records: Iterable[Mapping[str, Any]], ratings: Sequence[Rating]) -> HumanStudy:
    """The human study of these records and ratings (the records of the rated run folders)."""
    study = HumanStudy(ratings_count=len(ratings))
    if not ratings:
        return study
    by_id = {item_id(r): r for r in records}
    study.dimensions = sorted({r.dimension for r in ratings})
    grades: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))  # dim, rater, item
    for r in ratings:
        if r.item_id in by_id:
            grades[r.dimension][r.rater_id][r.item_id] = r.score
        else:
            study.unmatched_count += 1
    per_answer: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for dim, by_rater in grades.items():
        for by_item in by_rater.values():
            for item, score in by_item.items():
                per_answer[item][dim].append(float(score))
    study.answer_means = {
        item: {HUMAN_PREFIX + dim: statistics.fmean(v) for dim, v in dims.items()}
        for item, dims in per_answer.items()
    }
    # Per case: every rating of every run's answer.
    per_case: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for item, dims in per_answer.items():
        for dim, scores in dims.items():
            per_case[_case_key(by_id[item])][dim].extend(scores)
    for key in sorted(per_case):
        row: dict[str, Any] = dict(zip(case_keys(), key))
        dims = per_case[key]
        names = sorted(dims)
        for dim, s in zip(names, summarise_many([dims[d] for d in names])):
            row.update({f"{HUMAN_PREFIX}{dim}_mean": s.mean, f"{HUMAN_PREFIX}{dim}_ci_low": s.ci_low,
                        f"{HUMAN_PREFIX}{dim}_ci_high": s.ci_high, f"{HUMAN_PREFIX}{dim}_ratings_count": s.n})
        study.cases.append(row)
    study.configs = _config_rows(per_answer, by_id)
    study.preferences = _preferences(ratings, by_id)
    for dim in study.dimensions:
        study.agreement.append(alpha(grades[dim], dim))
    for dim in study.dimensions:
        raters = len(grades[dim])
        for judge_key in JUDGE_KEYS:
            pairs = [
                (float(by_id[item][judge_key]), means[HUMAN_PREFIX + dim])
                for item, means in sorted(study.answer_means.items())
                if HUMAN_PREFIX + dim in means and isinstance(by_id[item].get(judge_key), (int, float))
                and not isinstance(by_id[item].get(judge_key), bool)
            ]
            if pairs:
                judge, human = zip(*pairs)
                study.agreement.append(spearman(judge, human, dim, judge_key, raters))
    return study


def configuration_of(record: Mapping[str, Any]) -> str:
    """An answer's configuration as the page names it: its model and configuration label."""
    return f"{record.get('model')} {axes.configuration(record)}"


def _config_rows(
    per_answer: Mapping[str, Mapping[str, list[float]]], by_id: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per configuration, each dimension's mean grade over its answers' ratings, with the CI."""
    per_config: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for item, dims in per_answer.items():
        for dim, scores in dims.items():
            per_config[configuration_of(by_id[item])][dim].extend(scores)
    rows = []
    for config in sorted(per_config):
        dims = per_config[config]
        names = sorted(dims)
        row: dict[str, Any] = {"config": config}
        for dim, s in zip(names, summarise_many([dims[d] for d in names])):
            row[dim] = (s.mean, s.ci_low, s.ci_high, s.n)
        rows.append(row)
    return rows


def _preferences(ratings: Sequence[Rating], by_id: Mapping[str, Mapping[str, Any]]) -> list[Preference]:
    """Win rates of configuration pairs from pairwise pages: the same rater's grades of the two
    answers on one page, per dimension."""
    given = {(r.rater_id, r.item_id, r.dimension): r.score for r in ratings}
    tally: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # wins, losses, ties
    seen: set[tuple[str, str, str, str]] = set()
    for r in ratings:
        page = r.page_items.split(",")
        if len(page) != 2 or not all(i in by_id for i in page):
            continue
        a, b = sorted(page, key=lambda i: configuration_of(by_id[i]))
        first, second = configuration_of(by_id[a]), configuration_of(by_id[b])
        if first == second or (r.rater_id, a, b, r.dimension) in seen:
            continue
        score_a, score_b = given.get((r.rater_id, a, r.dimension)), given.get((r.rater_id, b, r.dimension))
        if score_a is None or score_b is None:
            continue
        seen.add((r.rater_id, a, b, r.dimension))
        counts = tally[r.dimension, first, second]
        counts[0 if score_a > score_b else 1 if score_a < score_b else 2] += 1
    return [Preference(dim, first, second, *counts) for (dim, first, second), counts in sorted(tally.items())]


def study_of_runs(sources: Sequence[Path]) -> HumanStudy:
    """The human study of the rated run folders among ``sources`` (benchmark JSON files have none)."""
    records: list[dict[str, Any]] = []
    ratings: list[Rating] = []
    for source in sources:
        if source.is_dir():
            found = read_ratings(source)
            if found:
                ratings.extend(found)
                records.extend(read_run(source))
    return human_study(records, ratings)


def parse_primary(spec: str) -> dict[str, str]:
    """``--primary`` as task -> human key ('*' for every task): 'human_correctness' or
    'qa=human_correctness,creative=human_clarity'. Raises ReportInputError naming the bad part."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        task, _, key = part.rpartition("=")
        if not key.startswith(HUMAN_PREFIX) or len(key) == len(HUMAN_PREFIX):
            raise ReportInputError(
                f"--primary {spec!r}: {part!r} names no human score; give human_<dimension> "
                "(e.g. human_correctness) or TASK=human_<dimension>, comma-separated"
            )
        found[task.strip() or "*"] = key
    return found


def with_human(
    records: Iterable[dict[str, Any]], study: HumanStudy, primary: Mapping[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """The records, each with the human_<dimension> means of its answer where it was rated.

    ``primary`` (parse_primary) makes a human score the quality of the tasks it names: their
    records' ``quality_metric`` becomes that key, so an unrated answer has no quality.
    """
    for record in records:
        means = study.answer_means.get(item_id(record)) if study.answer_means else None
        out = {**record, **means} if means else record
        if primary:
            key = primary.get(str(record.get("task"))) or primary.get(str(record.get("task_kind"))) \
                or primary.get("*")
            if key is not None:
                out = {**out, "quality_metric": key}
        yield out


def agreement_rows(study: HumanStudy) -> list[dict[str, Any]]:
    """agreement.csv rows."""
    return [
        {"measure": a.measure, "dimension": a.dimension, "judge_key": a.judge_key,
         "items_count": a.items_count, "raters_count": a.raters_count, "value": a.value,
         "ci_low": a.ci_low, "ci_high": a.ci_high, "percent_agreement": a.percent_agreement, "note": a.note}
        for a in study.agreement
    ]

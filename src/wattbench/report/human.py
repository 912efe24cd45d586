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


@dataclass
class HumanStudy:
    """The human side of a report: per case rows, agreement figures and each answer's means."""

    dimensions: list[str] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)  # human.csv rows
    agreement: list[Agreement] = field(default_factory=list)  # agreement.csv rows
    answer_means: dict[str, dict[str, float]] = field(default_factory=dict)  # item id -> key -> mean
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
            out.append(f"  {a.dimension}: {what} = {value}{ci}, {a.items_count} answers, "
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
    if len(values) < 2:
        return Agreement(measure, dimension, "", len(shared), len(raters), None,
                         note=f"every grade is {values.pop()}: alpha is undefined without variation")
    try:
        import krippendorff
    except ImportError:  # the rate extra's: its absence is a note, not a report that fails
        return Agreement(measure, dimension, "", len(shared), len(raters), None,
                         note="needs the krippendorff package: pip install 'wattbench[rate]'")
    import numpy as np

    data = np.array([[grades[r].get(i, np.nan) for i in shared] for r in raters], dtype=float)
    value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                                     value_domain=[1, 2, 3, 4, 5]))
    return Agreement(measure, dimension, "", len(shared), len(raters), value)


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
         "ci_low": a.ci_low, "ci_high": a.ci_high, "note": a.note}
        for a in study.agreement
    ]

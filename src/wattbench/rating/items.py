"""What raters see: the answers of a run folder, stripped of who and how, and their order.

An *item* is one answer (one successful run record) with the question it answers. Its id is an
opaque hash of (fingerprint, case id, run), so nothing a rater's browser holds names the model,
level or system prompt. A *page* is what one screen shows: one item, or in pairwise mode two
items that answer the same question. Each rater sees the pages in a random order drawn from a
seed of their own, so the order is fixed across reloads and differs between raters; in pairwise
mode the seed also decides which answer stands left.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.errors import ConfigError
from wattbench.records.machine import fingerprint
from wattbench.records.rundir import RunDir

QUESTION_KEY = "question_text"


def item_id(record: Mapping[str, Any]) -> str:
    """The opaque id of a record's answer: 16 hex digits of sha256(fingerprint|case id|run)."""
    fp = record.get("fingerprint") or fingerprint(record)
    raw = f"{fp}|{record.get('case_id')}|{record.get('run', 0)}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Item:
    """One answer to rate: its opaque id, the question and the answer text."""

    id: str
    question: str
    answer: str


def items_of(records: Iterable[Mapping[str, Any]], source: Path) -> list[Item]:
    """The latest successful answer of each (fingerprint, case, run), in id order.

    Raises ConfigError naming the file and field when no record carries the question
    (``question_text``), since an answer cannot be judged without it.
    """
    latest: dict[str, Mapping[str, Any]] = {}
    failed: set[str] = set()
    for record in records:
        if "case_id" not in record:
            continue
        key = item_id(record)
        if "error" in record:
            failed.add(key)
            latest.pop(key, None)
        else:
            failed.discard(key)
            latest[key] = record
    if not latest:
        raise ConfigError(f"{source}: no successful run record to rate")
    missing = [r for r in latest.values() if not str(r.get(QUESTION_KEY) or "").strip()]
    if missing:
        raise ConfigError(
            f"{source}: {len(missing)} of {len(latest)} records carry no {QUESTION_KEY!r} (e.g. case "
            f"{missing[0].get('case_id')!r}), so a rater cannot see the question; rate a run recorded "
            f"by a wattbench that writes {QUESTION_KEY}"
        )
    return sorted(
        (Item(key, str(r[QUESTION_KEY]), str(r.get("output_text") or "")) for key, r in latest.items()),
        key=lambda item: item.id,
    )


def load_items(run_dir: Path) -> list[Item]:
    """The items of a run folder (its results.jsonl)."""
    rundir = RunDir(run_dir)
    if not rundir.results_path.is_file():
        raise ConfigError(f"{run_dir}: holds no results.jsonl; give a run folder (reports/run-...)")
    return items_of(rundir.results().records(), rundir.results_path)


def pages(items: list[Item], pairwise: bool) -> list[tuple[str, ...]]:
    """The pages, as tuples of item ids: one item each, or pairs of answers to one question.

    Pairs are fixed for every rater: a question's answers in id order, taken two by two; an
    odd one out is paired with the answer before it; a question with one answer gets no page.
    """
    if not pairwise:
        return [(item.id,) for item in items]
    by_question: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_question[item.question].append(item.id)
    found: list[tuple[str, ...]] = []
    for ids in by_question.values():
        if len(ids) < 2:
            continue
        found.extend((ids[i], ids[i + 1]) for i in range(0, len(ids) - 1, 2))
        if len(ids) % 2:
            found.append((ids[-2], ids[-1]))
    return sorted(found)


def rater_plan(all_pages: list[tuple[str, ...]], seed: int) -> list[tuple[str, ...]]:
    """One rater's pages: shuffled by ``seed``, each pair's sides swapped at random."""
    rng = random.Random(seed)
    plan = [tuple(rng.sample(page, len(page))) for page in all_pages]
    rng.shuffle(plan)
    return plan

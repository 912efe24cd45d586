"""Quality scorers: each case records every scorer that applies to its task kind.

REGISTRY below is the one list of them, each with what it scores.

To add one: a class with ``name``, ``kinds`` (the task kinds of wattbench.cases.kinds it
applies to), ``applies(case)`` and ``score(case, text)`` (see ``protocol.Scorer``) in its own
module, and one Entry in REGISTRY: the lazy "module:Name" of what makes it, called with no
argument, or, for a scorer with settings of its own, with its options object: one frozen
dataclass of ``wattbench.option.setting(...)`` fields in its module (see ``code.CodeOptions``),
named in the Entry, which makes its ``--wb-*`` options and ``wb_*`` keys. A maker may return a
sentence saying why the scorer is off in this run instead. Every key it returns must be defined
in wattbench.metrics. A conftest adds one without touching this package: its
``pytest_wattbench_make_scorers`` hook returns scorers, each declaring its keys in ``metrics``
(wattbench.metrics.Metric rows).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from wattbench.cases import Case
from wattbench.metrics import register
from wattbench.option import Entry, load
from wattbench.scorers.protocol import Scorer, ScorerOptions

__all__ = ["REGISTRY", "Scorer", "ScorerOptions", "Scorers", "score"]


def _entry(module: str, maker: str, options: str | None = None) -> Entry:
    return Entry(f"wattbench.scorers.{module}:{maker}", options and f"wattbench.scorers.{module}:{options}")


# name -> what makes it (lazy, so weights-backed scorers import nothing until made), in record order.
REGISTRY: dict[str, Entry] = {
    "rouge": _entry("rouge", "RougeScorer"),  # ROUGE-1/2/L F1 against the reference, per script
    "chrf": _entry("chrf", "ChrfScorer"),  # chrF (sacrebleu, 0-100) wherever ROUGE's kinds have one
    "bartscore": _entry("bartscore", "from_options", "BartScoreOptions"),  # answer -> reference, weights
    "code": _entry("code", "from_options", "CodeOptions"),  # compiles and passes the task's tests, sandboxed
    "math": _entry("mathanswer", "MathScorer"),  # the final answer matches the reference numerically
    "diversity": _entry("diversity", "DiversityScorer"),  # distinct-n, length, repetition (creative)
    "fluency": _entry("fluency", "from_options", "FluencyOptions"),  # creative_quality = distinct-2 x fluency
    "answer": _entry("answer", "AnswerScorer"),  # the final answer line names the reference (reasoning)
    "extraction": _entry("extraction", "ExtractionScorer"),  # the answer's JSON object, field by field
    "bertscore": _entry("bertscore", "from_options", "BertScoreOptions"),  # BERTScore F1, local weights
}


def make(name: str, options: ScorerOptions) -> Scorer | str:
    """The registered scorer ``name`` under ``options``, or a sentence saying why it is off."""
    entry = REGISTRY[name]
    maker: Callable[..., Scorer | str] = load(entry.path)
    return maker(options.get(load(entry.options))) if entry.options else maker()


def score(case: Case, text: str, scorers: Sequence[Scorer] | None = None) -> dict[str, Any]:
    """Every applicable scorer's figures for one answer; ``scorers`` None: those REGISTRY makes
    under default options (every scorer that needs no local weights)."""
    if scorers is None:
        scorers = Scorers.open(ScorerOptions()).scorers
    figures: dict[str, Any] = {}
    for scorer in scorers:
        if scorer.applies(case):
            figures.update(scorer.score(case, text))
    return figures


class Scorers:
    """The run's scorers, the notes on those that are off, and the cases none applies to."""

    def __init__(self, scorers: Sequence[Scorer], notes: Sequence[str] = ()) -> None:
        self.scorers = tuple(scorers)
        self.notes = list(notes)
        self.unscored: Counter[str] = Counter()  # task -> cases no scorer applied to
        self.degraded: list[str] = []  # what scorers the selected cases need cannot do here

    @classmethod
    def open(cls, options: ScorerOptions, extra: Sequence[Scorer] = ()) -> Scorers:
        """Every registered scorer that these options allow, then ``extra`` (a conftest's, from
        the pytest_wattbench_make_scorers hook: the record keys each declares in ``metrics``
        are defined with wattbench.metrics.register); notes for the scorers that are off."""
        made = [make(name, options) for name in REGISTRY]
        for scorer in extra:
            register(*getattr(scorer, "metrics", ()))
        scorers = [m for m in made if not isinstance(m, str)] + list(extra)
        return cls(scorers, [m for m in made if isinstance(m, str)])

    def check_ready(self, cases: Sequence[Case]) -> list[str]:
        """Ready the scorers that these (selected) cases need; a note for each that cannot do all
        its work here (e.g. code tests without a sandbox), kept in ``degraded`` for the banner
        and the summary. Never raises: an optional piece degrades, it does not stop the run."""
        self.degraded = []
        for scorer in self.scorers:
            ready = getattr(scorer, "ready", None)
            if callable(ready) and any(scorer.applies(case) for case in cases):
                note = ready()
                if isinstance(note, str) and note:
                    self.degraded.append(note)
        return self.degraded

    def applicable(self, case: Case) -> list[str]:
        """The names of the scorers that apply to ``case``."""
        return [s.name for s in self.scorers if s.applies(case)]

    def count_unscored(self, cases: Sequence[Case]) -> None:
        """Count, per task, the cases no quality scorer applies to (for the run summary); code
        without tests still has its compile check."""
        self.unscored = Counter(
            case.task for case in cases if not case.is_code and not self.applicable(case)
        )

    def score(self, case: Case, text: str) -> dict[str, Any]:
        """Every applicable scorer's figures for one answer."""
        return score(case, text, self.scorers)

    def summary_lines(self) -> list[str]:
        """Notes on scorers that are off or degraded, and the unscored cases per task."""
        degraded = list(self.degraded)
        for scorer in self.scorers:  # a user's own test (wb_measure) may score code too
            ready = getattr(scorer, "ready", None)
            note = ready() if getattr(scorer, "skipped", 0) and callable(ready) else None
            if isinstance(note, str) and note and note not in degraded:
                degraded.append(note)
        lines = [f"quality: {note}" for note in (*self.notes, *degraded)]
        for scorer in self.scorers:  # what a scorer did not score, e.g. a sentence for an exact answer
            summary = getattr(scorer, "summary", None)
            said = summary() if callable(summary) else None
            if isinstance(said, str) and said:
                lines.append(f"quality: {said}")
        lines += [
            f"quality: {n} case{'s' if n != 1 else ''} of task {task!r}: no quality scorer applies "
            "(give a reference, tests, or a \"kind\" in its file)"
            for task, n in sorted(self.unscored.items())
        ]
        return lines

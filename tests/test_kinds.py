"""The task-kind table: names files use map to kinds, and kinds choose the scorers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case
from wattbench.cases.kinds import KINDS, kind_of, primary_metric
from wattbench.cases.questions import load_questions
from wattbench.cases.sources import from_questions
from wattbench.scorers import ScorerOptions, Scorers

MT_BENCH = Path(__file__).parents[2] / "shared" / "data" / "mt_bench" / "question.jsonl"
MODEL = ModelRef("m", "m.gguf")


@pytest.mark.parametrize(
    ("name", "kind"),
    [("knowledge_qa", "qa"), ("creative_writing", "creative"), ("writing", "creative"),
     ("code_generation", "code"), ("coding", "code"), ("programming", "code"), ("stem", "math"),
     ("roleplay", "roleplay"), ("Role-Play", "roleplay"), ("qa", "qa"), ("summary", "summary"),
     ("humanities", "humanities"), ("my_own_task", "general")],
)
def test_names_map_to_kinds(name: str, kind: str) -> None:
    assert kind_of(name) == kind


def test_a_declared_kind_wins_and_a_bad_one_is_refused() -> None:
    assert kind_of("faq", "qa") == "qa"
    assert kind_of("faq", "coding") == "code"
    with pytest.raises(ValueError, match="unknown kind 'poetry'"):
        kind_of("faq", "poetry")


def test_every_kind_has_a_primary_metric_that_a_scorer_produces() -> None:
    assert {primary_metric(k) for k in KINDS} <= {
        "rouge_l", "code_tests_passed", "math_correct", "creative_quality", "answer_correct",
        "extraction_field_accuracy",
    }


@pytest.mark.skipif(not MT_BENCH.is_file(), reason="../shared/data/mt_bench is not beside the repo")
def test_mt_bench_coding_gets_the_code_checks_and_writing_the_diversity_scores() -> None:
    cases, _ = from_questions([MODEL], load_questions(MT_BENCH), ("L0",), ("padding",), Sampling())
    scorers = Scorers.open(ScorerOptions())
    coding = next(c for c in cases if c.task == "coding")
    writing = next(c for c in cases if c.task == "writing")
    assert coding.is_code  # its answer's code is compiled and recorded as code_compiles
    assert "diversity" in scorers.applicable(writing)
    assert "distinct_2" in scorers.score(writing, "one two three one two four")


def test_a_case_file_entry_can_declare_its_kind(tmp_path: Path) -> None:
    from wattbench.cases.casefile import parse_case_file

    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"model": "all", "prompt": "p", "task_type": "faq", "kind": "qa",
                                 "reference_text": "r"}]), encoding="utf-8")
    (entry,) = parse_case_file(path)
    assert entry.kind == "qa"


def test_unscored_cases_are_counted_per_task() -> None:
    scorers = Scorers.open(ScorerOptions())
    cases = [Case(MODEL, "foo", "short", f"L{i}", "p", Sampling()) for i in range(3)]
    scorers.count_unscored(cases)
    assert "quality: 3 cases of task 'foo': no quality scorer applies" in scorers.summary_lines()[-1]

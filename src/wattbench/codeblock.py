"""Code in a model's answer: find the fenced block, check that it parses."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = ("python", "py", "python3")


def extract_code(text: str) -> str | None:
    """The first ```python block, else the first fenced block; None when there is no fence.

    A block cut off by max_tokens (no closing fence) is returned as far as it goes.
    """
    blocks: list[tuple[str, str]] = [(tag.lower(), body) for tag, body in _FENCE.findall(text)]
    for tag, body in blocks:
        if tag in _PYTHON_TAGS:
            return body
    return blocks[0][1] if blocks else None


@dataclass(frozen=True)
class CompileCheck:
    """Whether an answer's code parses, and why not."""

    ok: bool
    reason: str
    code: str | None


def check_compiles(text: str) -> CompileCheck:
    """ast.parse the extracted code block of ``text``."""
    code = extract_code(text)
    if code is None:
        return CompileCheck(False, "the answer holds no fenced code block", None)
    if not code.strip():
        return CompileCheck(False, "the code block is empty", code)
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return CompileCheck(False, f"SyntaxError: {exc.msg} (line {exc.lineno})", code)
    except ValueError as exc:  # e.g. null bytes in the source
        return CompileCheck(False, f"ValueError: {exc}", code)
    return CompileCheck(True, "parses", code)

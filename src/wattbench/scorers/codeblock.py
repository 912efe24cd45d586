"""Code in a model's answer: find the fenced block that is the answer, check that it parses.

Which block is the answer: models often write a draft, then a fixed version, then a usage
example. The answer is the **last** block that defines the task's entry point (HumanEval's
``entry_point``), outside any ``<think>...</think>``. Among the blocks, ``python``-tagged ones
are preferred, then untagged ones, then any; without an entry point to look for, the last
block that defines a function or class stands for it, else the last block.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from wattbench.knobs.reasoning import answer_only

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = ("python", "py", "python3")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _defined(code: str) -> set[str] | None:
    """Top-level names a block defines (def, class, assignment); None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, _DEFINITIONS):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _defines(code: str, name: str | None) -> bool:
    names = _defined(code)
    if names is None:  # a block cut off by max_tokens still counts if it starts the definition
        wanted = re.escape(name) if name else r"\w+"
        pattern = rf"^(?:async[ \t]+)?(?:def|class)[ \t]+{wanted}\b"
        return re.search(pattern, code, re.MULTILINE) is not None
    if name is None:
        tree = ast.parse(code)
        return any(isinstance(node, _DEFINITIONS) for node in tree.body)
    return name in names


def blocks(text: str) -> list[tuple[str, str]]:
    """``(tag, body)`` of every fenced block outside thinking, in order; tags lower-cased."""
    return [(tag.lower(), body) for tag, body in _FENCE.findall(answer_only(text))]


def _candidates(found: Sequence[tuple[str, str]]) -> list[str]:
    python = [body for tag, body in found if tag in _PYTHON_TAGS]
    untagged = [body for tag, body in found if not tag]
    return python or untagged or [body for _tag, body in found]


def extract_code(text: str, entry_point: str | None = None) -> str | None:
    """The answer's code: the last candidate block that defines ``entry_point`` (or, without
    one, any function or class), else the last candidate block; None when there is no fence.

    A block cut off by max_tokens (no closing fence) is returned as far as it goes.
    """
    candidates = _candidates(blocks(text))
    if not candidates:
        return None
    defining = [body for body in candidates if _defines(body, entry_point)]
    return (defining or candidates)[-1]


@dataclass(frozen=True)
class CompileCheck:
    """Whether an answer's code parses, and why not."""

    ok: bool
    reason: str
    code: str | None


def check_compiles(text: str, entry_point: str | None = None) -> CompileCheck:
    """ast.parse the answer's code block of ``text`` (see :func:`extract_code`)."""
    code = extract_code(text, entry_point)
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

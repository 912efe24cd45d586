"""Finding and parsing the code in an answer."""

from __future__ import annotations

import pytest

from wattbench.scorers.codeblock import check_compiles, extract_code


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("Here:\n```python\nx = 1\n```\nDone.", "x = 1\n"),
        ("```\nprint(2)\n```", "print(2)\n"),
        ("```js\nlet a\n```\n```py\ny = 2\n```", "y = 2\n"),
        ("```python\ndef f():\n    return 1", "def f():\n    return 1"),  # cut by max_tokens
        ("no code at all", None),
    ],
)
def test_extract_code(answer: str, code: str | None) -> None:
    assert extract_code(answer) == code


def test_compiles_or_says_why() -> None:
    assert check_compiles("```python\ndef f(x):\n    return x\n```").ok
    broken = check_compiles("```python\ndef f(x)\n    return x\n```")
    assert not broken.ok and broken.reason.startswith("SyntaxError") and "line 1" in broken.reason
    assert check_compiles("just words").reason == "the answer holds no fenced code block"
    assert check_compiles("```python\n\n```").reason == "the code block is empty"

"""Code: the answer's code block must compile, then pass the task's unit tests in the sandbox.

pass@k uses the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), over the n
runs of a case (each with its own seed) of which c passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import comb
from typing import Any

from wattbench.cases import Case
from wattbench.codeblock import check_compiles
from wattbench.scorers.sandbox import Limits, run_python


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples out of n (c of them correct) passes."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, not n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


class CodeScorer:
    """code_tests_passed (1.0 or 0.0: pass@1 of this run) and code_test_error (why not)."""

    name = "code"

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def applies(self, case: Case) -> bool:
        """Code cases whose task item carries unit tests."""
        return case.is_code and bool(case.extra.get("tests"))

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """Run the answer's code and the tests in the sandbox."""
        compiled = check_compiles(text)
        if not compiled.ok or compiled.code is None:
            return {"code_tests_passed": 0.0, "code_test_error": compiled.reason}
        tests = str(case.extra["tests"])
        helper = str(case.extra.get("setup", ""))
        sources = {"solution.py": (helper + "\n" + compiled.code) if helper else compiled.code}
        sources["tests.py"] = tests
        result = run_python(sources, self.limits)
        figures: dict[str, Any] = {"code_tests_passed": float(result.passed)}
        if not result.passed:
            figures["code_test_error"] = result.reason
        return figures

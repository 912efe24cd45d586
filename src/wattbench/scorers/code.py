"""Code: the answer's code block must compile, then pass the task's unit tests in the sandbox.

pass@k uses the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), over the n
runs of a case (each with its own seed) of which c passed.

Where no sandbox can run here (bubblewrap missing or unable to create namespaces) and the run did
not opt into the weaker guard (--wb-unsafe-code), the run goes on: answers are still compiled
(``code_compiles``), their tests are not run, ``code_tests_passed`` is null (never 0; pass@k is
left out, as it is for a case whose runs were not all tested) and ``code_tests_skipped_reason``
says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import comb
from typing import Any

from wattbench.cases import Case
from wattbench.errors import SandboxUnavailableError
from wattbench.option import on_off, setting
from wattbench.scorers import bwrap
from wattbench.scorers.codeblock import check_compiles
from wattbench.scorers.sandbox import Limits, Sandbox, make_sandbox


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples out of n (c of them correct) passes."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, not n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


@dataclass(frozen=True)
class CodeOptions:
    """The code scorer's setting: whether the weak in-process guard may stand in for bubblewrap."""

    unsafe_code: bool = setting("unsafe-code", on_off, "where bubblewrap cannot isolate model-written code, "
                                "run it anyway under the weaker in-process guard (recorded as code_sandbox: "
                                "guard): on/off; alone it means on (default: off: the tests of code answers "
                                "are not run, their pass figures null)", "off", bare="on")


def from_options(options: CodeOptions) -> CodeScorer:
    """The scorer (scorers/__init__.py's registry makes it so)."""
    return CodeScorer(unsafe_code=options.unsafe_code)


class CodeScorer:
    """code_tests_passed (1.0 or 0.0: pass@1 of this run), code_test_error (why not),
    code_sandbox (which sandbox ran it) and code_suspicious (what the answer did to the harness);
    or, with no sandbox here, only code_tests_skipped_reason.

    ``sandbox``: the one to use; by default ``make_sandbox(unsafe_code)`` on the first answer.
    Where bubblewrap cannot run and ``unsafe_code`` is False, ``untested`` says why and the
    tests are skipped (``skipped`` counts the answers).
    """

    name = "code"
    kinds = frozenset({"code"})

    def __init__(
        self, limits: Limits | None = None, sandbox: Sandbox | None = None, unsafe_code: bool = False
    ) -> None:
        self.limits = limits or Limits()
        self.unsafe_code = unsafe_code
        self._sandbox = sandbox
        self._untested: str | None = None  # why the tests cannot run, once a sandbox failed
        self.skipped = 0  # answers whose tests were not run

    @property
    def untested(self) -> str | None:
        """Why the tests cannot run here (no sandbox and no --wb-unsafe-code), or None."""
        if self._untested is None and self._sandbox is None and not self.unsafe_code:
            return bwrap.problem()
        return self._untested

    def ready(self) -> str | None:
        """Choose the sandbox now; or a note, for the banner and summary, on why the tests of
        code answers will not run here (the run goes on)."""
        if self.untested is None:
            try:
                _ = self.sandbox
            except SandboxUnavailableError as exc:
                self._untested = exc.problem
        why = self.untested
        if why is None:
            return None
        return (
            "code answers are compiled but their tests are not run (code_tests_passed and "
            f"code_pass_at_k are null; --wb-unsafe-code runs them under a weaker guard): {why}"
        )

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox answers run in (chosen on first use; see ``make_sandbox``)."""
        if self._sandbox is None:
            self._sandbox = make_sandbox(self.unsafe_code)
        return self._sandbox

    def applies(self, case: Case) -> bool:
        """Code cases whose task item carries unit tests."""
        return case.kind in self.kinds and bool(case.extra.get("tests"))

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """Run the task's setup, the answer's code (as a module), then the tests, in the sandbox;
        with no sandbox here, a null code_tests_passed and why the tests did not run."""
        if self.untested is not None:
            self.skipped += 1
            return {"code_tests_passed": None, "code_tests_skipped_reason": self.untested}
        compiled = check_compiles(text, case.extra.get("entry_point"))
        if not compiled.ok or compiled.code is None:
            return {"code_tests_passed": 0.0, "code_test_error": compiled.reason}
        tests = str(case.extra["tests"])
        setup = str(case.extra.get("setup", ""))
        try:
            result = self.sandbox.run(compiled.code, tests, setup, self.limits)
        except SandboxUnavailableError as exc:  # e.g. as root, no Python the nobody user may run
            self._untested = exc.problem
            self.skipped += 1
            return {"code_tests_skipped_reason": exc.problem}
        figures: dict[str, Any] = {"code_tests_passed": float(result.passed), "code_sandbox": result.sandbox}
        if not result.passed:
            figures["code_test_error"] = result.reason
        if result.suspicious:
            figures["code_suspicious"] = result.suspicious
        return figures

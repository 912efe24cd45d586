"""What a run folder already holds: a rerun skips every case whose runs all finished there
under the same settings.

The key is built only from settings that every backend records: the backend's name and the
sampling (max_tokens, temperature, top_p, seed of the run). The context size counts where the
record carries it (in-process engines); a server's record does not, and is not held against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wattbench.cases import Case
from wattbench.records.results import ResultsFile


class Resume:
    """The finished runs of a run folder, read once at start-up."""

    def __init__(
        self, results: ResultsFile, backend: str, context_tokens: int, runs: int,
        retry_contended: bool = False,
    ) -> None:
        self._finished = results.finished_runs()
        self._backend = backend
        self._context_tokens = context_tokens
        self._runs = runs
        self._retry_contended = retry_contended  # --wb-contended rerun: a contended run is not done

    def expected(self, case: Case, run: int) -> dict[str, Any]:
        """The settings a finished record of ``case``'s run must match to count."""
        return {"backend": self._backend, **case.run_sampling(run).record()}

    def matches(self, record: Mapping[str, Any], case: Case, run: int) -> bool:
        """Whether ``record`` was made under the settings this run would use."""
        expected = self.expected(case, run)
        if any(record.get(key) != value for key, value in expected.items()):
            return False
        if self._retry_contended and record.get("contended"):
            return False
        recorded_ctx = record.get("context_tokens")
        return recorded_ctx is None or recorded_ctx == self._context_tokens

    def records(self, case: Case) -> list[dict[str, Any]]:
        """The finished records of ``case``'s runs, in run order (those done() found)."""
        runs = self._finished.get(case.id, {})
        return [runs[run] for run in range(self._runs) if run in runs]

    def done(self, case: Case) -> bool:
        """Whether every run of ``case`` is already in the folder under the same settings."""
        runs = self._finished.get(case.id, {})
        return all(run in runs and self.matches(runs[run], case, run) for run in range(self._runs))

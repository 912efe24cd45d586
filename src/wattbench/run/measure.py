"""Users' own tests, measured like the built-in cases: the ``wb_measure`` fixture's callable.

A test names its case's parts with ``@pytest.mark.wattbench(task=, load=, level=)``; the case id
is then model-task-load-level (wattbench.ids), so ``-k``, the report and compare treat it like
a built-in case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wattbench.backends.protocol import Message
from wattbench.cases import Case
from wattbench.ids import id_part
from wattbench.records.record import Record
from wattbench.run.pool import HeldModel

if TYPE_CHECKING:
    from wattbench.session import WattbenchSession


def user_case_parts(test_name: str, parts: Mapping[str, Any]) -> tuple[str, str, str]:
    """(task, load, level) of a user's test, from its wattbench marker's keywords: task
    defaults to the test's name without ``test_``, load to ``user``, level to ``L0``."""
    task = id_part(str(parts.get("task") or test_name.removeprefix("test_")), "test", task=True)
    load = id_part(str(parts.get("load") or "user"), "user")
    level = id_part(str(parts.get("level") or "L0"), "L0")
    return task, load, level


def user_case_id(model: str, test_name: str, parts: Mapping[str, Any]) -> str:
    """The case id of a user's test: model-task-load-level (wattbench.ids)."""
    return "-".join((model, *user_case_parts(test_name, parts)))


class Measure:
    """The wb_measure fixture's callable: one generation of a user's prompt, measured and saved."""

    def __init__(self, session: WattbenchSession, test_name: str, parts: Mapping[str, Any],
                 benchmark: Any) -> None:
        self.session = session
        self.test_name = test_name
        self.parts = parts
        self.benchmark = benchmark
        self.calls = 0

    def __call__(
        self, model: HeldModel, prompt: str | Sequence[Message], *, task: str | None = None,
        reference: str | None = None, tests: str | None = None, entry_point: str | None = None,
        max_tokens: int | None = None,
    ) -> Record:
        """Generate once for ``prompt`` (a string, or chat messages) on ``model``; returns the
        record, already appended to results.jsonl. Fails the test (pytest.fail) when the model
        could not load or the generation failed; the failure is recorded too."""
        parts = {**self.parts, **({"task": task} if task else {})}
        task_part, load, level = user_case_parts(self.test_name, parts)
        chat = tuple(prompt) if not isinstance(prompt, str) else ()
        text = prompt if isinstance(prompt, str) else next(
            (str(m.get("content", "")) for m in reversed(chat) if m.get("role") == "user"), "")
        extra = {k: v for k, v in (("tests", tests), ("entry_point", entry_point)) if v is not None}
        sampling = self.session.settings.sampling
        if max_tokens is not None:
            sampling = dataclasses.replace(sampling, max_tokens=max_tokens)
        case = Case(model.ref, task_part, load, level, text, sampling, reference, extra, chat=chat)
        # pytest-benchmark's fixture times one call per test: later calls run outside it.
        benchmark = self.benchmark if self.calls == 0 else _Untimed()
        self.calls += 1
        return Record(self.session.measure(case, benchmark, model, runs=1))


class _Untimed:
    """Stands in for pytest-benchmark's fixture on a test's second and later measurements."""

    enabled = False

    def __init__(self) -> None:
        self.extra_info: dict[str, Any] = {}

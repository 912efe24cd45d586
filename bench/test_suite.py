"""The benchmark suite: `pytest bench/` runs every (model, task, load, level) case.

Cases, models and settings come from the --wb-* options and pytest.ini (see docs/settings.md). The
wb_model fixture loads each model once (setup) and frees it after its last case (teardown). Each
case is measured first and recorded (results.jsonl, pytest-benchmark's extra_info), and only
then are its invariants asserted, so a failing check never loses a measurement.
"""

from __future__ import annotations

from typing import Any

from wattbench.cases import Case, PromptGroup
from wattbench.run.pool import HeldModel
from wattbench.session import WattbenchSession


def test_prompt_growth(
    wb_prompt_group: PromptGroup, wb_model: HeldModel, wattbench: WattbenchSession
) -> None:
    """Prompt tokens grow strictly L0 < L1 < L2 < L3 < P in the model's own tokenizer."""
    wattbench.check_growth(wb_prompt_group, wb_model)


def test_case(wb_case: Case, wb_model: HeldModel, wattbench: WattbenchSession, benchmark: Any) -> None:
    """Generate, record, then check: code answers must compile."""
    record = wattbench.measure(wb_case, benchmark, wb_model)
    wattbench.check_answer(wb_case, record)

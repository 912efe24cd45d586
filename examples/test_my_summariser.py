"""A user's own test, measured the way wattbench measures its built-in cases.

Run it beside the suite, on the same models and into the same run folder:

    pytest examples/ bench/ -k summarise --wb-model default --wb-run-dir reports/mine

or copy it into a folder of your own and run ``pytest test_my_summariser.py`` there: the
built-in tasks come with the package, and the records go to reports/run-<time> in that folder.

``wb_model`` is the run's model (loaded once, warmed up, freed after its last test), once per
--wb-model; ``wb_measure`` runs one generation under the same energy window, timing and scorers
as a built-in case, appends the record to results.jsonl (so `wattbench report` and `wattbench
compare` and their gates see it) and returns it for your assertions.
"""

from __future__ import annotations

import pytest

ARTICLE = (
    "The city council voted on Tuesday to extend the night bus network to three new districts. "
    "The service starts in March, runs every 30 minutes between midnight and 5 a.m., and is paid "
    "for by a small rise in parking fees in the city centre."
)
REFERENCE = "The council extended night buses to three districts from March, funded by parking fees."


def summarise(measure, model, text: str):  # your own pipeline step: here, one prompt
    return measure(model, f"Summarise in one sentence:\n\n{text}", reference=REFERENCE, max_tokens=64)


@pytest.mark.wattbench(task="summary", load="short", level="L0")
def test_summarise_is_good_enough_and_cheap(wb_model, wb_measure) -> None:
    record = summarise(wb_measure, wb_model, ARTICLE)
    assert record.completion_tokens > 0
    assert record.quality["rouge_l"] >= 0.05  # a floor for a 135M model; raise it for yours
    assert record.ttft_s is not None and record.ttft_s < 5.0

"""Extending wattbench from a conftest alone: a toy axis, backend, energy source and scorer.

The "Extending" table (docs/extending.md) says which files each kind of extension touches; here every one
lives in a single conftest.py beside a copy of the suite, and the package is not touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TOYS = '''
import time

from wattbench.axes import VARIANT, Axis
from wattbench.backends.protocol import Generation, ModelRef
from wattbench.metrics import Metric
from wattbench.monitors.protocol import Channel, Poll
from wattbench.options import add_axis


def pytest_addoption(parser):
    add_axis(parser, Axis("toy_knob", VARIANT, "a toy knob the toy backend turns", suffix_of="level",
                          default="off", configuration=True, prefix="t", option="toy-knob"))


class ToyModel:
    load_s = 0.0
    metadata = {}

    def __init__(self, ref):
        self.ref = ref

    def count_prompt_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def generate(self, messages, sampling, output=None):
        start = time.perf_counter()
        text = "Lyon, said hot." if sampling.knobs.get("toy_knob") == "hot" else "Paris"
        time.sleep(0.02)
        return Generation(text, self.count_prompt_tokens(messages), 5, start, start + 0.001,
                          start + 0.015, time.perf_counter(), "stop", {})

    def close(self):
        pass


class ToyBackend:
    name = "toy"
    engine_version = "toy 1.0"

    def resolve(self, spec):
        return [ModelRef("toymodel", f"toy:{spec}")]

    def load(self, ref, options):
        return ToyModel(ref)


class ToyMeter:
    name = "toymeter"
    method = "integrated"
    resolution_s = 0.001
    description = "toymeter: a 50 W board"
    channels = (Channel("board", "board", "power"),)

    def poll(self):
        return Poll({"board": 50.0})

    def close(self):
        pass


class ToyScorer:
    name = "toyscore"
    kinds = ("qa",)
    metrics = (Metric("toy_paris", "score", "1 when the answer names Paris"),)

    def applies(self, case):
        return case.kind == "qa"

    def score(self, case, text):
        return {"toy_paris": float("Paris" in text)}


def pytest_wattbench_make_backend(name, settings):
    if name == "toy":
        return ToyBackend()


def pytest_wattbench_make_energy_source(name, options):
    if name == "toymeter":
        return ToyMeter()


def pytest_wattbench_make_scorers(options):
    return [ToyScorer()]
'''


def records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_a_conftest_adds_an_axis_a_backend_an_energy_source_and_a_scorer(suite: pytest.Pytester) -> None:
    suite.makeconftest(TOYS)
    run_dir = suite.path / "run"
    result = suite.runpytest_subprocess(
        "bench/", "-k", "qa and short and L0", "--wb-backend", "toy", "--wb-energy", "toymeter",
        "--wb-toy-knob", "off,hot", "--wb-run-dir", str(run_dir), "--wb-report", "on",
        "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*energy: toymeter: a 50 W board*"])
    by_knob = {r["toy_knob"]: r for r in records(run_dir)}
    assert set(by_knob) == {"off", "hot"}
    off, hot = by_knob["off"], by_knob["hot"]
    assert off["case_id"] == "toymodel-qa-short-L0" and hot["case_id"] == "toymodel-qa-short-L0+thot"
    assert (off["output_text"], hot["output_text"]) == ("Paris", "Lyon, said hot.")  # the knob was turned
    assert (off["toy_paris"], hot["toy_paris"]) == (1.0, 0.0)  # the conftest's scorer scored both
    for record in (off, hot):
        assert record["backend"] == "toy" and record["energy_source"] == "toymeter"
        # 50 W over the window: the source's joules reached the record, divided by one generation.
        assert record["energy_j"] == pytest.approx(50.0 * record["energy_window_s"], rel=1e-6)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "L0+thot" in page  # the report labels the configuration by the new axis


def test_an_unknown_energy_source_stops_the_run_at_start_up(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("bench/", "--wb-energy", "ipmi", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown energy source 'ipmi'*pytest_wattbench_make_energy_source*"])

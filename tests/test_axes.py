"""The axes table: case ids, labels, groups, back-fills and the judge's pairing all read it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wattbench import axes
from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case, PromptGroup
from wattbench.cases.sources import with_variants
from wattbench.records.record import labels
from wattbench.report import compare, human, study, tables, workbook

CASE = Case(ModelRef("smollm2-135m", "p"), "知识问答", "short", "L0", "prompt", Sampling())


def test_case_ids_keep_their_grammar() -> None:
    assert CASE.id == "smollm2-135m-u65fcf69f-short-L0"
    assert replace(CASE, task="qa").id == "smollm2-135m-qa-short-L0"
    assert replace(CASE, task="qa", system_name="engineered").id == "smollm2-135m-qa+engineered-short-L0"
    group = PromptGroup(CASE.model, "qa", "short", {}, system_name="engineered")
    assert group.id == "smollm2-135m-qa+engineered-short"


def test_a_record_is_labelled_with_every_axis() -> None:
    record = labels(CASE, 0)
    assert {key: record[key] for key in axes.record_keys()} == {
        "model": "smollm2-135m", "task": "知识问答", "load": "short", "level": "L0",
        "system_prompt": "default", "concurrency": "none", "reasoning": "default",
        "gpu_power_limit": "none", "gpu_clocks": "none",
    }


def test_every_report_key_reads_the_table() -> None:
    keys = axes.record_keys()
    assert ("fingerprint", *keys, "energy_boundary") == study.group_keys() == study.Accumulator().keys
    assert ("fingerprint", *keys, "case_id") == human.case_keys()
    assert tables.labels()[3:-1] == keys
    assert workbook.detail()[: len(keys)] == keys
    one = {"model": "m", "task": "qa", "load": "short", "level": "L0", "latency_s": 1.0}
    side = compare._values([one, {**one, "system_prompt": "x"}], ["latency_s"])
    assert len(side.values) == 2  # every axis tells cases apart in compare, the system prompt too


def test_older_records_get_each_axis_default() -> None:
    old = {"model": "m", "task": "qa", "load": "short", "level": "L0"}
    axes.backfill(old)
    assert old["system_prompt"] == "default"


def test_the_configuration_label_names_values_off_their_default() -> None:
    assert axes.configuration({"level": "L2", "system_prompt": "default"}) == "L2"
    assert axes.configuration({"level": "L2", "system_prompt": "engineered"}) == "L2+engineered"
    assert axes.configuration({"level": "L2"}) == "L2"  # an older record


def test_pairwise_judging_pairs_within_every_axis_but_the_model() -> None:
    other = replace(CASE, model=ModelRef("qwen", "q"))
    assert axes.pairing_key(CASE) == axes.pairing_key(other)
    assert axes.pairing_key(CASE) != axes.pairing_key(replace(CASE, system_name="engineered"))


TOY = axes.Axis("toy_knob", axes.VARIANT, "a toy axis", suffix_of="level", default="off",
                configuration=True, prefix="t", option="toy-knob")


def test_a_registered_axis_runs_every_case_at_each_value(monkeypatch) -> None:
    monkeypatch.setattr(axes, "_AXES", [*axes.all_axes()])  # the table as it was, after the test
    axes.register(TOY)
    axes.register(TOY)  # the same row again (a conftest loaded twice) is no error
    plain = axes.Axis("plain_knob", axes.VARIANT, "no suffix_of given", default="a", option="plain-knob")
    axes.register(plain)
    axes.register(plain)  # filled in the same way both times
    assert axes.by_key()["plain_knob"].suffix_of == "level"
    later = replace(CASE, task="qa", load="t2", previous=replace(CASE, task="qa").id)
    cases = with_variants([replace(CASE, task="qa"), later], {"toy_knob": ("off", "hot")})
    assert [c.id for c in cases] == [
        "smollm2-135m-qa-short-L0", "smollm2-135m-qa-t2-L0",
        "smollm2-135m-qa-short-L0+thot", "smollm2-135m-qa-t2-L0+thot",
    ]
    assert cases[3].previous == "smollm2-135m-qa-short-L0+thot"  # a conversation stays at its value
    assert cases[3].sampling.knobs == {"toy_knob": "hot"}  # what a backend reads
    assert labels(cases[3], 0)["toy_knob"] == "hot"
    assert axes.configuration({"level": "L0", "toy_knob": "hot"}) == "L0+thot"
    assert axes.configuration({"level": "L0", "concurrency": "4"}) == "L0+c4"
    assert axes.pairing_key(cases[0]) != axes.pairing_key(cases[2])
    assert with_variants([CASE], {"toy_knob": ("off",)}) == [CASE]  # the default alone: as before


def test_an_axis_that_clashes_or_has_no_option_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(axes, "_AXES", [*axes.all_axes()])
    with pytest.raises(ValueError, match="'task' is already defined"):
        axes.register(replace(TOY, key="task"))
    with pytest.raises(ValueError, match="needs an option"):
        axes.register(replace(TOY, option=""))

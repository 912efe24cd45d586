"""The axes table: case ids, labels, groups, back-fills and the judge's pairing all read it."""

from __future__ import annotations

from dataclasses import replace

from wattbench import axes
from wattbench.backends.protocol import ModelRef, Sampling
from wattbench.cases import Case, PromptGroup
from wattbench.record import labels
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
    assert {key: record[key] for key in axes.KEYS} == {
        "model": "smollm2-135m", "task": "知识问答", "load": "short", "level": "L0",
        "system_prompt": "default",
    }


def test_every_report_key_reads_the_table() -> None:
    assert compare.CASE == axes.KEYS
    assert ("fingerprint", *axes.KEYS) == study.GROUP
    assert ("fingerprint", *axes.KEYS, "case_id") == human.CASE
    assert tables.LABELS[3:-1] == axes.KEYS
    assert workbook.DETAIL[: len(axes.KEYS)] == axes.KEYS


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

"""Contended records change conclusions only visibly (issue: conclusions that hold).

On a shared machine the report once said L2 costs 0.52x L0's energy; the clean records alone
say the opposite. A group with clean records is summarised from them; a group with only
contended ones is marked wherever it appears; the page and findings.md state the share."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from studyrecords import record, write_run

from wattbench.floors import parse_floors
from wattbench.report.build import write_report
from wattbench.report.findings import best_per_task, cheapest_lines


def _study(tmp_path: Path) -> Path:
    records = []
    for run in range(3):
        records.append(record("a", "qa", "short", "L0", run, energy_j=302.0, latency_s=3.0, rouge_l=0.4))
        records.append(record("a", "qa", "short", "L2", run, energy_j=346.0, latency_s=3.5, rouge_l=0.4))
        # Measured while something else ran: cheap and fast-looking, the figures that inverted it.
        records.append(record("a", "qa", "short", "L2", 3 + run, energy_j=50.0, latency_s=9.0,
                              rouge_l=0.4, contended=True))
        records.append(record("a", "qa", "short", "P", run, energy_j=481.0, latency_s=5.0, rouge_l=0.4,
                              contended=True))
    return write_run(tmp_path / "run", records)


def test_comparisons_follow_the_clean_records_and_the_page_says_how_much_was_contended(
    tmp_path: Path,
) -> None:
    written = write_report([_study(tmp_path)], tmp_path / "out")
    configs = {r["config"]: r for r in written.study.configs}
    assert configs["L0"]["energy_j"] == 302.0
    assert configs["L2"]["energy_j"] == 346.0  # mixed in, the contended runs made it 198 J
    assert not configs["L2"]["contended_only"] and configs["P"]["contended_only"]
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    contention = written.study.contention
    assert (contention.records, contention.excluded, contention.only) == (6, 3, 1)
    # 6 of 12 records; time 3 x 9 s + 3 x 5 s = 42 of 61.5 s; joules 150 + 1443 = 1593 of 3537.
    assert "6 of 12 records were contended" in page and "68% of the time and 45% of the joules" in page
    assert "1 group has only contended records" in page
    assert "P (contended)" in page or 'P <span class="warn">(contended)</span>' in page
    findings = (tmp_path / "out" / "findings.md").read_text(encoding="utf-8")
    assert findings.startswith("## Before reading these figures\n\n- 6 of 12 records were contended")
    lines = best_per_task(written.study)
    assert lines and "contended records only" not in lines[0]  # the best is a clean configuration
    stats = {r["level"]: r for r in csv.DictReader((tmp_path / "out" / "stats.csv").open(encoding="utf-8"))}
    assert stats["P"]["contended_only"] == "True" and stats["L2"]["contended_only"] == "False"


def test_the_report_names_the_cheapest_configuration_at_the_quality_needed(tmp_path: Path) -> None:
    records = []
    for run in range(3):  # rouge_l: L0 0.30 (+-0.01), L1 0.50, L2 0.52; energy: L0 < L1 < L2
        for level, q, joules in (("L0", 0.30, 100.0), ("L1", 0.50, 200.0), ("L2", 0.52, 400.0)):
            records.append(record("a", "qa", "short", level, run, energy_j=joules + run,
                                  latency_s=joules / 100, rouge_l=q + 0.01 * (run - 1)))
    run_dir = write_run(tmp_path / "run", records)
    floors = parse_floors("qa:rouge_l>=0.45, summary:rouge_l>=0.9, qa:rouge_l<=0.99")
    written = write_report([run_dir], tmp_path / "out", quality_floors=floors)
    assert written.floors == {"qa": 0.45}
    findings = (tmp_path / "out" / "findings.md").read_text(encoding="utf-8")
    assert "## What is the cheapest configuration at the quality I need?" in findings
    assert "- qa: a at L1 is the cheapest at rouge_l >= 0.45: 201.00 J" in findings
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<h2>The quality I need</h2>" in page and "0.45 (yours)" in page
    assert cheapest_lines(written.study, {"qa": 0.9}) == [
        "qa: no configuration's rouge_l reaches 0.9 with 95% confidence (its lower CI bound, from 3 "
        "or more clean runs per case)."
    ]


def test_a_configuration_mixing_one_run_and_three_run_groups_has_no_interval_and_no_floor(
    tmp_path: Path,
) -> None:
    # qa short L0: three clean runs at 0.9; qa long L0: one clean run at 0.1 (two contended).
    records = [record("m", "qa", "short", "L0", run, rouge_l=0.9 + 0.001 * run) for run in range(3)]
    records.append(record("m", "qa", "long", "L0", 0, rouge_l=0.1))
    records += [record("m", "qa", "long", "L0", run, rouge_l=0.1, contended=True) for run in (1, 2)]
    written = write_report([write_run(tmp_path / "run", records)], tmp_path / "out",
                           quality_floors=parse_floors("qa:rouge_l>=0.8"))
    (config,) = written.study.configs
    assert config["quality"] == pytest.approx(0.5005)
    assert config["quality_ci_low"] is None and config["quality_ci_high"] is None  # never [0.9, 0.9]
    assert cheapest_lines(written.study, written.floors)[0].startswith("qa: no configuration's rouge_l")

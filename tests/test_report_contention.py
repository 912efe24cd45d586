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


def _svgs(page: str, title: str) -> list[str]:
    """The <svg> charts of the page whose title starts with ``title``."""
    return [chunk.split("</svg>")[0] for chunk in page.split("<svg")[1:]
            if f"<title>{title}" in chunk.split("</svg>")[0][:400]]


def test_a_contended_only_configuration_is_marked_on_every_chart(tmp_path: Path) -> None:
    records = []
    for task in ("qa", "summary", "humanities"):
        for run in range(2):
            records.append(record("a", task, "short", "L0", run, energy_j=300.0 + run, rouge_l=0.4))
            records.append(record("a", task, "short", "L1", run, energy_j=350.0 + run, rouge_l=0.5))
            records.append(record("a", task, "short", "P", run, energy_j=480.0 + run, rouge_l=0.6,
                                  contended=True))
    written = write_report([write_run(tmp_path / "run", records)], tmp_path / "out")
    assert {o["config"] for o in written.study.overall if o["contended_only"]} == {"P"}
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    charts = {
        "Pareto": _svgs(page, "Quality vs energy: Pareto") + _svgs(page, "Quality vs latency: Pareto"),
        "levels": _svgs(page, "Quality vs prompt level") + _svgs(page, "Energy vs prompt level")
        + _svgs(page, "Latency vs prompt level"),
        "radar": _svgs(page, "a: normalised quality per task"),
        "heatmap": _svgs(page, "Quality per joule"),
    }
    assert [len(v) for v in charts.values()] == [2, 3, 1, 1]
    for kind, found in charts.items():
        for chart in found:
            # A visible mark (hollow or dashed, class contended), its legend line, and only for P.
            assert 'class="contended"' in chart or 'contended"' in chart, kind
            assert "contended records only</text>" in chart, kind
            assert "(contended records only)" in chart, kind  # the mark's tooltip
    pareto = charts["Pareto"]
    assert all('class="tag">a P †</text>' in c and 'class="tag">a L0</text>' in c for c in pareto)
    assert 'a P †</text>' in charts["heatmap"][0] and ">P †</text>" in charts["radar"][0]


def test_a_two_run_interval_names_its_method_on_the_page_and_in_stats_csv(tmp_path: Path) -> None:
    records = [record("a", "qa", "short", "L0", run, energy_j=100.0 + 2 * run) for run in range(2)]
    write_report([write_run(tmp_path / "run", records)], tmp_path / "out")
    (stats,) = list(csv.DictReader((tmp_path / "out" / "stats.csv").open(encoding="utf-8")))
    # 100 and 102: mean 101, s = sqrt(2), t(0.975, 1) = 12.706: 101 +- 12.706, not [100, 102].
    assert (stats["energy_j_n"], stats["energy_j_ci_method"]) == ("2", "student-t")
    assert float(stats["energy_j_ci_low"]) == pytest.approx(101 - 12.706, abs=1e-3)
    assert float(stats["energy_j_ci_high"]) == pytest.approx(101 + 12.706, abs=1e-3)
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<td>101 [88.3, 114] (Student-t, n = 2)</td>" in page
    assert "[100, 102]" not in page

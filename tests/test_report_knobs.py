"""The knob question in the report: per model and task, the reasoning state and the power cap (or
clock) point with the best quality per joule at the reader's floor, their Pareto front, and the
caps that never fired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studyrecords import record, write_run

from wattbench.floors import parse_floors
from wattbench.report.build import write_report

# (reasoning, cap) -> (ROUGE-L of runs 0-2, J per case, sw_power_cap samples of 40): thinking buys
# quality at three times the joules; the 200 W cap binds and saves a fifth; 600 W never fires.
POINTS: dict[tuple[str, str], tuple[tuple[float, ...], float, int]] = {
    ("off", "none"): ((0.49, 0.50, 0.51), 100.0, 0),
    ("off", "200"): ((0.47, 0.48, 0.49), 80.0, 31),
    ("off", "600"): ((0.49, 0.50, 0.51), 101.0, 0),
    ("high", "none"): ((0.69, 0.70, 0.71), 300.0, 0),
    ("high", "200"): ((0.65, 0.66, 0.67), 240.0, 38),
    ("high", "600"): ((0.69, 0.70, 0.71), 302.0, 0),
}


def knob_records() -> list[dict[str, Any]]:
    out = []
    for (state, cap), (scores, joules, capped) in POINTS.items():
        suffix = f"+r{state}" + ("" if cap == "none" else f"+pl{cap}")
        for run, score in enumerate(scores):
            out.append(record(
                run=run, case_id=f"m-qa-short-L0{suffix}", reasoning=state, gpu_power_limit=cap,
                energy_j=joules + run, rouge_l=score, gpu_power_cap_active_count=capped,
                gpu_clock_event_samples_count=40, gpu_power_limit_w=700.0 if cap == "none" else float(cap),
                **({} if cap == "none" else {"gpu_power_cap_bound": capped > 0}),
            ))
    return out


def test_the_report_names_the_best_knob_point_at_the_floor_and_draws_its_front(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", knob_records())
    floors = parse_floors("qa:rouge_l>=0.6")
    written = write_report([run], tmp_path / "out", texts=False, quality_floors=floors)
    findings = (written.out_dir / "findings.md").read_text(encoding="utf-8")
    section = findings[findings.index("## Which reasoning state and GPU setting"):]
    answer = next(line for line in section.splitlines() if line.startswith("- m on qa:") and "best" in line)
    # Only high reaches 0.6 with confidence; of its points the binding 200 W cap has the most quality per J.
    assert "reasoning high, power cap 200 W (L0+rhigh+pl200)" in answer and "rouge_l >= 0.6" in answer
    front = answer[answer.index("Pareto front"):]
    assert front.index("L0+roff+pl200") < front.index("L0+rhigh+pl200")  # cheapest first
    assert "L0+rhigh+pl600" not in front and "L0+roff+pl600" not in front  # no better, and dearer
    never = next(line for line in section.splitlines() if "never fired" in line)
    assert "the 600 W cap never fired" in never and "same GPU as the uncapped one" in never
    page = (written.out_dir / "report.html").read_text(encoding="utf-8")
    part = page[page.index("<h2>Reasoning, power cap and clocks</h2>"):]
    assert "<h3>m · qa (floor 0.6)</h3>" in part and "Quality vs energy by knob: m · qa" in part
    row = next(r for r in part.split("<tr>") if "L0+rhigh+pl200" in r)
    assert "★" in row and "◆" in row  # the answer, and on the front
    assert "never: as uncapped" in next(r for r in part.split("<tr>") if "L0+roff+pl600" in r)


def test_without_a_floor_the_best_ratio_is_named_and_the_floor_asked_for(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", knob_records())
    written = write_report([run], tmp_path / "out", texts=False)
    findings = (written.out_dir / "findings.md").read_text(encoding="utf-8")
    answer = next(line for line in findings.splitlines() if line.startswith("- m on qa:") and "best" in line)
    assert "reasoning off, power cap 200 W (L0+roff+pl200)" in answer
    assert "with no floor given (--wb-quality-floor qa:rouge_l>=X)" in answer


def test_a_study_without_knobs_says_nothing_of_them(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [record(run=r) for r in range(3)])
    written = write_report([run], tmp_path / "out", texts=False)
    assert "GPU setting" not in (written.out_dir / "findings.md").read_text(encoding="utf-8")
    page = (written.out_dir / "report.html").read_text(encoding="utf-8")
    assert "Reasoning, power cap and clocks" not in page

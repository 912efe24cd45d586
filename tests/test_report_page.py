"""What report.html shows (issue 17.2): warnings first, every scatter point labelled with its model
and level, a legend of both, error bars from the CIs, the efficiency table with CIs, and stars
marked provisional below rating.PROVISIONAL_RUNS runs per case."""

from __future__ import annotations

import re
from pathlib import Path

from studyrecords import record, write_run

from wattbench.report.build import write_report
from wattbench.report.rating import PROVISIONAL_RUNS


def _study(tmp_path: Path, runs: int, **extra: object) -> str:
    design = {("a", "L0"): (0.4, 100.0), ("a", "L1"): (0.6, 300.0), ("b", "L0"): (0.5, 50.0),
              ("b", "L1"): (0.2, 40.0)}
    run = write_run(tmp_path / "run", [
        record(model, task, "short", level, r, rouge_l=q * (1 + 0.05 * r), energy_j=e * (1 + 0.1 * r),
               latency_s=e / 50, decode_tokens_per_s=20.0 + r, ttft_s=0.25, energy_per_token_j=e / 100,
               **extra)
        for (model, level), (q, e) in design.items() for task in ("qa", "summary") for r in range(runs)
    ])
    write_report([run], tmp_path / "out")
    return (tmp_path / "out" / "report.html").read_text()


def test_points_are_labelled_and_the_legend_lists_models_and_levels(tmp_path: Path) -> None:
    page = _study(tmp_path, runs=3)
    pareto = page[page.index("<h2>Pareto fronts</h2>"):page.index("<h2>Prompt levels</h2>")]
    first = pareto[:pareto.index("</svg>")]
    tags = re.findall(r'<text [^>]*class="tag">([^<]*)</text>', first)
    assert sorted(tags) == ["a L0", "a L1", "b L0", "b L1"]
    legend = re.findall(r'<text [^>]*class="l">([^<]*)</text>', first)
    assert legend == ["a", "b", "L0", "L1"]  # colours for models, shapes for levels
    assert first.count("<circle") >= 2 and first.count("<rect") >= 3  # L0 circles, L1 squares + swatches
    # Error bars: 3 runs give CIs of non-zero width on both axes for every point.
    assert len(re.findall(r'class="bar"', first)) == 8
    assert "95% CI" in first


def test_the_efficiency_table_gives_each_figure_with_its_ci(tmp_path: Path) -> None:
    page = _study(tmp_path, runs=3)
    table = page[page.index("<h2>Efficiency</h2>"):page.index("<h2>Pareto fronts</h2>")]
    for head in ("decode tokens/s [95% CI]", "TTFT s [95% CI]", "J/token [95% CI]", "energy method"):
        assert head in table
    # Decode speeds 20, 21, 22 over the runs of each task: mean 21, s = 1, a Student-t 95% CI of
    # 21 +- 4.303 / sqrt(3) = +-2.484 per task (t(0.975, 2) = 4.303, from the tables). Two tasks
    # combined in quadrature: 21 +- sqrt(2 x 2.484^2) / 2 = +-1.757, so [19.2, 22.8]. (A percentile
    # bootstrap of 3 runs gave the runs' own range and called it 95%.)
    cells = re.findall(r"<td>21 \[([0-9.]+), ([0-9.]+)\] \(Student-t, combined, n = 3\)</td>", table)
    assert cells == [("19.2", "22.8")] * 4
    assert table.count("<td>measured</td>") == 4


def test_warnings_come_first_and_single_runs_make_stars_provisional(tmp_path: Path) -> None:
    page = _study(tmp_path, runs=1, energy_method="estimated")
    top = page[: page.index("<h2>")]
    assert "Energy here is an estimate" in top
    assert f"stars resting on fewer than {PROVISIONAL_RUNS} runs per case are provisional" in top
    ratings = page[page.index("<h2>Ratings</h2>"):page.index("<h2>Efficiency</h2>")]
    assert ratings.count('class="stars prov"') == 4 * 3  # 4 configurations x (2 tasks + overall)
    assert "?</span>" in ratings


def test_no_tag_or_title_runs_past_its_chart() -> None:
    from wattbench.report import svg

    points = [svg.Point(1.0, 0.5, "a", "a", True, tag="smollm2-135m-instruct.q4_1 L0", kind="L0"),
              svg.Point(100.0, 1.0, "b", "b", True, tag="smollm2-135m-instruct.q4_1 L3", kind="L3")]
    chart = svg.scatter("Quality vs energy: Pareto front", points, "J per case", "normalised quality")
    tags = re.findall(r'<text x="([\d.]+)" y="([\d.]+)"( text-anchor="end")? class="tag">([^<]*)<', chart)
    for x, y, end, text in tags:
        right_edge = float(x) if end else float(x) + len(text) * svg.TAG_EM
        assert right_edge <= svg.WIDTH and float(y) >= svg.TOP - 6, (x, y, text)
    assert any(end for _x, _y, end, _text in tags)  # the rightmost point's tag turned left
    radar = svg.radar("A radar of a model with a long name across every task", ["qa", "summary", "code"],
                      {"m": [0.5, 0.6, 0.7]})
    assert 'lengthAdjust="spacingAndGlyphs"' in radar  # squeezed into its frame, not clipped


def test_a_points_tooltip_never_shows_a_zero_width_interval() -> None:
    from wattbench.report import svg

    point = svg.Point(3.0, 0.5, "a L0", "a", True, tag="a L0", kind="L0", x_ci=(2.0, 4.0), y_ci=None)
    chart = svg.scatter("t", [point], "J", "q")
    assert "95% CI 2..4, no interval" in chart and "0.5..0.5" not in chart

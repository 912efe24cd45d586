"""What an energy figure counted (energy_boundary), --wb-pue, carbon at a stated grid intensity, and
the refusal to rank, compare or gate energy across boundaries (issue 27, part 2 and 5)."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from studyrecords import record, write_run
from test_plugin import records, run_suite

from wattbench.monitors.boundary import LEGACY, boundary, of_record, refusal
from wattbench.monitors.carbon import CarbonOptions
from wattbench.monitors.figures import energy_figures
from wattbench.monitors.idle import Idle
from wattbench.monitors.meter import Meter
from wattbench.monitors.protocol import Channel, Poll
from wattbench.report.build import write_report
from wattbench.report.compare import compare, comparison_lines, exit_code
from wattbench.report.gates import EXIT_INPUT, REFUSED, is_energy, parse_gates
from wattbench.report.runs import read_run


@pytest.mark.parametrize(
    ("domains", "pue", "expected"),
    [
        (["gpu"], None, "accelerator"),
        (["cpu", "gpu", "dram", "gpu"], None, "accelerator+cpu_package+dram"),
        (["gpu", "cpu"], 1.09, "accelerator+cpu_package*pue=1.09"),
        (["board"], 1.0, "board"),  # a PUE of 1 changes nothing, and says nothing
        (["ane", "cpu", "gpu"], None, "accelerator+ane+cpu_package"),
        (["nic", "gpu"], None, "accelerator+nic"),  # a conftest's domain, after the known parts
    ],
)
def test_the_boundary_names_what_was_counted(domains: list[str], pue: float | None, expected: str) -> None:
    assert boundary(domains, pue) == expected


@pytest.mark.parametrize(
    ("older", "expected"),
    [
        ({"energy_source": "nvml"}, "accelerator"),
        ({"energy_source": "nvml+rapl", "energy_components_j": {"nvml:gpu0": 1, "rapl:package-0": 1,
                                                                "rapl:dram-0": 1}},
         "accelerator+cpu_package+dram"),
        ({"energy_source": "jetson", "energy_components_j": {"jetson:VDD_IN": 1, "jetson:VDD_SOC": 1}},
         "board"),
        ({"energy_source": "rapl"}, LEGACY),  # package alone, or with DRAM: the record does not say
        ({"energy_source": "mine", "energy_components_j": {"mine:x": 1}}, LEGACY),
        ({"latency_s": 1.0}, None),  # no energy at all
    ],
)
def test_records_older_than_the_key_have_the_boundary_their_channels_imply(
    older: dict[str, object], expected: str | None
) -> None:
    assert of_record(older) == expected


class _Counter:
    name = "gpu"
    method = "measured"
    resolution_s = 0.001
    description = "a GPU counter"
    channels = (Channel("gpu0", "gpu", "counter"),)

    def __init__(self) -> None:
        self.joules = 0.0

    def poll(self) -> Poll:
        self.joules += 25.0  # 250 W at 10 Hz
        return Poll({"gpu0": self.joules})

    def close(self) -> None:
        """Nothing to release."""


def _ticks() -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += 0.1


def _figures(**kwargs: object) -> dict[str, object]:
    ticks = _ticks()
    meter = Meter([_Counter()], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(19):
        meter.poll()
    idle = Idle(power_w=50.0, sd_w=0.0, duration_s=1.0, chunks_count=10, channels_w={"gpu:gpu0": 50.0})
    return energy_figures(meter, meter.end(window), [(100, 120), (100, 120)], idle, **kwargs)  # type: ignore[arg-type]


def test_pue_multiplies_every_energy_figure_and_the_boundary_says_so() -> None:
    plain, times = _figures(), _figures(pue=1.09)
    assert plain["energy_boundary"] == "accelerator" and times["energy_boundary"] == "accelerator*pue=1.09"
    assert plain["energy_j"] == pytest.approx(250.0)  # 500 J over 2 s, two generations
    for key in ("energy_j", "energy_per_token_j", "gpu_energy_j", "energy_net_j", "energy_net_per_token_j"):
        assert times[key] == pytest.approx(1.09 * plain[key]), key  # type: ignore[operator]
    assert times["energy_components_j"] == {"gpu:gpu0": pytest.approx(1.09 * 250.0)}
    assert times["idle_power_w"] == plain["idle_power_w"] == 50.0  # the device's own, as measured


def test_a_stated_grid_intensity_adds_carbon_per_generation_and_per_token() -> None:
    figures = _figures(carbon=CarbonOptions(grid_gco2e_per_kwh=400.0))
    assert figures["grid_intensity_gco2e_per_kwh"] == 400.0
    assert figures["carbon_gco2e"] == pytest.approx(250.0 / 3.6e6 * 400.0)  # about 0.028 g
    assert figures["carbon_per_token_gco2e"] == pytest.approx(2.5 / 3.6e6 * 400.0)
    assert "carbon_embodied_gco2e" not in figures  # operational only
    embodied = _figures(carbon=CarbonOptions(400.0, embodied_gco2e_per_h=36.0))
    assert embodied["carbon_embodied_gco2e"] == pytest.approx(36.0 * 1.0 / 3600)  # 1 s of 2 s each
    with_pue = _figures(pue=1.5, carbon=CarbonOptions(grid_gco2e_per_kwh=400.0))
    assert with_pue["carbon_gco2e"] == pytest.approx(1.5 * figures["carbon_gco2e"])  # type: ignore[operator]


def test_energy_figures_are_what_a_boundary_bounds() -> None:
    assert all(is_energy(m) for m in ("energy_j", "energy_per_token_j", "tokens_per_j", "carbon_gco2e",
                                      "quality_per_j", "gpu_energy_j"))
    assert not any(is_energy(m) for m in ("decode_tokens_per_s", "ttft_s", "rouge_l", "quality"))
    assert refusal(["accelerator", None, "accelerator"], "rank energy") is None


def _run(tmp_path: Path, name: str, bound: str, speed: float, joules: float) -> Path:
    rng = random.Random(name)
    return write_run(tmp_path / name, [
        record("m", "qa", f"load{c}", "L0", r, energy_boundary=bound,
               decode_tokens_per_s=speed * rng.uniform(0.98, 1.02),
               energy_per_token_j=joules * rng.uniform(0.98, 1.02))
        for c in range(6) for r in range(4)
    ])


def test_compare_refuses_energy_across_boundaries_and_says_so(tmp_path: Path) -> None:
    base = _run(tmp_path, "base", "accelerator", 100.0, 2.0)
    new = _run(tmp_path, "new", "accelerator+cpu_package+dram", 80.0, 3.0)  # more counted: more J
    gates = parse_gates("energy_per_token_j:+10%,decode_tokens_per_s:-5%")
    comparison = compare(read_run(base), read_run(new), gates=gates)
    lines = comparison_lines(comparison)
    refused = [line for line in lines if line.startswith("REFUSED")]
    assert refused and "accelerator; accelerator+cpu_package+dram" in refused[0]
    assert "does not compare or gate energy across them" in refused[0]
    assert not [r for r in comparison.rows if r.metric == "energy_per_token_j"]  # never ranked
    energy, speed = comparison.gates
    assert energy.status == REFUSED and len(energy.refused) == 6
    assert "REFUSED on 6, energy counted within different boundaries" in energy.describe()
    assert speed.status == "FAIL"  # decode speed is no energy figure: still gated
    assert exit_code(comparison) == 1  # a failure first; without it...
    only_energy = compare(read_run(base), read_run(new), gates=parse_gates("energy_per_token_j:+10%"))
    assert exit_code(only_energy) == EXIT_INPUT and exit_code(only_energy, "warn") == EXIT_INPUT


def test_compare_within_one_boundary_gates_energy_as_before(tmp_path: Path) -> None:
    base = _run(tmp_path, "base", "accelerator*pue=1.2", 100.0, 2.0)
    new = _run(tmp_path, "new", "accelerator*pue=1.2", 100.0, 3.0)
    comparison = compare(read_run(base), read_run(new), gates=parse_gates("energy_per_token_j:+10%"))
    assert comparison.gates[0].status == "FAIL" and not comparison.refused
    assert not [line for line in comparison_lines(comparison) if line.startswith("REFUSED")]


def test_the_study_ranks_energy_only_within_a_boundary(tmp_path: Path) -> None:
    # Model a counted only its GPU; b its GPU and CPU: b's joules are not comparable with a's.
    design = {("a", "L0"): (0.5, 100.0, "accelerator"), ("a", "L1"): (0.6, 300.0, "accelerator"),
              ("b", "L0"): (0.5, 150.0, "accelerator+cpu_package"),
              ("b", "L1"): (0.6, 160.0, "accelerator+cpu_package")}
    run = write_run(tmp_path / "run", [
        record(model, "qa", "short", level, r, rouge_l=q, energy_j=e * (1 + 0.01 * r), energy_boundary=b)
        for (model, level), (q, e, b) in design.items() for r in range(3)
    ])
    written = write_report([run], tmp_path / "out")
    configs = {(r["system"], r["level"]): r for r in written.study.configs}
    # Within each boundary its own best gets 5 stars: the two are never set against each other.
    assert configs["a", "L0"]["stars"] == 5 and configs["b", "L1"]["stars"] == 5
    assert configs["a", "L0"]["ratio_share"] == pytest.approx(1.0)
    assert configs["b", "L1"]["ratio_share"] == pytest.approx(1.0)
    assert {r["energy_boundary"] for r in written.study.groups} == {"accelerator", "accelerator+cpu_package"}
    page = (tmp_path / "out" / "report.html").read_text()
    assert "does not rank energy across them" in page[: page.index("<h2>")]
    findings = (tmp_path / "out" / "findings.md").read_text()
    assert "[accelerator] best ratio" in findings and "[accelerator+cpu_package] best ratio" in findings


def test_one_model_under_two_boundaries_is_two_systems(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [
        record("m", "qa", "short", "L0", r, energy_boundary=b)
        for b in ("accelerator", "board") for r in range(2)
    ])
    written = write_report([run], tmp_path / "out")
    assert {g["system"] for g in written.study.groups} == {"m[accelerator]", "m[board]"}


def test_sci_csv_gives_carbon_per_token_operational_unless_embodied_is_given(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [
        record("m", "qa", "short", level, r, energy_j=360.0, completion_tokens=100,
               energy_boundary="accelerator", carbon_gco2e=360.0 / 3.6e6 * 500.0,
               grid_intensity_gco2e_per_kwh=500.0,
               **({"carbon_embodied_gco2e": 0.01} if level == "L1" else {}))
        for level in ("L0", "L1") for r in range(2)
    ])
    written = write_report([run], tmp_path / "out")
    assert "sci.csv" in written.files
    rows = {r["level"]: r for r in csv.DictReader((tmp_path / "out" / "sci.csv").open())}
    assert rows["L0"]["scope"] == "operational" and rows["L1"]["scope"] == "operational+embodied"
    assert float(rows["L0"]["sci_gco2e_per_token"]) == pytest.approx(0.05 / 100)  # 0.1 Wh x 500 g/kWh
    assert float(rows["L1"]["sci_gco2e_per_token"]) == pytest.approx((0.05 + 0.01) / 100)
    assert float(rows["L0"]["grid_intensity_gco2e_per_kwh"]) == pytest.approx(500.0)
    assert rows["L0"]["energy_boundary"] == "accelerator"
    assert rows["L0"]["functional_unit"] == "completion token"


def test_no_carbon_no_sci_csv(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [record("m", "qa", "short", "L0", r) for r in range(2)])
    assert "sci.csv" not in write_report([run], tmp_path / "out").files


def test_a_run_s_every_record_carries_its_boundary_pue_and_carbon(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
        "--wb-levels", "L0,L1",
        "--wb-run-dir", str(run_dir), "--wb-energy", "estimate", "--wb-energy-min-window", "0.3",
        "--wb-pue", "1.2", "--wb-grid-intensity", "300", "--wb-report", "on",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*energy: boundary cpu_package*pue=1.2 (every record's energy_boundary)*"])
    saved = records(run_dir)
    assert len(saved) == 2
    for info in saved:
        assert info["energy_boundary"] == "cpu_package*pue=1.2"
        assert info["carbon_gco2e"] == pytest.approx(info["energy_j"] / 3.6e6 * 300)
        assert info["carbon_per_token_gco2e"] == pytest.approx(info["energy_per_token_j"] / 3.6e6 * 300)
        assert "energy_cadence_s" not in info  # the estimate has no update cadence
    assert data["wattbench"]["energy"]["energy_boundary"] == "cpu_package*pue=1.2"
    assert (run_dir / "sci.csv").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--wb-pue", "0.9", "*'0.9' must be between 1.0 and 10.0*"),
     ("--wb-grid-intensity", "lots", "*'lots' is not a number*")],
)
def test_bad_pue_and_grid_intensity_name_the_value(
    suite: pytest.Pytester, option: str, value: str, message: str
) -> None:
    result = suite.runpytest("bench", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])

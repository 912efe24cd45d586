"""AMD GPUs through a fake of the amdsmi module that raises amdsmi's own exception classes
(tests/fakeamdsmi.py), and the installed amdsmi package where ROCm is absent (this machine)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator

import fakeamdsmi
import pytest
from fakeamdsmi import AMDSMI_STATUS_BUSY, AMDSMI_STATUS_NOT_SUPPORTED, FakeAmdGpu, FakeAmdSmi

from wattbench.errors import EnergySourceError
from wattbench.monitors import SourceOptions, open_sources
from wattbench.monitors.amdsmi import energy_j, import_amdsmi, open_amdsmi
from wattbench.monitors.figures import energy_figures
from wattbench.monitors.meter import Meter

ISSUE_38_UJ = 1_004_108.41  # ROCm/amdsmi#38: the raw count 65628 is 1,004,108.41 uJ
ISSUE_38_RESOLUTION_UJ = ISSUE_38_UJ / 65628  # about 15.3 uJ per count


def _ticks(step: float = 0.1) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += step


def test_the_fake_has_the_real_amdsmi_signatures() -> None:
    folder = fakeamdsmi.package_dir()
    if folder is None:
        pytest.skip("the amdsmi package is not installed (pip install amdsmi)")
    tree = ast.parse((folder / "amdsmi_interface.py").read_text())
    real = {f.name: [a.arg for a in f.args.args] for f in tree.body if isinstance(f, ast.FunctionDef)}
    for name, fake in inspect.getmembers(FakeAmdSmi, inspect.isfunction):
        if name.startswith("amdsmi_"):
            assert name in real, name
            assert real[name] == list(inspect.signature(fake).parameters)[1:], name


def test_the_fake_raises_amdsmi_s_own_exception_classes() -> None:
    if not fakeamdsmi.REAL:
        pytest.skip("the amdsmi package is not installed: its classes are mirrored by name")
    error = fakeamdsmi.AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
    assert type(error).__module__.endswith("amdsmi_exception")
    assert "AMDSMI_STATUS_NOT_SUPPORTED" in str(error) and error.get_error_code() == 2  # type: ignore[attr-defined]


def test_energy_is_the_raw_accumulator_times_its_resolution() -> None:
    assert energy_j({"energy_accumulator": 65628, "counter_resolution": ISSUE_38_RESOLUTION_UJ}) \
        == pytest.approx(1.00410841)
    old_api = {"power": 65628, "counter_resolution": ISSUE_38_RESOLUTION_UJ}  # amdsmi before 6.2.1
    assert energy_j(old_api) == pytest.approx(1.00410841)


def test_a_window_measures_the_accumulator_at_its_edges() -> None:
    gpu = FakeAmdGpu(accumulator=65628, resolution_uj=ISSUE_38_RESOLUTION_UJ, power_w=250, gfx_pct=90)
    source = open_amdsmi(smi=FakeAmdSmi([gpu]), env={})
    assert source.method == "measured" and source.channels[0].kind == "counter"
    assert "GPU 0 AMD Instinct MI300X: energy accumulator x resolution" in source.description
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(12):
        gpu.accumulator = (gpu.accumulator or 0) + 1_633_987  # 25 J per 0.1 s: 250 W
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(100, 150)], None)
    assert figures["gpu_energy_j"] == pytest.approx(12 * 1_633_987 * ISSUE_38_RESOLUTION_UJ / 1e6)
    assert figures["energy_method"] == "measured" and figures["energy_source"] == "amdsmi"
    assert figures["energy_boundary"] == "accelerator" and "energy_warning" not in figures
    assert source.poll().gauges["gpu_util_pct"] == 90


def test_a_counter_that_runs_backward_invalidates_its_window() -> None:
    # ROCm/amdsmi#115: the accumulator went backward under concurrent reads.
    gpu = FakeAmdGpu(accumulator=10_000_000, power_w=250)
    source = open_amdsmi(smi=FakeAmdSmi([gpu]), env={})
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for step in [1_600_000, -3_000_000, *[1_600_000] * 10]:
        gpu.accumulator = (gpu.accumulator or 0) + step
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(100, 150)], None)
    assert figures["energy_j"] is None and figures["energy_components_j"] == {"amdsmi:gpu0": None}
    assert "amdsmi:gpu0: its counter dropped from" in figures["energy_warning"]


def test_a_stalled_accumulator_integrates_the_gpu_s_power_by_the_shared_rule() -> None:
    gpu = FakeAmdGpu(accumulator=10_000_000, power_w=300, gfx_pct=95)
    source = open_amdsmi(smi=FakeAmdSmi([gpu]), env={})
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(12):
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(100, 150)], None)
    assert figures["energy_j"] == pytest.approx(300 * 1.3) and figures["energy_method"] == "integrated"
    assert "amdsmi:gpu0 integrated from its power reading (amdsmi_power_w)" in figures["energy_warning"]


def test_an_accumulator_unreadable_at_start_integrates_power_and_says_why() -> None:
    gpu = FakeAmdGpu(energy_error=AMDSMI_STATUS_NOT_SUPPORTED, power_w=200)
    source = open_amdsmi(smi=FakeAmdSmi([gpu]), env={})
    assert [c.kind for c in source.channels] == ["power"] and source.method == "integrated"
    assert "power x time (energy accumulator unreadable at start: AmdSmiLibraryException" \
        in source.description
    ticks = _ticks(0.5)
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    meter.poll()
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["gpu_energy_j"] == pytest.approx(200.0)  # 200 W for 1 s


def test_a_read_failing_mid_window_gives_no_figure() -> None:
    gpu = FakeAmdGpu(accumulator=10_000_000, power_w=250)
    source = open_amdsmi(smi=FakeAmdSmi([gpu]), env={})
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    gpu.energy_error = AMDSMI_STATUS_BUSY
    meter.poll()
    gpu.energy_error = None
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["energy_j"] is None and "AMDSMI_STATUS_BUSY" in figures["energy_warning"]


def test_amdsmi_before_6_2_1_names_the_accumulator_power() -> None:
    gpu = FakeAmdGpu(accumulator=1000, resolution_uj=1000.0, old_api=True)
    source = open_amdsmi(smi=FakeAmdSmi([gpu]), env={})
    assert source.poll().values == {"gpu0": pytest.approx(1.0)}


def _four() -> FakeAmdSmi:
    return FakeAmdSmi([FakeAmdGpu(uuid=f"{i}a1ff74a1-0000-1000-80d6-5a2c2f0e9c3b") for i in range(4)])


@pytest.mark.parametrize(
    ("env", "measured"),
    [
        ({}, ["gpu0", "gpu1", "gpu2", "gpu3"]),
        ({"HIP_VISIBLE_DEVICES": "2,0"}, ["gpu2", "gpu0"]),
        # ROCR first (physical GPUs 1, 2, 3), then HIP indexes into what ROCR left: its 1 is GPU 2.
        ({"ROCR_VISIBLE_DEVICES": "1,2,3", "HIP_VISIBLE_DEVICES": "1"}, ["gpu2"]),
        ({"ROCR_VISIBLE_DEVICES": "GPU-3a1ff74a"}, ["gpu3"]),  # a UUID (prefix), as ROCr takes it
        ({"CUDA_VISIBLE_DEVICES": "3"}, ["gpu3"]),  # HIP honours it where HIP_VISIBLE_DEVICES is unset
        ({"CUDA_VISIBLE_DEVICES": "3", "HIP_VISIBLE_DEVICES": "1"}, ["gpu1"]),
        ({"HIP_VISIBLE_DEVICES": "1,7,2"}, ["gpu1"]),  # the list ends at an entry that names no GPU
    ],
)
def test_rocr_and_hip_visible_devices_choose_the_gpus(env: dict[str, str], measured: list[str]) -> None:
    source = open_amdsmi(smi=_four(), env=env)
    assert [c.id for c in source.channels] == measured


@pytest.mark.parametrize("name", ["HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"])
def test_an_empty_visible_devices_variable_measures_no_amd_gpu(name: str) -> None:
    smi = _four()
    with pytest.raises(EnergySourceError, match=f"{name} hides every GPU"):
        open_amdsmi(smi=smi, env={name: ""})
    assert smi.shutdowns == smi.inits  # amdsmi is shut down again


def test_wb_gpus_wins_and_a_gpu_that_is_not_here_is_an_error() -> None:
    source = open_amdsmi(("1",), smi=_four(), env={"HIP_VISIBLE_DEVICES": "0"})
    assert [c.id for c in source.channels] == ["gpu1"]
    with pytest.raises(EnergySourceError, match="no GPU '9' in --wb-gpus"):
        open_amdsmi(("9",), smi=_four(), env={})


def test_each_gpu_s_counter_is_checked_against_its_own_power() -> None:
    busy, stuck = FakeAmdGpu(accumulator=1_000, power_w=300), FakeAmdGpu(accumulator=5_000, power_w=200)
    source = open_amdsmi(smi=FakeAmdSmi([busy, stuck]), env={})
    assert source.channel_power_gauges == {"gpu0": "amdsmi_gpu0_power_w", "gpu1": "amdsmi_gpu1_power_w"}
    ticks = _ticks()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(12):
        busy.accumulator = (busy.accumulator or 0) + 1_960_784  # 30 J at 15.3 uJ a count
        meter.poll()
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["energy_components_j"]["amdsmi:gpu1"] == pytest.approx(200 * 1.3)
    assert figures["energy_components_j"]["amdsmi:gpu0"] == pytest.approx(12 * 1_960_784 * 15.3 / 1e6)


def test_no_driver_is_a_clear_error() -> None:
    smi = FakeAmdSmi([FakeAmdGpu()], driver_loaded=False)
    with pytest.raises(EnergySourceError, match=r"amdsmi: cannot start .*is the amdgpu driver loaded"):
        open_amdsmi(smi=smi, env={})


def test_the_real_package_without_rocm_says_what_is_missing() -> None:
    if fakeamdsmi.package_dir() is None:
        with pytest.raises(EnergySourceError, match="pip install 'wattbench\\[amd\\]'"):
            import_amdsmi()
        return
    # amdsmi 7.0.2 from PyPI raises KeyError('libamd_smi.so') at import where ROCm is absent.
    with pytest.raises(EnergySourceError, match=r"cannot load ROCm's libamd_smi\.so"):
        import_amdsmi()


def test_under_auto_a_machine_without_amd_gpus_gets_a_note() -> None:
    selection = open_sources(("auto",), SourceOptions())
    try:
        assert any(note.startswith("amdsmi: ") for note in selection.notes)
        assert "amdsmi" not in [s.name for s in selection.sources]
    finally:
        for source in selection.sources:
            source.close()


def test_asking_for_amdsmi_where_it_cannot_run_stops_the_run_at_start_up(suite: pytest.Pytester) -> None:
    result = suite.runpytest("bench", "--wb-energy", "amdsmi")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*amdsmi: *"])

"""NVML through a fake of the pynvml module, and the real NVML where a GPU exists."""

from __future__ import annotations

import inspect
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pynvml
import pytest
from fakenvml import FakeGpu, FakeNvml

from wattbench.errors import EnergySourceError
from wattbench.monitors import SourceOptions, open_sources
from wattbench.monitors.figures import energy_figures, resource_figures
from wattbench.monitors.meter import Meter
from wattbench.monitors.nvml import open_nvml, visible_gpus
from wattbench.run.energy import EnergyMonitor
from wattbench.settings import Settings


def test_the_fake_has_the_real_pynvml_signatures() -> None:
    for name, fake in inspect.getmembers(FakeNvml, inspect.isfunction):
        if not name.startswith("nvml"):
            continue
        real = inspect.signature(getattr(pynvml, name))
        assert list(real.parameters) == list(inspect.signature(fake).parameters)[1:], name


def _clock() -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += 0.5


def test_the_energy_counter_is_read_at_the_window_edges() -> None:
    gpu = FakeGpu(energy_mj=1_000_000)
    source = open_nvml(nvml=FakeNvml([gpu]))
    assert source.method == "measured" and source.channels[0].kind == "counter"
    ticks = _clock()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    for _ in range(4):
        gpu.energy_mj += 25_000  # 25 J per 100 ms update...
        meter.poll()
    gpu.energy_mj += 50_000
    reading = meter.end(window)
    assert reading.joules == {"nvml:gpu0": pytest.approx(150.0)}
    figures = energy_figures(meter, reading, [(100, 150)], None)
    assert figures["gpu_energy_j"] == pytest.approx(150.0) and figures["energy_j"] == pytest.approx(150.0)
    assert figures["energy_method"] == "measured" and figures["energy_updates_count"] == 5
    assert figures["energy_per_token_j"] == pytest.approx(1.5)


def test_a_gpu_without_the_counter_falls_back_to_integrated_power() -> None:
    old, new = FakeGpu(name="Tesla P100", energy_mj=None, power_mw=100_000), FakeGpu(uuid="GPU-1")
    source = open_nvml(nvml=FakeNvml([old, new]))
    assert [c.kind for c in source.channels] == ["power", "counter"]
    assert source.method == "integrated"
    assert "GPU 0 Tesla P100: power x time" in source.description
    ticks = _clock()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()  # t = 0.0
    old.power_mw = 300_000
    meter.poll()  # t = 0.5: 100 W -> 300 W
    reading = meter.end(window)  # t = 1.0: 300 W
    assert reading.joules["nvml:gpu0"] == pytest.approx((100 + 300) / 2 * 0.5 + 300 * 0.5)


def test_gauges_sum_memory_and_power_average_utilisation_and_max_temperature() -> None:
    a = FakeGpu(util_pct=80, mem_used_bytes=2 * 1024**3, temp_c=60, power_mw=200_000)
    b = FakeGpu(util_pct=40, mem_used_bytes=1024**3, temp_c=None, power_mw=100_000, uuid="GPU-1")
    meter = Meter([open_nvml(nvml=FakeNvml([a, b]))])
    window = meter.begin()
    a.util_pct, a.temp_c = 100, 71
    meter.poll()
    figures = resource_figures(meter.end(window))
    assert figures["gpu_mem_peak_mb"] == 3 * 1024
    assert figures["gpu_temp_peak_c"] == 71
    assert figures["gpu_util_peak_pct"] == 70
    assert figures["gpu_power_peak_w"] == 300


def test_gpus_are_chosen_by_index_uuid_or_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [FakeGpu(uuid=f"GPU-{i}") for i in range(3)]
    assert [c.id for c in open_nvml(("2", "GPU-0"), nvml=FakeNvml(gpus)).channels] == ["gpu2", "gpu0"]
    assert [c.id for c in open_nvml(("all",), nvml=FakeNvml(gpus)).channels] == ["gpu0", "gpu1", "gpu2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert visible_gpus() == ("1",)
    assert [c.id for c in open_nvml(nvml=FakeNvml(gpus)).channels] == ["gpu1"]
    with pytest.raises(EnergySourceError, match=r"no GPU '7'.*indices 0-2"):
        open_nvml(("7",), nvml=FakeNvml(gpus))


def test_no_driver_is_a_clear_error_and_nvml_is_shut_down_on_failure() -> None:
    with pytest.raises(EnergySourceError, match="NVIDIA driver"):
        open_nvml(nvml=FakeNvml([FakeGpu()], driver_loaded=False))
    fake = FakeNvml([])
    with pytest.raises(EnergySourceError, match="no GPU"):
        open_nvml(nvml=fake)
    assert fake.shutdowns == 1


def test_the_real_pynvml_without_a_driver_says_so() -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has an NVIDIA driver")
    with pytest.raises(EnergySourceError, match=r"NVML: cannot start .*NVIDIA driver"):
        open_nvml()


@pytest.mark.gpu
def test_real_nvml_measures_a_gpu() -> None:
    if not shutil.which("nvidia-smi"):
        pytest.skip("no NVIDIA GPU or driver on this machine")
    source = open_nvml()
    meter = Meter([source], sample_hz=20)
    meter.start()
    try:
        window = meter.begin()
        time.sleep(2.0)
        reading = meter.end(window)
    finally:
        meter.close()
    figures = energy_figures(meter, reading, [(1, 1)], None)
    # An idle GPU still draws tens of watts: 2 s must read well above zero.
    assert figures["gpu_energy_j"] > 1.0, figures
    assert figures["energy_updates_count"] >= 5, figures
    assert resource_figures(reading)["gpu_mem_peak_mb"] > 0


# -- faults per device (../shared/cases/energy.md), through the fake with pynvml's real errors --


def test_a_counter_not_ready_at_open_integrates_power_and_says_why() -> None:
    # energy.md 1: H100 PCIe answered NVML_ERROR_NOT_READY for the counter, 250 W for power.
    gpu = FakeGpu(name="NVIDIA H100 PCIe", energy_error=pynvml.NVML_ERROR_NOT_READY, power_mw=250_000)
    source = open_nvml(nvml=FakeNvml([gpu]))
    assert [c.kind for c in source.channels] == ["power"] and source.method == "integrated"
    assert "GPU 0 NVIDIA H100 PCIe: power x time (energy counter unreadable at start: " \
        "NVMLError_NotReady" in source.description
    ticks = _clock()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    meter.poll()
    figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert figures["gpu_energy_j"] == pytest.approx(250.0)  # 250 W for 1 s
    assert figures["energy_method"] == "integrated"


def test_under_auto_a_not_ready_counter_keeps_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # Today's bug: the whole GPU was dropped and only the CPU estimate remained.
    fake = FakeNvml([FakeGpu(energy_error=pynvml.NVML_ERROR_NOT_READY, power_mw=250_000)])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    selection = open_sources(("auto",), SourceOptions())
    assert [s.name for s in selection.sources][:1] == ["nvml"]
    assert "estimate" not in [s.name for s in selection.sources]
    for source in selection.sources:
        source.close()


def test_cuda_visible_devices_empty_measures_no_gpu_and_keeps_the_other_sources(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # energy.md 2: one GPU in NVML, CUDA_VISIBLE_DEVICES="" -> no NVML channels, no crash.
    fake = FakeNvml([FakeGpu()])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == ()
    with pytest.raises(EnergySourceError, match="CUDA_VISIBLE_DEVICES hides every GPU"):
        open_nvml(nvml=fake)
    assert not fake.initialised and fake.shutdowns == 0  # NVML was never started for it
    monitor = EnergyMonitor(Settings(run_dir=tmp_path, idle_s=0, energy_min_window_s=0).energy_options())
    try:
        assert "nvml" not in [s.name for s in monitor.meter.sources]
        assert any("hides every GPU" in line for line in monitor.describe())
        monitor.start()
        figures = monitor.end(monitor.begin(), "case").per_unit(1, 4, 10)
    finally:
        monitor.close()
    assert "gpu_energy_j" not in figures and figures["energy_j"] is not None
    if [s.name for s in monitor.meter.sources] == ["estimate"]:
        assert figures["energy_method"] == "estimated"


def test_cuda_visible_devices_minus_one_hides_every_gpu_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    with pytest.raises(EnergySourceError, match="hides every GPU"):
        open_nvml(nvml=FakeNvml([FakeGpu()]))


def test_a_counter_failing_mid_window_gives_no_figure_never_zero_joules() -> None:
    # Today's bug: 0 J "measured", with a warning that blamed the window length.
    gpu = FakeGpu(energy_mj=1_000_000)
    source = open_nvml(nvml=FakeNvml([gpu]))
    ticks = _clock()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    gpu.energy_mj += 40_000
    meter.poll()
    gpu.energy_error = pynvml.NVML_ERROR_NOT_READY
    meter.poll()
    reading = meter.end(window)
    assert list(reading.failed) == ["nvml:gpu0"]
    figures = energy_figures(meter, reading, [(10, 20)], None)
    assert figures["energy_j"] is None and figures["gpu_energy_j"] is None
    assert figures["energy_components_j"] == {"nvml:gpu0": None}
    assert figures["energy_per_token_j"] is None and figures["energy_updates_count"] is None
    assert "no figure for nvml:gpu0" in figures["energy_warning"]
    assert "NVMLError_NotReady" in figures["energy_warning"]
    assert "min-window" not in figures["energy_warning"]
    # The counter recovers: a window wholly after the failure is measured again.
    gpu.energy_error = None
    window = meter.begin()
    gpu.energy_mj += 30_000
    later = energy_figures(meter, meter.end(window), [(10, 20)], None)
    assert later["gpu_energy_j"] == pytest.approx(30.0) and "no figure" not in later["energy_warning"]


def test_a_failing_gpu_leaves_the_other_gpu_s_figure() -> None:
    good, bad = FakeGpu(energy_mj=0), FakeGpu(energy_mj=0, uuid="GPU-1")
    source = open_nvml(nvml=FakeNvml([good, bad]))
    ticks = _clock()
    meter = Meter([source], clock=lambda: next(ticks))
    window = meter.begin()
    good.energy_mj, bad.energy_mj = 50_000, 60_000
    bad.energy_error = pynvml.NVML_ERROR_GPU_IS_LOST
    figures = energy_figures(meter, meter.end(window), [(1, 1)], None)
    assert figures["energy_components_j"] == {"nvml:gpu0": pytest.approx(50.0), "nvml:gpu1": None}
    assert figures["energy_j"] is None  # the total is unknown, not the sum of what was read
    assert "NVMLError_GpuIsLost" in figures["energy_warning"]


def test_a_gpu_with_neither_counter_nor_power_is_skipped_with_a_note() -> None:
    broken = FakeGpu(energy_error=pynvml.NVML_ERROR_UNKNOWN, power_error=pynvml.NVML_ERROR_UNKNOWN)
    source = open_nvml(nvml=FakeNvml([FakeGpu(), broken]))
    assert [c.id for c in source.channels] == ["gpu0"]
    assert "skipped GPU 1: neither its energy counter nor its power reads (NVMLError_Unknown" \
        in source.description
    with pytest.raises(EnergySourceError, match="no GPU to measure: skipped GPU 0"):
        open_nvml(nvml=FakeNvml([broken]))


def test_a_monitor_counts_failed_windows_and_still_returns_the_record(tmp_path: Path) -> None:
    gpu = FakeGpu(energy_mj=0)
    monitor = EnergyMonitor(Settings(run_dir=tmp_path, energy=(), idle_s=0).energy_options())
    source = open_nvml(nvml=FakeNvml([gpu]))
    monitor.meter = Meter([source])
    gpu.energy_error = pynvml.NVML_ERROR_NOT_READY
    for _ in range(2):
        figures = monitor.end(monitor.begin(), "case").per_unit(1, 3, 9)
        assert figures["energy_j"] is None and figures["samples_count"] == 2
    gpu.energy_error = None
    window = monitor.begin()
    gpu.energy_mj += 5_000
    assert monitor.end(window, "case").per_unit(1, 3, 9)["energy_j"] == pytest.approx(5.0)
    lines = monitor.summary_lines()
    assert any(
        line.startswith("energy: 2 of 3 windows have no figure for nvml:gpu0")
        and "NVMLError_NotReady" in line
        for line in lines
    ), lines
    assert monitor.summary()["failed_windows"] == {"nvml:gpu0": 2}


def test_uuid_prefixes_select_as_cuda_does(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [
        FakeGpu(uuid="GPU-5a3f0000-0000-0000-0000-000000000000"),
        FakeGpu(uuid="GPU-5a3e0000-0000-0000-0000-000000000000"),
    ]
    assert [c.id for c in open_nvml(("GPU-5a3f",), nvml=FakeNvml(gpus)).channels] == ["gpu0"]
    with pytest.raises(EnergySourceError, match=r"no GPU 'GPU-5a3' in --wb-gpus.*unique UUID prefixes"):
        open_nvml(("GPU-5a3",), nvml=FakeNvml(gpus))  # two GPUs share it
    # From the environment, CUDA's rule: the list ends at the first entry naming no GPU.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-5a3e,GPU-ffff,0")
    source = open_nvml(nvml=FakeNvml(gpus))
    assert [c.id for c in source.channels] == ["gpu1"]
    assert "entry 'GPU-ffff' names no GPU here: CUDA ignores it and every entry after it" in (
        source.description
    )


def test_mig_instances_are_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [FakeGpu(uuid="GPU-aaaa", mig_mode=1), FakeGpu(uuid="GPU-bbbb")]
    mig = "MIG-0d5c1f2a-0000-0000-0000-000000000000"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"{mig},1")
    source = open_nvml(nvml=FakeNvml(gpus))
    assert [c.id for c in source.channels] == ["gpu1"]
    assert f"skipped {mig} from CUDA_VISIBLE_DEVICES: a MIG instance" in source.description
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", mig)
    with pytest.raises(EnergySourceError, match="no GPU to measure: skipped MIG-"):
        open_nvml(nvml=FakeNvml(gpus))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert "GPU 0 is in MIG mode: its energy covers every MIG instance" in open_nvml(
        nvml=FakeNvml(gpus)
    ).description


def test_other_processes_on_the_gpu_are_counted_and_hidden_pids_are_not() -> None:
    invisible = 4_000_000  # above pid_max: no process here has it (another pid namespace)
    gpu = FakeGpu(compute_pids=[os.getpid(), os.getppid()], graphics_pids=[invisible])
    source = open_nvml(nvml=FakeNvml([gpu]))
    meter = Meter([source])
    window = meter.begin()
    meter.poll()
    figures = resource_figures(meter.end(window))
    assert figures["gpu_other_processes_count"] == 1  # the parent, not this process
    assert figures["contended"] is True
    assert source.hidden_pids == {invisible}
    gpu.compute_pids = [os.getpid()]
    window = meter.begin()
    meter.poll()
    assert resource_figures(meter.end(window))["gpu_other_processes_count"] == 0

"""NVML through a fake of the pynvml module, and the real NVML where a GPU exists."""

from __future__ import annotations

import inspect
import shutil
import time
from collections.abc import Iterator

import pynvml
import pytest
from fakenvml import FakeGpu, FakeNvml

from wattbench.errors import EnergySourceError
from wattbench.monitors.figures import energy_figures, resource_figures
from wattbench.monitors.meter import Meter
from wattbench.monitors.nvml import open_nvml, visible_gpus


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

"""Energy and resources end to end through `pytest bench/`, on the real engine with the tiny model.

This machine has no GPU and no RAPL, so auto-selection lands on the labelled estimate; the
measured sources are proven through their fakes in test_nvml, test_rapl and test_jetson.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pynvml
import pytest
from fakenvml import FakeGpu, FakeNvml
from test_plugin import records, run_suite

from wattbench.metrics import KEYS
from wattbench.monitors.rapl import POWERCAP

ONE_CASE = ("--wb-tasks", "qa", "--wb-loads", "short", "--wb-levels", "L0,L1")


def test_each_case_records_estimated_energy_and_resource_peaks(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), *ONE_CASE, "--wb-run-dir", str(run_dir),
        "--wb-energy-min-window", "1", "--wb-sample-hz", "20", "--wb-timeseries", "on",
    )
    result.assert_outcomes(passed=1 + 2)
    for entry in data["benchmarks"]:
        info = entry["extra_info"]
        assert set(info) <= KEYS
        assert (info["energy_source"], info["energy_method"]) == ("estimate", "estimated")
        assert info["energy_j"] > 0 and info["cpu_energy_j"] == info["energy_j"]
        assert info["energy_per_token_j"] == pytest.approx(info["energy_j"] / info["completion_tokens"])
        # The tiny model answers in milliseconds: the window holds repeats until it lasts 1 s (on
        # a machine so busy that one generation lasts the whole second, it holds that one).
        assert info["energy_window_s"] >= 1
        assert info["energy_window_generations_count"] > 1 or entry["stats"]["max"] >= 0.5
        assert "energy_warning" not in info
        assert info["samples_count"] >= 4
        assert 0 < info["cpu_util_avg_pct"] <= 100 and info["rss_peak_mb"] > 10
        assert info["system_mem_peak_mb"] > info["rss_peak_mb"]
        assert "idle_power_w" not in info  # the suite's ini turns the idle baseline off
        series = run_dir / info["timeseries_file"]
        rows = list(csv.DictReader(series.open()))
        assert len(rows) == info["samples_count"] and float(rows[0]["t_s"]) == 0.0
        assert float(rows[-1]["estimate:cpu_j"]) == pytest.approx(
            info["energy_j"] * info["energy_window_generations_count"], rel=1e-6
        )
    # The timed generation is one generation: repeats never enter pytest-benchmark's figure.
    repeated = [e for e in data["benchmarks"] if e["extra_info"]["energy_window_generations_count"] > 2]
    assert repeated, "no window held repeats: the machine was too busy for this check"
    assert all(e["stats"]["max"] < e["extra_info"]["energy_window_s"] / 2 for e in repeated)
    saved = [r["energy_j"] for r in records(run_dir)]
    assert saved == [e["extra_info"]["energy_j"] for e in data["benchmarks"]]
    energy = data["wattbench"]["energy"]
    assert energy["energy_source"] == "estimate" and energy["idle_before"] is None
    result.stdout.fnmatch_lines(["*energy: estimate: 65 W TDP x CPU utilisation*not a measurement*"])


def test_idle_baseline_before_and_after_is_in_the_json_and_each_record(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), *ONE_CASE, "--wb-run-dir", str(run_dir),
        "--wb-idle-time", "0.5", "--wb-idle-after", "on", "--wb-energy-min-window", "0.2",
    )
    result.assert_outcomes(passed=3)
    energy = data["wattbench"]["energy"]
    before, after = energy["idle_before"], energy["idle_after"]
    assert before["chunks_count"] == 5 and before["duration_s"] >= 0.5
    assert before["power_w"] >= 0 and after["power_w"] >= 0
    assert before["channels_w"].keys() == {"estimate:cpu"}
    for info in (e["extra_info"] for e in data["benchmarks"]):
        assert info["idle_power_w"] == before["power_w"] and info["idle_power_sd_w"] == before["sd_w"]
        share_s = info["energy_window_s"] / info["energy_window_generations_count"]
        assert info["energy_net_j"] == pytest.approx(info["energy_j"] - before["power_w"] * share_s)
    assert (run_dir / "baseline.json").exists()
    result.stdout.fnmatch_lines(["*idle power before: * W (sd * W over 5 chunks*", "*idle power after: *"])


def test_energy_off_still_records_resources(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), *ONE_CASE, "--wb-energy", "off",
        "--wb-energy-min-window", "5", "--wb-run-dir", str(suite.path / "run"),
    )
    result.assert_outcomes(passed=3)
    for info in (e["extra_info"] for e in data["benchmarks"]):
        assert not any(key.startswith("energy") for key in info)
        assert info["rss_peak_mb"] > 0 and info["samples_count"] >= 2


def test_a_source_that_cannot_be_read_here_stops_the_run_with_the_fix(suite: pytest.Pytester) -> None:
    if POWERCAP.exists():
        pytest.skip("this machine has powercap")
    result = suite.runpytest("bench", "--wb-energy", "rapl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*RAPL: /sys/class/powercap does not exist*"])


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--wb-energy", "nvml,watts"), None, "*unknown energy source 'watts'; choose auto, off, or a *"),
        (("--wb-sample-hz", "0"), None, "*'0' must be between 0.1 and 1000.0*"),
        ((), "lots", "*environment variable CPU_TDP_W = 'lots': 'lots' is not a number*"),
    ],
)
def test_bad_energy_settings_name_the_value(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], env: str | None,
    message: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("CPU_TDP_W", env)
    result = suite.runpytest("bench", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_the_tdp_comes_from_the_option_then_the_environment(
    suite: pytest.Pytester, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPU_TDP_W", "130")
    common = ("--wb-model", str(tiny_gguf), *ONE_CASE, "--wb-levels", "L0")
    result, _ = run_suite(suite, *common, "--wb-run-dir", str(suite.path / "a"))
    result.stdout.fnmatch_lines(["*energy: estimate: 130 W TDP*"])
    result, _ = run_suite(suite, *common, "--wb-cpu-tdp", "28", "--wb-run-dir", str(suite.path / "b"))
    result.stdout.fnmatch_lines(["*energy: estimate: 28 W TDP*"])


def test_cuda_visible_devices_empty_writes_every_record_without_a_gpu(
    suite: pytest.Pytester, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # energy.md 2, end to end: NVML sees a GPU, CUDA_VISIBLE_DEVICES hides it. The run used to
    # fail every case with "min() arg is an empty sequence" and write no results.jsonl.
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([FakeGpu()]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    run_dir = suite.path / "run"
    result, data = run_suite(suite, "--wb-model", str(tiny_gguf), *ONE_CASE, "--wb-run-dir", str(run_dir))
    result.assert_outcomes(passed=3)
    saved = records(run_dir)
    assert len(saved) == 2 and all("gpu_energy_j" not in r and r["energy_j"] is not None for r in saved)
    assert any("hides every GPU" in note for note in data["wattbench"]["energy"]["not_used"])


def test_a_not_ready_counter_measures_the_gpu_by_integrated_power(
    suite: pytest.Pytester, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # energy.md 1, end to end: the counter answers NVML_ERROR_NOT_READY, power answers 250 W.
    gpu = FakeGpu(name="NVIDIA H100 PCIe", energy_error=pynvml.NVML_ERROR_NOT_READY, power_mw=250_000)
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([gpu]))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    run_dir = suite.path / "run"
    result, _ = run_suite(
        suite, "--wb-model", str(tiny_gguf), *ONE_CASE, "--wb-run-dir", str(run_dir),
        "--wb-energy-min-window", "0.5",
    )
    result.assert_outcomes(passed=3)
    for record in records(run_dir):
        assert record["energy_source"].startswith("nvml") and record["energy_method"] == "integrated"
        # 250 W over the window, per generation.
        share_s = record["energy_window_s"] / record["energy_window_generations_count"]
        assert record["gpu_energy_j"] == pytest.approx(250.0 * share_s, rel=0.05)
    result.stdout.fnmatch_lines(["*NVML GPU 0 NVIDIA H100 PCIe: power x time (energy counter unreadable*"])

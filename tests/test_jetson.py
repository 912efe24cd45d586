"""Jetson rails: recorded tegrastats lines of several boards, fake INA3221 sysfs trees, and a fake
tegrastats program run as a real child process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattbench.errors import EnergySourceError
from wattbench.monitors.figures import energy_figures
from wattbench.monitors.jetson import JetsonSource, open_jetson, parse_tegrastats
from wattbench.monitors.meter import Meter

# Lines as the boards print them (JetPack 6 Orin Nano, JetPack 5 AGX Orin, JetPack 4 AGX Xavier
# and Nano).
ORIN_NANO = (
    "11-21-2026 10:00:00 RAM 2034/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [2%@729,1%@729,0%@729,0%@729,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 37%@[305] NVENC off "
    "NVDEC off VIC off OFA off APE 200 cpu@47.5C soc2@46.25C gpu@47.312C tj@47.5C "
    "VDD_IN 4767mW/4700mW VDD_CPU_GPU_CV 476mW/470mW VDD_SOC 1430mW/1400mW"
)
AGX_ORIN = (
    "RAM 6125/30536MB (lfb 5985x4MB) SWAP 0/15268MB (cached 0MB) CPU [1%@729,0%@729] "
    "EMC_FREQ 0%@2133 GR3D_FREQ 0%@[0,0] VIC_FREQ 729 APE 233 CV0@-256C CPU@47.906C GPU@-256C "
    "VDD_GPU_SOC 3196mW/3196mW VDD_CPU_CV 799mW/799mW VIN_SYS_5V0 3128mW/3128mW "
    "VDDQ_VDD2_1V8AO 503mW/503mW"
)
XAVIER = (
    "RAM 2553/31919MB (lfb 6936x4MB) SWAP 0/15959MB (cached 0MB) CPU [1%@1190,off] EMC_FREQ 0% "
    "GR3D_FREQ 0% AO@40C GPU@40C PMIC@100C GPU 0/0 CPU 154/154 SOC 1078/1078 CV 0/0 VDDRQ 154/154 "
    "SYS5V 1766/1766"
)
NANO = (
    "RAM 1481/3964MB (lfb 93x4MB) SWAP 0/1982MB (cached 0MB) IRAM 0/252kB(lfb 252kB) "
    "CPU [4%@102,2%@102] EMC_FREQ 0%@204 GR3D_FREQ 0%@76 APE 25 PLL@23C GPU@24C "
    "POM_5V_IN 1095/1095 POM_5V_GPU 0/0 POM_5V_CPU 125/125"
)


@pytest.mark.parametrize(
    ("line", "rails"),
    [
        (ORIN_NANO, {"VDD_IN": 4.767, "VDD_CPU_GPU_CV": 0.476, "VDD_SOC": 1.43}),
        (AGX_ORIN, {"VDD_GPU_SOC": 3.196, "VDD_CPU_CV": 0.799, "VIN_SYS_5V0": 3.128,
                    "VDDQ_VDD2_1V8AO": 0.503}),
        (XAVIER, {"GPU": 0.0, "CPU": 0.154, "SOC": 1.078, "CV": 0.0, "VDDRQ": 0.154, "SYS5V": 1.766}),
        (NANO, {"POM_5V_IN": 1.095, "POM_5V_GPU": 0.0, "POM_5V_CPU": 0.125}),
    ],
    ids=["orin-nano", "agx-orin", "xavier", "nano"],
)
def test_rails_take_the_current_value_and_skip_memory_figures(line: str, rails: dict[str, float]) -> None:
    assert parse_tegrastats(line).rails == pytest.approx(rails)


def test_gauges_come_from_gr3d_and_a_live_gpu_sensor() -> None:
    assert parse_tegrastats(ORIN_NANO).gauges == {"gpu_util_pct": 37.0, "gpu_temp_c": 47.312}
    assert "gpu_temp_c" not in parse_tegrastats(AGX_ORIN).gauges  # GPU@-256C: sensor off


def _write_tegrastats(tmp_path: Path, lines: list[str], split_at: int | None = None) -> str:
    """A fake tegrastats: prints ``lines`` every --interval ms, optionally one line in two writes."""
    script = tmp_path / "tegrastats"
    body = "\n".join(
        f"printf '%s' {line[:split_at]!r}; sleep 0.05; printf '%s\\n' {line[split_at:]!r}; sleep $s"
        if split_at else f"printf '%s\\n' {line!r}; sleep $s"
        for line in lines
    )
    script.write_text(
        "#!/bin/sh\n"
        's=$(awk "BEGIN{print $2/1000}")\n'
        f"while true; do\n{body}\ndone\n"
    )
    script.chmod(0o755)
    return str(script)


def test_tegrastats_is_run_and_its_input_rail_is_the_total(tmp_path: Path) -> None:
    command = _write_tegrastats(tmp_path, [ORIN_NANO], split_at=len(ORIN_NANO) // 2)
    source = open_jetson(sysfs=tmp_path / "no-sysfs", tegrastats=command, interval_ms=50)
    try:
        assert [(c.id, c.in_total) for c in source.channels] == [
            ("VDD_IN", True), ("VDD_CPU_GPU_CV", False), ("VDD_SOC", False)
        ]
        assert "total = VDD_IN" in source.description and source.method == "integrated"
        poll = source.poll()  # a line written in two pieces still parses whole
        assert poll.values["VDD_IN"] == pytest.approx(4.767)
        assert poll.gauges["gpu_util_pct"] == 37
    finally:
        source.close()


def test_without_an_input_rail_the_rails_are_summed(tmp_path: Path) -> None:
    source = open_jetson(sysfs=tmp_path, tegrastats=_write_tegrastats(tmp_path, [XAVIER]), interval_ms=50)
    try:
        assert all(c.in_total for c in source.channels)
        assert "sum of the rails" in source.description
    finally:
        source.close()


def test_a_rail_missing_from_a_line_is_integrated_across_the_gap(tmp_path: Path) -> None:
    full = "VDD_IN 4000mW/4000mW VDD_SOC 1000mW/1000mW"
    missing = "VDD_IN 4000mW/4000mW"
    lines = iter([full, missing, full])
    source = JetsonSource(lambda: parse_tegrastats(next(lines)), ["VDD_IN", "VDD_SOC"], "test", 0.1)
    clock = iter([0.0, 1.0, 2.0])
    meter = Meter([source], clock=lambda: next(clock))
    window = meter.begin()
    meter.poll()
    reading = meter.end(window)
    assert reading.joules == {"jetson:VDD_IN": pytest.approx(8.0), "jetson:VDD_SOC": pytest.approx(2.0)}
    assert reading.updates["jetson:VDD_SOC"] == 1  # one sample after the window's first
    figures = energy_figures(meter, reading, [(10, 20)], None)
    assert figures["energy_j"] == pytest.approx(8.0)  # VDD_SOC is inside VDD_IN
    assert figures["board_energy_j"] == pytest.approx(8.0)


def _ina3221_jetpack4(root: Path) -> Path:
    device = root / "ina3221x" / "6-0040" / "iio:device0"
    device.mkdir(parents=True)
    for k, (rail, mw) in enumerate([("POM_5V_IN", 2060), ("POM_5V_GPU", 0), ("POM_5V_CPU", 416)]):
        (device / f"rail_name_{k}").write_text(rail + "\n")
        (device / f"in_power{k}_input").write_text(f"{mw}\n")
    return device


def _ina3221_jetpack5(root: Path) -> Path:
    hwmon = root / "ina3221" / "1-0040" / "hwmon" / "hwmon3"
    hwmon.mkdir(parents=True)
    for k, (label, mv, ma) in enumerate([("VDD_IN", 5000, 1000), ("VDD_CPU_GPU_CV", 5000, 100)], 1):
        (hwmon / f"in{k}_label").write_text(label + "\n")
        (hwmon / f"in{k}_input").write_text(f"{mv}\n")
        (hwmon / f"curr{k}_input").write_text(f"{ma}\n")
    (hwmon / "in7_label").write_text("sum of shunt voltages\n")
    (hwmon / "in7_input").write_text("40\n")
    return hwmon


def test_ina3221_sysfs_jetpack4_layout(tmp_path: Path) -> None:
    _ina3221_jetpack4(tmp_path)
    source = open_jetson(sysfs=tmp_path, tegrastats="no-such-tegrastats")
    assert source.poll().values == pytest.approx({"POM_5V_IN": 2.06, "POM_5V_GPU": 0.0, "POM_5V_CPU": 0.416})
    assert [c.domain for c in source.channels] == ["board", "rail", "rail"]


def test_ina3221_sysfs_jetpack5_layout_multiplies_volts_and_amps(tmp_path: Path) -> None:
    hwmon = _ina3221_jetpack5(tmp_path)
    source = open_jetson(sysfs=tmp_path, tegrastats="no-such-tegrastats")
    assert source.poll().values == pytest.approx({"VDD_IN": 5.0, "VDD_CPU_GPU_CV": 0.5})
    os.remove(hwmon / "curr2_input")  # a sensor that fails is skipped, not fatal
    assert source.poll().values == pytest.approx({"VDD_IN": 5.0})


def test_not_a_jetson_says_so(tmp_path: Path) -> None:
    with pytest.raises(EnergySourceError, match="not a Jetson"):
        open_jetson(sysfs=tmp_path, tegrastats="no-such-tegrastats")


def test_tegrastats_that_prints_no_rails_is_an_error(tmp_path: Path) -> None:
    command = _write_tegrastats(tmp_path, ["RAM 2034/7620MB CPU [2%@729]"])
    with pytest.raises(EnergySourceError, match="printed no power rails"):
        open_jetson(sysfs=tmp_path, tegrastats=command, interval_ms=50)


def test_a_sysfs_sensor_that_fails_is_that_rail_s_error_not_a_gap(tmp_path: Path) -> None:
    device = _ina3221_jetpack4(tmp_path)
    source = open_jetson(sysfs=tmp_path, tegrastats="no-such-tegrastats")
    (device / "in_power0_input").write_text("garbage\n")  # the driver returned nonsense
    poll = source.poll()
    assert "POM_5V_IN" not in poll.values and poll.errors["POM_5V_IN"].startswith("ValueError")
    assert poll.values["POM_5V_CPU"] == pytest.approx(0.416)

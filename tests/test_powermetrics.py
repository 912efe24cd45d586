"""Apple Silicon through powermetrics: its text output (tests/powermetrics/, every cluster scheme),
and the real reading code against a stand-in powermetrics and sudo that replay that output."""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from wattbench.errors import EnergySourceError
from wattbench.monitors.figures import energy_figures
from wattbench.monitors.meter import Meter
from wattbench.monitors.powermetrics import (
    channels_for,
    open_powermetrics,
    parse_sample,
    split_samples,
)

FIXTURES = Path(__file__).parent / "powermetrics"


def samples(name: str) -> list[str]:
    return split_samples((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("name", "clusters", "cpu_w", "gpu_w", "ane_w"),
    [
        ("m2_macos14.txt", ["E", "P"], 6.123, 0.084, 0.0),  # E-Cluster / P-Cluster
        ("m1max_macos12.txt", ["E", "P0", "P1"], 20.491, 0.096, 0.0),  # E-Cluster + P0/P1
        ("m2ultra_macos14.txt", ["E0", "P0", "P1", "E1", "P2", "P3"], 21.874, 38.215, 0.0),  # Ultra
    ],
)
def test_every_cluster_scheme_is_read(
    name: str, clusters: list[str], cpu_w: float, gpu_w: float, ane_w: float
) -> None:
    blocks = samples(name)
    assert len(blocks) == 2  # the machine's description before the first header is not a sample
    first = parse_sample(blocks[0])
    assert list(first.clusters) == clusters
    assert (first.cpu_w, first.gpu_w, first.ane_w) == pytest.approx((cpu_w, gpu_w, ane_w))
    assert first.total_w == pytest.approx(cpu_w + gpu_w + ane_w)
    assert not first.intel and [c.id for c in channels_for(first)] == ["cpu", "gpu", "ane"]
    assert all(c.active_pct is not None and c.frequency_mhz for c in first.clusters.values())


def test_combined_power_agrees_with_its_parts_where_printed() -> None:
    for name in ("m2_macos14.txt", "m2ultra_macos14.txt"):
        for block in samples(name):
            sample = parse_sample(block)
            assert sample.combined_w == pytest.approx(sample.total_w)


def test_macos_12_cluster_power_sums_to_cpu_power_and_stands_in_for_it() -> None:
    block = samples("m1max_macos12.txt")[0]
    sample = parse_sample(block)
    assert {n: c.power_w for n, c in sample.clusters.items()} == pytest.approx(
        {"E": 0.402, "P0": 9.874, "P1": 10.215}
    )
    assert sample.cpu_w == pytest.approx(sum(c.power_w or 0 for c in sample.clusters.values()))
    assert sample.dram_w == pytest.approx(1.873) and sample.combined_w is None
    without = parse_sample("\n".join(line for line in block.splitlines() if not line.startswith("CPU Power")))
    assert without.cpu_w == pytest.approx(20.491)  # the clusters' Power lines, summed
    assert sample.gpu_busy_pct == pytest.approx(4.27)  # macOS 12: "GPU active residency"


def test_the_gpu_busy_share_and_ane_power_are_read() -> None:
    second = parse_sample(samples("m2_macos14.txt")[1])
    assert second.gpu_busy_pct == pytest.approx(61.05) and second.ane_w == pytest.approx(0.038)
    assert second.total_w == pytest.approx(8.660)


def test_combined_power_alone_is_one_soc_channel() -> None:
    sample = parse_sample("*** Sampled system activity\nCombined Power (CPU + GPU + ANE): 1172 mW\n")
    assert sample.total_w == pytest.approx(1.172) and [c.id for c in channels_for(sample)] == ["soc"]


def test_power_in_watts_is_read_too() -> None:
    assert parse_sample("CPU Power: 1.5 W\nGPU Power: 250 mW\n").total_w == pytest.approx(1.75)


def test_an_intel_mac_s_output_is_recognised() -> None:
    sample = parse_sample(samples("intel_macos13.txt")[0])
    assert sample.intel and sample.total_w is None and not channels_for(sample)


# -- the source, over a stand-in powermetrics (and sudo) that replays a fixture --


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _stand_ins(tmp_path: Path, fixture: str, password: bool = False) -> tuple[str, str]:
    """(powermetrics, sudo) stand-ins: powermetrics prints the fixture's description, then its
    samples in turn, one per -i milliseconds, until stopped; sudo -n runs it, or refuses as sudo
    does when a password is needed."""
    text = (FIXTURES / fixture).read_text()
    head, *_ = text.split("*** Sampled system activity")
    powermetrics = _script(tmp_path / "powermetrics", f'''
import itertools, sys, time
from wattbench.monitors.powermetrics import split_samples
text = open({str(FIXTURES / fixture)!r}).read()
interval = int(sys.argv[sys.argv.index("-i") + 1]) / 1000
sys.stdout.write({head!r})
for block in itertools.cycle(split_samples(text)):
    sys.stdout.write(block)
    sys.stdout.flush()
    time.sleep(interval)
''')
    sudo = _script(tmp_path / "sudo", '''
import os, sys
if {password!r}:
    sys.stderr.write("sudo: a password is required\\n")
    sys.exit(1)
args = sys.argv[1:]
assert args[0] == "-n", args
os.execv(args[1], args[1:])
'''.replace("{password!r}", repr(password)))
    return str(powermetrics), str(sudo)


def _apple(**kwargs: object) -> dict[str, object]:
    return {"platform": "darwin", "is_apple_silicon": lambda: True, "euid": 501, **kwargs}


def _ticks(step: float) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += step


def test_the_source_reads_powermetrics_through_sudo_and_integrates_its_power(tmp_path: Path) -> None:
    command, sudo = _stand_ins(tmp_path, "m2ultra_macos14.txt")
    source = open_powermetrics(100, command=command, sudo=sudo, **_apple())  # type: ignore[arg-type]
    try:
        assert "through sudo -n (it needs root" in source.description
        assert "CPU clusters: E0, P0, P1, E1, P2, P3" in source.description
        assert [c.id for c in source.channels] == ["cpu", "gpu", "ane"] and source.method == "integrated"
        poll = source.poll()
        assert set(poll.values) == {"cpu", "gpu", "ane"} and poll.gauges["gpu_util_pct"] > 90
        ticks = _ticks(0.5)
        meter = Meter([source], clock=lambda: next(ticks))
        window = meter.begin()
        meter.poll()
        figures = energy_figures(meter, meter.end(window), [(10, 20)], None)
        # Each sample is 60-63 W (CPU + GPU + ANE); 1 s of them.
        assert 55 < figures["energy_j"] < 70 and figures["energy_method"] == "integrated"
        assert figures["energy_boundary"] == "accelerator+ane+cpu_package"
        assert figures["gpu_energy_j"] > figures["cpu_energy_j"] > 0 and "ane_energy_j" in figures
    finally:
        source.close()


def test_close_stops_powermetrics(tmp_path: Path) -> None:
    command, sudo = _stand_ins(tmp_path, "m2_macos14.txt")
    # Only the processes this source started: a session's servers are children of this process too.
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    source = open_powermetrics(100, command=command, sudo=sudo, **_apple())  # type: ignore[arg-type]
    children = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert children
    source.close()
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_sudo_that_wants_a_password_is_a_clear_error_with_the_fix(tmp_path: Path) -> None:
    command, sudo = _stand_ins(tmp_path, "m2_macos14.txt", password=True)
    with pytest.raises(EnergySourceError) as caught:
        open_powermetrics(100, command=command, sudo=sudo, **_apple())  # type: ignore[arg-type]
    message = str(caught.value)
    assert "needs root, and sudo asks for a password" in message
    assert "NOPASSWD: /usr/bin/powermetrics" in message and "never run pytest itself as root" in message


def test_as_root_it_runs_powermetrics_directly_and_says_pytest_need_not(tmp_path: Path) -> None:
    command, _sudo = _stand_ins(tmp_path, "m1max_macos12.txt")
    source = open_powermetrics(100, command=command, sudo="no-such-sudo", **_apple(euid=0))  # type: ignore[arg-type]
    try:
        assert "run directly: pytest runs as root" in source.description
        assert "never run pytest itself as root" in source.description
        assert source.poll().values["cpu"] == pytest.approx(20.491, rel=0.01)
    finally:
        source.close()


def test_an_intel_mac_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(EnergySourceError, match=r"this is an Intel Mac.*codecarbon #1313"):
        open_powermetrics(**_apple(is_apple_silicon=lambda: False))  # type: ignore[arg-type]
    # Where the probe is fooled, the output itself gives an Intel Mac away.
    command, sudo = _stand_ins(tmp_path, "intel_macos13.txt")
    with pytest.raises(EnergySourceError, match="this is an Intel Mac"):
        open_powermetrics(100, command=command, sudo=sudo, **_apple())  # type: ignore[arg-type]


def test_elsewhere_it_says_macos_only() -> None:
    with pytest.raises(EnergySourceError, match="powermetrics: macOS only"):
        open_powermetrics(platform="linux")


def test_asking_for_powermetrics_off_macos_stops_the_run_at_start_up(suite: pytest.Pytester) -> None:
    if sys.platform == "darwin":
        pytest.skip("this is macOS")
    result = suite.runpytest("bench", "--wb-energy", "powermetrics")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*powermetrics: macOS only*"])

"""RAPL through a fake powercap tree, read by the real sysfs code: zones, wrap-around, permissions."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from powercap import set_energy, write_powercap

from wattbench.errors import EnergySourceError
from wattbench.monitors.meter import Meter
from wattbench.monitors.rapl import open_rapl


def test_reads_package_and_dram_and_skips_zones_inside_them(tmp_path: Path) -> None:
    klass = write_powercap(tmp_path, {"package-0": 5_000_000, "dram": 2_000_000, "core": 9, "psys": 9})
    source = open_rapl(klass)
    assert [(c.id, c.domain) for c in source.channels] == [("package-0", "cpu"), ("dram-0", "dram")]
    assert source.poll().values == {"package-0": 5.0, "dram-0": 2.0}
    assert source.channels[0].wrap_j == pytest.approx(262143.32885)
    assert source.method == "measured"


def test_a_window_across_a_wrap_counts_the_joules_once(tmp_path: Path) -> None:
    klass = write_powercap(tmp_path)
    wrap_uj = 262143328850
    clock = iter(float(t) for t in range(100))
    meter = Meter([open_rapl(klass)], clock=lambda: next(clock))
    set_energy(klass, "intel-rapl:0", wrap_uj - 3_000_000)  # 3 J before the wrap
    window = meter.begin()
    set_energy(klass, "intel-rapl:0", wrap_uj - 1_000_000)
    meter.poll()
    set_energy(klass, "intel-rapl:0", 4_000_000)  # wrapped, then 4 J more
    meter.poll()
    set_energy(klass, "intel-rapl:0", 10_000_000)
    reading = meter.end(window)
    assert reading.joules["rapl:package-0"] == pytest.approx(3.0 + 4.0 + 6.0)
    assert reading.updates["rapl:package-0"] == 3


def test_no_powercap_says_so(tmp_path: Path) -> None:
    with pytest.raises(EnergySourceError, match="does not exist"):
        open_rapl(tmp_path / "missing")


def test_a_tree_without_rapl_zones_says_so(tmp_path: Path) -> None:
    (tmp_path / "dtpm").mkdir()
    with pytest.raises(EnergySourceError, match="no package or dram zone"):
        open_rapl(tmp_path)


def _open_as_unprivileged(klass: Path) -> str:
    """open_rapl run by a user that may not read root-only files; returns its outcome."""
    if os.geteuid() != 0:
        return _outcome(klass)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child drops root, tries, reports through the pipe, and exits
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, _outcome(klass).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return message


def _outcome(klass: Path) -> str:
    try:
        open_rapl(klass)
    except EnergySourceError as exc:
        return str(exc)
    return "opened"


def test_root_only_counters_get_a_message_with_the_fix() -> None:
    # Linux 5.10+ makes energy_uj mode 0400 root; the tree must be reachable by the other user.
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        os.chmod(tmp, 0o755)
        klass = write_powercap(Path(tmp))
        for energy in Path(tmp).rglob("energy_uj"):
            energy.chmod(0o400)
        message = _open_as_unprivileged(klass)
    assert "cannot read" in message and "energy_uj" in message
    assert "chmod a+r" in message and "--wb-energy estimate" in message

"""A fake /sys/class/powercap tree, laid out as the kernel lays it out (links into devices/)."""

from __future__ import annotations

from pathlib import Path

# zone path below the intel-rapl control type -> (name, max_energy_range_uj)
ZONES = {
    "intel-rapl:0": ("package-0", 262143328850),
    "intel-rapl:0/intel-rapl:0:0": ("core", 262143328850),
    "intel-rapl:0/intel-rapl:0:1": ("dram", 65712999613),
    "intel-rapl:1": ("psys", 262143328850),
}


def write_powercap(root: Path, energy_uj: dict[str, int] | None = None) -> Path:
    """Build the tree under ``root``; return the class directory (the /sys/class/powercap)."""
    devices = root / "devices" / "virtual" / "powercap" / "intel-rapl"
    klass = root / "class" / "powercap"
    klass.mkdir(parents=True)
    devices.mkdir(parents=True)
    (klass / "intel-rapl").symlink_to(devices)
    for rel, (name, wrap) in ZONES.items():
        zone = devices / rel
        zone.mkdir(parents=True)
        (zone / "name").write_text(name + "\n")
        (zone / "max_energy_range_uj").write_text(f"{wrap}\n")
        (zone / "energy_uj").write_text(f"{(energy_uj or {}).get(name, 1000)}\n")
        (klass / zone.name).symlink_to(zone)
    # Newer Intel CPUs also expose the package through MMIO: the same joules, not read twice.
    mmio = root / "devices" / "virtual" / "powercap" / "intel-rapl-mmio" / "intel-rapl-mmio:0"
    mmio.mkdir(parents=True)
    (mmio / "name").write_text("package-0\n")
    (mmio / "energy_uj").write_text("1000\n")
    (mmio / "max_energy_range_uj").write_text("262143328850\n")
    (klass / "intel-rapl-mmio:0").symlink_to(mmio)
    return klass


def set_energy(klass: Path, zone: str, energy_uj: int) -> None:
    """Write a zone's counter, as the hardware would move it."""
    (klass / zone / "energy_uj").write_text(f"{energy_uj}\n")

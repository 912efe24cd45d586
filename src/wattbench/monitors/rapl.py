"""CPU package and DRAM energy from Intel/AMD RAPL, through Linux powercap sysfs.

Files (units: microjoules):
    /sys/class/powercap/intel-rapl:<N>/name                  package-<N> (psys: skipped)
    /sys/class/powercap/intel-rapl:<N>/energy_uj             cumulative energy, wraps
    /sys/class/powercap/intel-rapl:<N>/max_energy_range_uj   the value it wraps at
    /sys/class/powercap/intel-rapl:<N>:<M>/name              dram (core, uncore: skipped)

Only package and DRAM zones are read: core and uncore are inside the package, and psys
contains both, so reading them too would count joules twice.

Linux only: powercap is a Linux interface. On macOS and Windows the source says so and is not
used (under 'auto' the estimate stands in; Intel Power Gadget or LibreHardwareMonitor read the
same counters there, but wattbench does not read them).

Permissions: since Linux 5.10 (CVE-2020-8694, "Platypus") energy_uj is readable by root only.
Counters wrap after minutes at full load (Intel ~17 min at 250 W, AMD ~3-4 min at 300 W); the
sampler reads them ten times a second, far more often than that.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from wattbench.errors import EnergySourceError
from wattbench.monitors.protocol import Channel, Poll, SourceOptions

POWERCAP = Path("/sys/class/powercap")
_ZONE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")
RESOLUTION_S = 0.001  # RAPL updates about every millisecond

PERMISSION_FIX = (
    "RAPL energy files are readable by root only (Linux 5.10+, CVE-2020-8694). Run as root, or "
    "grant read access until the next reboot: sudo chmod a+r /sys/class/powercap/intel-rapl:*/"
    "energy_uj (a udev rule or systemd-tmpfiles entry makes it permanent); or choose "
    "--wb-energy estimate"
)


def _zone_channel(zone: Path) -> Channel | None:
    """The channel a zone directory provides, or None for zones that are skipped."""
    match = _ZONE.match(zone.name)
    if match is None or not (zone / "energy_uj").exists():
        return None
    name = (zone / "name").read_text().strip()
    package = match.group(1)
    if name.startswith("package"):
        domain, label = "cpu", name
    elif name == "dram":
        domain, label = "dram", f"dram-{package}"
    else:
        return None
    wrap_uj = int((zone / "max_energy_range_uj").read_text())
    return Channel(id=label, domain=domain, kind="counter", wrap_j=wrap_uj / 1e6)


class RaplSource:
    """Cumulative package and DRAM energy in J, read from powercap sysfs."""

    name = "rapl"
    method = "measured"
    resolution_s = RESOLUTION_S

    def __init__(self, zones: dict[str, Path], channels: tuple[Channel, ...], root: Path) -> None:
        self._files = {cid: path / "energy_uj" for cid, path in zones.items()}
        self.channels = channels
        self.description = f"RAPL counters ({', '.join(c.id for c in channels)}) under {root}"

    def poll(self) -> Poll:
        """Every zone's counter in J."""
        return Poll({cid: int(path.read_text()) / 1e6 for cid, path in self._files.items()})

    def close(self) -> None:
        """Nothing to release."""


def open_rapl(root: Path = POWERCAP) -> RaplSource:
    """The RAPL source; raises EnergySourceError that says why it cannot be read, and the fix."""
    if not root.is_dir() and not sys.platform.startswith("linux"):
        raise EnergySourceError(
            f"RAPL: Linux only (powercap sysfs); this is {sys.platform}: CPU energy is not measured "
            "here (--wb-energy estimate gives the labelled estimate)"
        )
    if not root.is_dir():
        raise EnergySourceError(
            f"RAPL: {root} does not exist (no powercap driver: not an Intel/AMD CPU, or a VM or "
            "container that hides it)"
        )
    zones: dict[str, Path] = {}
    channels: list[Channel] = []
    for zone in sorted(root.iterdir()):
        try:
            channel = _zone_channel(zone)
            if channel is None:
                continue
            int((zone / "energy_uj").read_text())
        except PermissionError:
            raise EnergySourceError(f"RAPL: cannot read {zone / 'energy_uj'}. {PERMISSION_FIX}") from None
        except (OSError, ValueError) as exc:
            raise EnergySourceError(f"RAPL: cannot read zone {zone}: {exc}") from None
        zones[channel.id] = zone
        channels.append(channel)
    if not channels:
        raise EnergySourceError(f"RAPL: no package or dram zone under {root}")
    return RaplSource(zones, tuple(channels), root)


def from_options(options: SourceOptions) -> RaplSource:
    """The RAPL source (it has no settings; monitors/__init__.py's registry opens it so)."""
    return open_rapl()

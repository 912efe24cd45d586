"""Apple Silicon power through ``powermetrics``, macOS's own tool: CPU, GPU and ANE, in mW.

wattbench runs ``sudo -n powermetrics --samplers cpu_power,gpu_power -i MS -b 1`` and reads its
text output: a block per sample, opened by ``*** Sampled system activity (...) ***``. Of each
block it takes, in W:
    CPU Power: N mW      the CPU clusters; where absent, the clusters' ``<X>-Cluster Power``
                         lines summed (macOS 12 printed both)
    GPU Power: N mW      the GPU
    ANE Power: N mW      the Neural Engine
    Combined Power (CPU + GPU + ANE): N mW    used alone only where the three parts are absent
and the GPU's ``GPU HW active residency`` as utilisation (%). Each value is the mean power over
the sample's interval, so the meter integrates them (method ``integrated``); a sample arrives
once the next one begins, one interval late.

The CPU clusters come in three schemes, all read (lablup/all-smi PR #5): ``E-Cluster`` and
``P-Cluster`` (M1-M4 and most Pro/Max chips), ``E-Cluster`` with ``P0-Cluster``/``P1-Cluster``
(M1 Pro/Max), and ``E0``/``E1`` with ``P0``...``P3`` (Ultra chips, two dies); newer chips add
``S``-clusters. Each cluster's power (where printed), active residency (%) and frequency (MHz)
are kept per sample.

Permissions: powermetrics needs root. wattbench asks sudo for that one command, non-
interactively (``sudo -n``), and says so at start-up; grant it once, for powermetrics alone:
    echo "$USER ALL=(root) NOPASSWD: /usr/bin/powermetrics" | sudo tee /etc/sudoers.d/powermetrics
Never run pytest itself as root for it: the benchmark runs model-written code. (A pytest that
already runs as root runs powermetrics directly, and the description says it need not.)

Intel Macs are refused with the reason: their powermetrics prints one modelled package power
("Intel energy model derived package power (CPUs+GT+SA)"), no CPU, GPU or ANE power, and
codecarbon #1313 shows a tool taking an Intel Mac for Apple Silicon. macOS only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from wattbench.errors import EnergySourceError
from wattbench.monitors.protocol import Channel, Poll, SourceOptions

MIN_INTERVAL_MS = 100  # powermetrics' own sampling costs CPU: never faster than 10 Hz
STOP_GRACE_S = 2.0
HEADER = "*** Sampled system activity"
SUDOERS_FIX = (
    'grant it once, for powermetrics alone: echo "$USER ALL=(root) NOPASSWD: /usr/bin/powermetrics" '
    "| sudo tee /etc/sudoers.d/powermetrics (never run pytest itself as root for it)"
)
_POWER = re.compile(r"^\s*(CPU|GPU|ANE|DRAM) Power:\s*([\d.]+)\s*(mW|W)\s*$")
_COMBINED = re.compile(r"^\s*Combined Power \(CPU \+ GPU \+ ANE\):\s*([\d.]+)\s*(mW|W)\s*$")
_CLUSTER = re.compile(
    r"^\s*([A-Z]\d?)-Cluster (Power|HW active frequency|HW active residency):\s*([\d.]+)\s*(mW|W|MHz|%)"
)
_GPU_BUSY = re.compile(r"^\s*GPU (?:HW )?active residency:\s*([\d.]+)%")
_INTEL = "Intel energy model derived package power"


@dataclass(frozen=True)
class Cluster:
    """One CPU cluster in a sample: its power (W, where printed), active residency and frequency."""

    power_w: float | None = None
    active_pct: float | None = None
    frequency_mhz: float | None = None


@dataclass(frozen=True)
class PowerSample:
    """One powermetrics sample: CPU, GPU, ANE power (W), their combined figure, the clusters."""

    cpu_w: float | None = None
    gpu_w: float | None = None
    ane_w: float | None = None
    combined_w: float | None = None
    dram_w: float | None = None
    gpu_busy_pct: float | None = None
    clusters: dict[str, Cluster] = field(default_factory=dict)
    intel: bool = False  # an Intel Mac's output: a modelled package power only

    @property
    def total_w(self) -> float | None:
        """CPU + GPU + ANE (each part that is present), else Combined Power; None without either."""
        parts = [w for w in (self.cpu_w, self.gpu_w, self.ane_w) if w is not None]
        return sum(parts) if parts else self.combined_w


def _watts(value: str, unit: str) -> float:
    return float(value) / 1000.0 if unit == "mW" else float(value)


def parse_sample(text: str) -> PowerSample:
    """One sample's block of powermetrics text (samplers cpu_power and gpu_power)."""
    powers: dict[str, float] = {}
    combined = busy = None
    clusters: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if (match := _POWER.match(line)) and match.group(1) not in powers:  # GPU Power is printed twice
            powers[match.group(1)] = _watts(match.group(2), match.group(3))
        elif match := _COMBINED.match(line):
            combined = _watts(match.group(1), match.group(2))
        elif match := _CLUSTER.match(line):
            name, what, value, unit = match.groups()
            figure = _watts(value, unit) if what == "Power" else float(value)
            clusters.setdefault(name, {})[what] = figure
        elif (match := _GPU_BUSY.match(line)) and busy is None:
            busy = float(match.group(1))
    cpu = powers.get("CPU")
    cluster_power = [c["Power"] for c in clusters.values() if "Power" in c]
    if cpu is None and cluster_power:
        cpu = sum(cluster_power)
    return PowerSample(
        cpu_w=cpu, gpu_w=powers.get("GPU"), ane_w=powers.get("ANE"), combined_w=combined,
        dram_w=powers.get("DRAM"), gpu_busy_pct=busy,
        clusters={
            name: Cluster(c.get("Power"), c.get("HW active residency"), c.get("HW active frequency"))
            for name, c in clusters.items()
        },
        intel=_INTEL in text,
    )


def split_samples(text: str) -> list[str]:
    """The sample blocks of a stretch of powermetrics output (the text before the first header,
    the machine's description, is not a sample)."""
    blocks = text.split(HEADER)
    return [HEADER + block for block in blocks[1:]]


def channels_for(sample: PowerSample) -> tuple[Channel, ...]:
    """The channels a first sample offers: cpu, gpu and ane, else Combined Power alone (soc)."""
    parts = [
        Channel(cid, domain, "power")
        for cid, domain, watts in (("cpu", "cpu", sample.cpu_w), ("gpu", "gpu", sample.gpu_w),
                                   ("ane", "ane", sample.ane_w))
        if watts is not None
    ]
    if parts:
        return tuple(parts)
    if sample.combined_w is not None:
        return (Channel("soc", "soc", "power"),)
    return ()


def values_of(sample: PowerSample, channels: tuple[Channel, ...]) -> dict[str, float]:
    """Channel id -> W from one sample (a part the sample lacks is a gap, not 0 W)."""
    by_id = {"cpu": sample.cpu_w, "gpu": sample.gpu_w, "ane": sample.ane_w, "soc": sample.combined_w}
    return {c.id: w for c in channels if (w := by_id.get(c.id)) is not None}


class PowermetricsProcess:
    """A running powermetrics; keeps the latest complete sample. It runs in a process group of
    its own (with sudo in it); close() stops the group, SIGTERM then SIGKILL."""

    def __init__(self, argv: list[str], interval_ms: int, first_sample_s: float = 5.0) -> None:
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )
        self.latest: PowerSample | None = None
        self.samples = 0
        self._closed = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, name="wattbench-powermetrics", daemon=True)
        self._thread.start()
        self._ready.wait(max(first_sample_s, 3 * interval_ms / 1000))
        if self.latest is None:  # no sample in time, or it ended without one (sudo refused)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1.0)
            error = self._stderr() if self._process.returncode is not None else ""
            self.close()
            raise EnergySourceError(_start_failure(argv, error))
        if self.latest.intel:
            self.close()
            raise EnergySourceError(INTEL_REFUSAL)

    def _read(self) -> None:
        assert self._process.stdout is not None
        block: list[str] = []
        for line in self._process.stdout:
            if line.startswith(HEADER) and block:
                self._take("".join(block))
                block = []
            if line.startswith(HEADER) or block:
                block.append(line)
        if block:  # the last sample, complete once powermetrics ended
            self._take("".join(block))
        self._ready.set()  # ended without a sample: the opener reads stderr

    def _take(self, text: str) -> None:
        sample = parse_sample(text)
        if sample.total_w is not None or sample.intel:
            self.latest = sample
            self.samples += 1
            self._ready.set()

    def _stderr(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            if self._process.stderr is not None:
                return " ".join(self._process.stderr.read().split())[:400]
        return ""

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop powermetrics (and sudo) and the reader thread."""
        if self._closed:
            return
        self._closed = True
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=grace_s)
            if self._process.returncode is not None:
                break
        self._thread.join(timeout=grace_s)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None and not self._thread.is_alive():
                with contextlib.suppress(OSError):
                    stream.close()


INTEL_REFUSAL = (
    "powermetrics: this is an Intel Mac: its powermetrics prints one modelled package power (Intel "
    "energy model derived package power), no CPU, GPU or ANE power, so wattbench does not take it "
    "for a measurement (codecarbon #1313); --wb-energy estimate gives the labelled estimate"
)


def _start_failure(argv: list[str], error: str) -> str:
    """Why powermetrics gave no sample, and the fix."""
    if "password" in error or "sudo" in error:
        return f"powermetrics: needs root, and sudo asks for a password ({error}); {SUDOERS_FIX}"
    return f"powermetrics: {' '.join(argv)} printed no power sample" + (f": {error}" if error else "")


def apple_silicon(read: Callable[[list[str]], str] | None = None) -> bool:
    """Whether this Mac has Apple Silicon (``sysctl -n hw.optional.arm64`` is 1, even for a
    Python under Rosetta, where platform.machine() says x86_64)."""
    def sysctl(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
        return done.stdout

    try:
        return (read or sysctl)(["sysctl", "-n", "hw.optional.arm64"]).strip() == "1"
    except (OSError, subprocess.SubprocessError):
        return False


class PowermetricsSource:
    """Power of Apple Silicon's CPU, GPU and ANE in W, sampled from powermetrics."""

    name = "powermetrics"
    method = "integrated"

    def __init__(
        self, read: Callable[[], PowerSample], channels: tuple[Channel, ...], description: str,
        resolution_s: float, on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self._read = read
        self._on_close = on_close
        self.channels = channels
        self.description = description
        self.resolution_s = resolution_s

    def poll(self) -> Poll:
        """The latest sample's power per channel (W), and the GPU's busy share."""
        sample = self._read()
        gauges = {} if sample.gpu_busy_pct is None else {"gpu_util_pct": sample.gpu_busy_pct}
        return Poll(values_of(sample, self.channels), gauges)

    def close(self) -> None:
        """Stop powermetrics."""
        self._on_close()


def open_powermetrics(
    interval_ms: int = MIN_INTERVAL_MS,
    command: str = "powermetrics",
    sudo: str = "sudo",
    platform: str = sys.platform,
    is_apple_silicon: Callable[[], bool] = apple_silicon,
    euid: int | None = None,
) -> PowermetricsSource:
    """The powermetrics source; EnergySourceError saying why not (not macOS, an Intel Mac, no
    sudo without a password) and the fix. The other parameters let tests stand in for macOS."""
    if platform != "darwin":
        raise EnergySourceError(f"powermetrics: macOS only (Apple Silicon); this is {platform}")
    if not is_apple_silicon():
        raise EnergySourceError(INTEL_REFUSAL)
    path = shutil.which(command)
    if path is None:
        raise EnergySourceError(f"powermetrics: {command!r} is not on PATH (it ships with macOS in /usr/bin)")
    interval_ms = max(MIN_INTERVAL_MS, interval_ms)
    argv = [path, "--samplers", "cpu_power,gpu_power", "-i", str(interval_ms), "-b", "1"]
    as_root = (os.geteuid() if euid is None else euid) == 0
    if as_root:
        how = "run directly: pytest runs as root, which powermetrics alone needs; " + SUDOERS_FIX
    else:
        sudo_path = shutil.which(sudo)
        if sudo_path is None:
            raise EnergySourceError(
                f"powermetrics: needs root, and there is no {sudo!r} on PATH; {SUDOERS_FIX}"
            )
        argv = [sudo_path, "-n", *argv]
        how = "through sudo -n (it needs root; wattbench asks sudo for powermetrics alone)"
    process = PowermetricsProcess(argv, interval_ms)
    first = process.latest
    assert first is not None
    channels = channels_for(first)
    if not channels:
        process.close()
        raise EnergySourceError("powermetrics: its samples hold no CPU, GPU, ANE or Combined Power line")
    clusters = ", ".join(first.clusters) or "none named"
    description = (
        f"powermetrics every {interval_ms} ms {how}: {' + '.join(c.id.upper() for c in channels)} "
        f"power x time (CPU clusters: {clusters})"
    )

    def latest() -> PowerSample:
        sample = process.latest
        assert sample is not None
        return sample

    return PowermetricsSource(latest, channels, description, interval_ms / 1000.0, process.close)


def from_options(options: SourceOptions) -> PowermetricsSource:
    """The powermetrics source, read at the run's sampler rate (the registry opens it so)."""
    return open_powermetrics(interval_ms=options.interval_ms)

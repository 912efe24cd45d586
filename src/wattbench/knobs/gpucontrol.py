"""Changing an NVIDIA GPU's power limit and locked SM clocks, and putting them back.

Who may change them: NVML's set calls need root (with CAP_SYS_ADMIN in a container). wattbench
never asks for pytest to run as root; it changes settings through, in this order:

- **Zeus's daemon** ``zeusd`` (github.com/ml-energy/zeus, ``zeusd/``): a small root daemon that
  serves a scoped HTTP API on a Unix socket. ``ZEUSD_SOCK_PATH`` (Zeus's own variable) names the
  socket; its ``gpu-control`` API group sets a power limit (``POST /gpu/set_power_limit``,
  ``power_limit_mw``) and locks or resets SM clocks (``/gpu/set_gpu_locked_clocks``,
  ``/gpu/reset_gpu_locked_clocks``); ``ZEUSD_TOKEN``, where set, is sent as its bearer token.
- **a root process**: NVML directly (``nvmlDeviceSetPowerManagementLimit``,
  ``nvmlDeviceSetGpuLockedClocks``, ``nvmlDeviceResetGpuLockedClocks``).

With neither, :func:`open_control` raises GpuControlError saying how to grant it. Reading needs
no privilege: the enforced limit, the SM clock and the clock-event reasons are read through NVML
in this process, whoever changed them. GPUs are named by their NVML index, as zeusd names them.

Putting back (:class:`GpuSettings`): what a GPU had before the first change is written to a
state file (``$XDG_STATE_HOME/wattbench/gpus/<host>-<uuid>.json``, default
``~/.local/state/wattbench``) *before* the change is made. ``restore`` puts it back and removes the
file; it runs on close (a ``finally``) and at exit (``atexit``), and a later start restores every
file of this host whose process is gone (a crash, ``kill -9``). NVML cannot read a clock lock
back, so restored clocks are the driver's default (unlocked): a lock set before the run is not
kept.

Errors, at this boundary: a card that refuses a setting (NVML_ERROR_NOT_SUPPORTED: laptop GPUs
for a power limit, NVIDIA/open-gpu-kernel-modules#483; Pascal and older for locked clocks; a
value outside its range) raises UnsupportedKnobError, so that axis point is recorded and skipped;
no permission raises GpuControlError; anything else GenerationError.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import importlib
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import psutil

from wattbench.errors import GenerationError, GpuControlError, UnsupportedKnobError

GRANT = (
    "--wb-gpu-power-limit and --wb-gpu-clocks change GPU settings, which needs privilege, and this "
    "process has none: it is not root and ZEUSD_SOCK_PATH names no Zeus daemon. Do not run pytest as "
    "root; let Zeus's daemon "
    "make the change for you: install it (cargo install zeusd, or the mlenergy/zeusd image), start "
    "it as root with `sudo zeusd serve --socket-path /run/zeusd/zeusd.sock --socket-permissions 666` "
    "(or its systemd unit), then `export ZEUSD_SOCK_PATH=/run/zeusd/zeusd.sock` "
    "(docs/settings.md: \"GPU power cap and locked clocks as axes\")"
)
POWER_HINT = " (laptop GPUs often refuse a power limit: NVIDIA/open-gpu-kernel-modules#483)"
CLOCK_HINT = " (locking clocks needs a Volta or newer GPU: Pascal and older cannot)"
TIMEOUT_S = 30.0  # a blocking zeusd write waits for the driver


@dataclass(frozen=True)
class Gpu:
    """One GPU whose settings may change: its NVML index (zeusd's id too), handle, UUID and name."""

    index: int
    handle: Any
    uuid: str
    name: str

    def __str__(self) -> str:
        return f"GPU {self.index} ({self.name})"


class Control(Protocol):
    """Who changes the settings: NVML as root, or Zeus's daemon. Each call raises
    UnsupportedKnobError (the card refuses), GpuControlError (no permission) or GenerationError."""

    name: str
    """'nvml' (root) or 'zeusd'; records say it as gpu_knob_control."""
    description: str

    def set_power_limit(self, gpu: Gpu, milliwatts: int) -> None:
        """Set ``gpu``'s power limit, in mW."""

    def lock_clocks(self, gpu: Gpu, mhz: int) -> None:
        """Lock ``gpu``'s SM clock at ``mhz`` MHz (minimum = maximum)."""

    def reset_clocks(self, gpu: Gpu) -> None:
        """Unlock ``gpu``'s SM clock: the driver's default."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_module() -> Any:
    """pynvml (the nvidia-ml-py package); GpuControlError naming the extra when it is missing."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        raise GpuControlError(
            "--wb-gpu-power-limit and --wb-gpu-clocks need NVML: pip install 'wattbench[nvidia]' "
            "(nvidia-ml-py) and an NVIDIA driver"
        ) from None


class NvmlControl:
    """Settings changed through NVML by this process, which must be root (CAP_SYS_ADMIN)."""

    name = "nvml"
    description = "NVML as root"

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml

    def _call(self, gpu: Gpu, what: str, hint: str, call: Callable[..., Any], *args: int) -> None:
        nvml = self._nvml
        try:
            call(gpu.handle, *args)
        except nvml.NVMLError as exc:
            said = f"{type(exc).__name__}: {exc}"
            code = getattr(exc, "value", None)
            if code == nvml.NVML_ERROR_NO_PERMISSION:
                raise GpuControlError(
                    f"{gpu}: this root process may not change its settings ({said}): a container needs "
                    "CAP_SYS_ADMIN (docker run --cap-add SYS_ADMIN), or run Zeus's daemon on the host "
                    "and set ZEUSD_SOCK_PATH"
                ) from None
            if code == nvml.NVML_ERROR_NOT_SUPPORTED:
                raise UnsupportedKnobError(f"{gpu} refuses {what}: {said}{hint}") from None
            if code == nvml.NVML_ERROR_INVALID_ARGUMENT:
                raise UnsupportedKnobError(f"{gpu} refuses {what}, outside its range: {said}") from None
            raise GenerationError(f"{gpu}: {what} failed: {said}") from None

    def set_power_limit(self, gpu: Gpu, milliwatts: int) -> None:
        """nvmlDeviceSetPowerManagementLimit (mW)."""
        self._call(gpu, f"a power limit of {milliwatts / 1000:g} W", POWER_HINT,
                   self._nvml.nvmlDeviceSetPowerManagementLimit, milliwatts)

    def lock_clocks(self, gpu: Gpu, mhz: int) -> None:
        """nvmlDeviceSetGpuLockedClocks (MHz)."""
        self._call(gpu, f"SM clocks locked at {mhz} MHz", CLOCK_HINT,
                   self._nvml.nvmlDeviceSetGpuLockedClocks, mhz, mhz)

    def reset_clocks(self, gpu: Gpu) -> None:
        """nvmlDeviceResetGpuLockedClocks."""
        self._call(gpu, "a change of its locked clocks", CLOCK_HINT,
                   self._nvml.nvmlDeviceResetGpuLockedClocks)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix domain socket (zeusd's default transport)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class ZeusdControl:
    """Settings changed by Zeus's daemon over its Unix socket (its gpu-control API group)."""

    name = "zeusd"

    def __init__(self, path: str, token: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.path = path
        self.description = f"Zeus's daemon at {path}"
        self._token = token
        self._timeout_s = timeout_s
        status, body = self._request("GET", "/discover", {})
        if status != 200:
            raise GpuControlError(f"Zeus's daemon at {path} answered /discover with HTTP {status}: {body}")
        try:
            found = json.loads(body)
            self.gpu_ids = {int(g["id"]) for g in found.get("gpus", [])}
            groups = set(found.get("enabled_api_groups", []))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise GpuControlError(
                f"Zeus's daemon at {path}: /discover is not what zeusd sends: {body[:200]}"
            ) from None
        if "gpu-control" not in groups:
            raise GpuControlError(
                f"Zeus's daemon at {path} does not serve gpu-control (it serves "
                f"{', '.join(sorted(groups)) or 'none'}): "
                "start it as root with gpu-control enabled, e.g. `sudo zeusd serve --socket-path "
                f"{path} --socket-permissions 666` (every group is on by default on Linux)"
            )

    def _request(self, method: str, path: str, params: Mapping[str, Any]) -> tuple[int, str]:
        query = urllib.parse.urlencode(params)
        conn = _UnixConnection(self.path, self._timeout_s)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            conn.request(method, path + (f"?{query}" if query else ""), headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except OSError as exc:
            raise GpuControlError(
                f"Zeus's daemon at {self.path} (ZEUSD_SOCK_PATH) cannot be reached ({exc}): is it running? "
                f"Start it as root: `sudo zeusd serve --socket-path {self.path} --socket-permissions 666`"
            ) from None
        finally:
            conn.close()

    def _write(self, gpu: Gpu, what: str, hint: str, path: str, **params: int) -> None:
        if gpu.index not in self.gpu_ids:
            raise GpuControlError(f"Zeus's daemon at {self.path} lists no GPU {gpu.index} (it lists "
                                  f"{sorted(self.gpu_ids)}); it must see the GPUs NVML sees here")
        status, body = self._request(
            "POST", path, {"gpu_ids": str(gpu.index), **params, "block": "true"}
        )
        if status == 200:
            return
        said = _zeusd_error(body, gpu.index)
        if status in (401, 403):
            raise GpuControlError(
                f"Zeus's daemon refuses {what} on {gpu} (HTTP {status}: {said}): zeusd must run as root "
                "with CAP_SYS_ADMIN, and a token (ZEUSD_TOKEN) needs the gpu-control scope"
            )
        if status == 404:
            raise GpuControlError(f"Zeus's daemon at {self.path} does not serve {path} (HTTP 404: {said}): "
                                  "enable its gpu-control API group")
        if status == 400:
            raise UnsupportedKnobError(f"{gpu} refuses {what}: zeusd: {said}{hint}")
        raise GenerationError(f"{gpu}: {what} failed: zeusd answered HTTP {status}: {said}")

    def set_power_limit(self, gpu: Gpu, milliwatts: int) -> None:
        """POST /gpu/set_power_limit."""
        self._write(gpu, f"a power limit of {milliwatts / 1000:g} W", POWER_HINT, "/gpu/set_power_limit",
                    power_limit_mw=milliwatts)

    def lock_clocks(self, gpu: Gpu, mhz: int) -> None:
        """POST /gpu/set_gpu_locked_clocks."""
        self._write(gpu, f"SM clocks locked at {mhz} MHz", CLOCK_HINT, "/gpu/set_gpu_locked_clocks",
                    min_clock_mhz=mhz, max_clock_mhz=mhz)

    def reset_clocks(self, gpu: Gpu) -> None:
        """POST /gpu/reset_gpu_locked_clocks."""
        self._write(gpu, "a change of its locked clocks", CLOCK_HINT, "/gpu/reset_gpu_locked_clocks")


def _zeusd_error(body: str, index: int) -> str:
    """zeusd's message for GPU ``index`` from its ``{"errors": {"<id>": "..."}}`` body, else the body."""
    try:
        errors = json.loads(body).get("errors", {})
        return str(errors.get(str(index)) or next(iter(errors.values())))
    except (ValueError, AttributeError, StopIteration):
        return body.strip()[:300] or "no message"


def open_control(nvml: Any, env: Mapping[str, str] = os.environ, euid: int | None = None) -> Control:
    """Zeus's daemon where ZEUSD_SOCK_PATH names one, else NVML when this process is root;
    GpuControlError saying how to grant the privilege otherwise. ``euid``: the effective user id
    (default: this process's)."""
    path = env.get("ZEUSD_SOCK_PATH")
    if path:
        return ZeusdControl(path, env.get("ZEUSD_TOKEN") or None)
    if euid is None:
        geteuid = getattr(os, "geteuid", None)
        euid = geteuid() if geteuid is not None else -1
    if euid == 0:
        return NvmlControl(nvml)
    raise GpuControlError(GRANT)


# -- the device set ----------------------------------------------------------------------------
def all_gpus(nvml: Any) -> list[Gpu]:
    """Every GPU NVML sees (NVML must be initialised)."""
    gpus = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid, name = _text(nvml.nvmlDeviceGetUUID(handle)), _text(nvml.nvmlDeviceGetName(handle))
        gpus.append(Gpu(index, handle, uuid, name))
    return gpus


def device_set(nvml: Any, wanted: Sequence[str] | None, env: Mapping[str, str] = os.environ) -> list[Gpu]:
    """The GPUs a run (or an xdist worker) uses: ``wanted`` (--wb-gpus, or the worker's
    --wb-devices set), else CUDA_VISIBLE_DEVICES, else every GPU; indices, UUIDs or unique UUID
    prefixes, as CUDA takes them. GpuControlError when an entry names no GPU or none is left."""
    gpus = all_gpus(nvml)
    from_env = wanted is None
    if from_env:
        value = env.get("CUDA_VISIBLE_DEVICES")
        wanted = None if value is None else [v.strip() for v in value.split(",") if v.strip()]
    if wanted is None or [w.lower() for w in wanted] == ["all"]:
        chosen = gpus
    else:
        chosen = []
        for item in wanted:
            hits = ([g for g in gpus if str(g.index) == item] if item.isdigit()
                    else [g for g in gpus if g.uuid.lower().startswith(item.lower())])
            if len(hits) != 1:
                if from_env:  # CUDA ignores this entry and every one after it
                    break
                raise GpuControlError(f"--wb-gpus: no single GPU {item!r} among {len(gpus)} GPUs")
            if hits[0] not in chosen:
                chosen.append(hits[0])
    if not chosen:
        raise GpuControlError("--wb-gpu-power-limit / --wb-gpu-clocks: the run's device set holds no GPU "
                              "(CUDA_VISIBLE_DEVICES or --wb-gpus)")
    return chosen


# -- what a GPU had before: the state files --------------------------------------------------
@dataclass(frozen=True)
class Saved:
    """What one GPU had before a run changed it, and which run changed it."""

    uuid: str
    index: int
    name: str
    power_limit_mw: int | None  # the limit before the first change; None: the limit was not changed
    clocks: bool  # the clocks were locked by the run: restoring resets them
    pid: int
    host: str
    started: float  # the run's process start (time.time()), against pid reuse

    def __str__(self) -> str:
        return f"GPU {self.index} ({self.name}, {self.uuid})"


def state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where the state files live: $XDG_STATE_HOME/wattbench/gpus, else ~/.local/state/wattbench/gpus."""
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "wattbench" / "gpus"


def _started(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        return float(psutil.Process(pid).create_time())
    return time.time()


class StateFiles:
    """One JSON file per GPU this host's runs have changed, written before the change."""

    def __init__(self, directory: Path, host: str | None = None, pid: int | None = None) -> None:
        self.directory = directory
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.started = _started(self.pid)

    def path(self, uuid: str) -> Path:
        """The state file of the GPU with this UUID."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{self.host}-{uuid}")
        return self.directory / f"{safe}.json"

    def save(self, saved: Saved) -> None:
        """Write (atomically) what the GPU had, before the change it guards is made."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(saved.uuid)
        part = path.with_name(f".{path.name}.{os.getpid()}")
        part.write_text(json.dumps(asdict(saved), indent=1), encoding="utf-8")
        os.replace(part, path)

    def remove(self, uuid: str) -> None:
        """The GPU is back as it was: forget it."""
        with contextlib.suppress(FileNotFoundError):
            self.path(uuid).unlink()

    def left(self) -> list[Saved]:
        """This host's state files (any run's), oldest first; unreadable ones skipped."""
        found = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else ():
            with contextlib.suppress(OSError, ValueError, TypeError):
                saved = Saved(**json.loads(path.read_text(encoding="utf-8")))
                if saved.host == self.host:
                    found.append(saved)
        return sorted(found, key=lambda s: s.started)

    def held_elsewhere(self, saved: Saved) -> bool:
        """Whether another live run holds the GPU (its process exists and is the one that wrote it)."""
        if saved.pid == self.pid:
            return False  # this process's own, from an earlier session in it that did not close
        try:
            return psutil.Process(saved.pid).create_time() <= saved.started + 1.0
        except psutil.Error:
            return False  # gone: a crash, kill -9, or a reboot


class GpuSettings:
    """The power limit and SM clocks of one device set, changed through one Control and put back
    by :meth:`restore` (close, atexit, or the next start's :meth:`recover`)."""

    def __init__(self, control: Control, nvml: Any, gpus: Sequence[Gpu], state: StateFiles) -> None:
        self.control = control
        self.nvml = nvml
        self.gpus = list(gpus)
        self.state = state
        self.saved: dict[str, Saved] = {}  # uuid -> what it had (this run's changes only)
        self._atexit = False

    def _guard(self, gpu: Gpu, power: bool, clocks: bool) -> bool:
        """Write the GPU's state file, with what it has now, before the first change of each kind;
        whether this call added to it (a refused change takes it back: :meth:`_unguard`)."""
        old = self.saved.get(gpu.uuid)
        if old is not None and (not power or old.power_limit_mw is not None) and (not clocks or old.clocks):
            return False
        if old is None:
            old = Saved(gpu.uuid, gpu.index, gpu.name, None, False, self.state.pid, self.state.host,
                        self.state.started)
        if power and old.power_limit_mw is None:
            old = replace(old, power_limit_mw=int(self.nvml.nvmlDeviceGetPowerManagementLimit(gpu.handle)))
        if clocks:
            old = replace(old, clocks=True)
        self.state.save(old)
        self.saved[gpu.uuid] = old
        if not self._atexit:
            atexit.register(self.restore)
            self._atexit = True
        return True

    def _unguard(self, gpu: Gpu, power: bool, clocks: bool) -> None:
        """The change the guard was written for was refused, so nothing changed: forget it."""
        saved = self.saved[gpu.uuid]
        saved = replace(saved, power_limit_mw=None if power else saved.power_limit_mw,
                        clocks=False if clocks else saved.clocks)
        if saved.power_limit_mw is None and not saved.clocks:
            del self.saved[gpu.uuid]
            self.state.remove(gpu.uuid)
        else:
            self.saved[gpu.uuid] = saved
            self.state.save(saved)

    def original_limit_mw(self, gpu: Gpu) -> int:
        """The GPU's power limit before this run changed it (mW)."""
        saved = self.saved.get(gpu.uuid)
        if saved is not None and saved.power_limit_mw is not None:
            return saved.power_limit_mw
        return int(self.nvml.nvmlDeviceGetPowerManagementLimit(gpu.handle))

    def set_power_limit(self, gpu: Gpu, milliwatts: int | None) -> None:
        """Set a limit in mW; None: the one it had before the run."""
        fresh = self._guard(gpu, power=True, clocks=False)
        try:
            target = self.original_limit_mw(gpu) if milliwatts is None else milliwatts
            self.control.set_power_limit(gpu, target)
        except (UnsupportedKnobError, GpuControlError):
            if fresh:
                self._unguard(gpu, power=True, clocks=False)
            raise

    def lock_clocks(self, gpu: Gpu, mhz: int | None) -> None:
        """Lock the SM clock at ``mhz``; None: unlocked (the driver's default)."""
        fresh = self._guard(gpu, power=False, clocks=True)
        try:
            if mhz is None:
                self.control.reset_clocks(gpu)
            else:
                self.control.lock_clocks(gpu, mhz)
        except (UnsupportedKnobError, GpuControlError):
            if fresh:
                self._unguard(gpu, power=False, clocks=True)
            raise

    def restore(self) -> list[str]:
        """Put every changed GPU back and remove its state file; what could not be, with the
        command that does it by hand (its state file stays for the next start)."""
        failed = []
        for uuid, saved in list(self.saved.items()):
            gpu = next((g for g in self.gpus if g.uuid == uuid), None)
            error = put_back(self.control, gpu, saved) if gpu is not None else "not in this run's device set"
            if error is None:
                self.state.remove(uuid)
                del self.saved[uuid]
            else:
                failed.append(f"{saved} was not restored ({error}); {by_hand(saved)}")
        if self._atexit and not self.saved:
            atexit.unregister(self.restore)
            self._atexit = False
        return failed

    def recover(self) -> list[str]:
        """Restore what earlier runs on this host left changed and did not put back (their process
        is gone). Lines saying what was done; GpuControlError when a live run holds a GPU of this
        device set."""
        lines = []
        mine = {g.uuid for g in self.gpus}
        every = {g.uuid: g for g in all_gpus(self.nvml)}
        for saved in self.state.left():
            if saved.uuid in self.saved:
                continue
            if self.state.held_elsewhere(saved):
                if saved.uuid in mine:
                    raise GpuControlError(
                        f"{saved} is being changed by another wattbench run (pid {saved.pid}); give each run "
                        "its own GPUs (CUDA_VISIBLE_DEVICES or --wb-gpus; each pytest-xdist worker its own "
                        "set with --wb-devices)"
                    )
                continue
            gpu = every.get(saved.uuid)
            error = "no GPU here has that UUID" if gpu is None else put_back(self.control, gpu, saved)
            if error is None:
                self.state.remove(saved.uuid)
                lines.append(f"restored {saved} as it was before the run of pid {saved.pid} changed it"
                             f" ({describe(saved)}); that run ended without restoring it")
            else:
                lines.append(f"{saved} is left as the run of pid {saved.pid} changed it ({error}); "
                             f"{by_hand(saved)}")
        return lines


def put_back(control: Control, gpu: Gpu, saved: Saved) -> str | None:
    """Restore one GPU; None when done, else what failed."""
    errors = []
    if saved.power_limit_mw is not None:
        try:
            control.set_power_limit(gpu, saved.power_limit_mw)
        except Exception as exc:  # every failure is said, and the state file kept for later
            errors.append(str(exc))
    if saved.clocks:
        try:
            control.reset_clocks(gpu)
        except Exception as exc:
            errors.append(str(exc))
    return "; ".join(errors) or None


def describe(saved: Saved) -> str:
    """What restoring ``saved`` sets, in words."""
    parts = []
    if saved.power_limit_mw is not None:
        parts.append(f"power limit {saved.power_limit_mw / 1000:g} W")
    if saved.clocks:
        parts.append("clocks unlocked")
    return ", ".join(parts) or "nothing changed"


def by_hand(saved: Saved) -> str:
    """The nvidia-smi commands that restore ``saved``."""
    commands = []
    if saved.power_limit_mw is not None:
        commands.append(f"sudo nvidia-smi -i {saved.uuid} -pl {saved.power_limit_mw / 1000:g}")
    if saved.clocks:
        commands.append(f"sudo nvidia-smi -i {saved.uuid} -rgc")
    return "restore it by hand: " + " && ".join(commands) if commands else "nothing to restore"

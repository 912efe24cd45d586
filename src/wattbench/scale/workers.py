"""pytest-xdist workers inside one host: GPU sets, overlapping windows, and the benchmark JSON.

- ``--wb-devices "0,1;2,3"`` gives worker gw0 GPUs 0,1 and gw1 GPUs 2,3 (round robin beyond),
  set as each GPU runtime's visibility variable (CUDA_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES) in the
  worker before any engine starts; its energy sources then measure only that set.
- Workers share the machine: a window during which another worker was generating is marked
  ``energy_shared`` (:class:`WindowLog`), and its machine-wide figures are said not to be
  attributable to the case. Nothing is double-counted silently.
- Each model's items go to one worker, so it loads once (:func:`make_scheduler`, through xdist's
  ``pytest_xdist_make_scheduler`` hook).
- pytest-benchmark switches itself off under xdist, so each worker times its rounds itself and
  sends pytest-benchmark-format entries to the controller (``workeroutput``), which writes
  ``--benchmark-json`` (:func:`benchmark_entry`, :func:`benchmark_json`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wattbench.monitors.gpu import set_visible

ACTIVE_DIR = ".windows"  # in the run folder: one file per worker while it generates


def parse_devices(value: str) -> tuple[tuple[str, ...], ...]:
    """'0,1;2,3' -> (('0', '1'), ('2', '3')): one GPU set per worker, ';' between sets.

    Raises ValueError naming the value and the form.
    """
    sets = tuple(tuple(d.strip() for d in part.split(",") if d.strip()) for part in value.split(";"))
    if not sets or any(not s for s in sets):
        raise ValueError(
            f"{value!r} is not a list of GPU sets; give one set per worker, sets separated by ';' and "
            "GPUs by ',', e.g. '0,1;2,3' (indices or UUIDs)"
        )
    return sets


def worker_index(worker_id: str) -> int:
    """'gw3' -> 3."""
    return int(worker_id.removeprefix("gw"))


def devices_for(worker_id: str, sets: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The GPU set of a worker: its index into ``sets``, round robin."""
    return tuple(sets[worker_index(worker_id) % len(sets)])


class WindowLog:
    """Which workers generated at the same time, through files in the run folder.

    While a worker's window is open, ``.windows/<worker>.active`` holds its start; when it
    closes, the interval is appended to ``.windows/<worker>.log``. A window overlaps another
    worker's when that worker's file says it was open during it. Times are wall-clock seconds
    (time.time), the clock all workers of one host share.
    """

    def __init__(self, run_dir: Path, worker: str, devices: Sequence[str] | None) -> None:
        self.dir = run_dir / ACTIVE_DIR
        self.worker = worker
        self.devices = tuple(devices) if devices is not None else None
        self._start: float | None = None
        # Bytes of each other worker's log already read: an interval logged before this
        # worker's previous window closed ended before the next one opened, so only what was
        # appended since can overlap (each window reads only the new lines, not whole logs).
        self._read: dict[Path, int] = {}

    def _write(self, path: Path, text: str, mode: str = "w") -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with path.open(mode, encoding="utf-8") as handle:
            handle.write(text)

    def begin(self) -> None:
        """A window opens."""
        self._start = time.time()
        payload = {"start": self._start, "devices": self.devices}
        self._write(self.dir / f"{self.worker}.active", json.dumps(payload))

    def end(self) -> list[dict[str, Any]]:
        """The window closes; one entry per other worker whose window overlapped it."""
        start, end = self._start or time.time(), time.time()
        self._start = None
        interval = {"start": start, "end": end, "devices": self.devices}
        self._write(self.dir / f"{self.worker}.log", json.dumps(interval) + "\n", mode="a")
        with contextlib.suppress(FileNotFoundError):
            (self.dir / f"{self.worker}.active").unlink()
        overlaps: dict[str, dict[str, Any]] = {}
        for path in sorted(self.dir.glob("*")):
            other = path.stem
            if other == self.worker or other in overlaps:
                continue
            for seen in self._new_intervals(path):
                if seen["start"] < end and seen.get("end", end) > start:
                    overlaps[other] = {"worker": other, "devices": seen.get("devices")}
                    break
        return list(overlaps.values())

    def _new_intervals(self, path: Path) -> list[dict[str, Any]]:
        """An .active file's one interval (still open), or the intervals a .log gained since
        this worker last looked; [] for a file being rewritten or unreadable."""
        try:
            with path.open("rb") as handle:
                if path.suffix == ".log":
                    handle.seek(self._read.get(path, 0))
                data = handle.read()
        except OSError:
            return []
        if path.suffix == ".log":
            whole = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
            self._read[path] = self._read.get(path, 0) + len(whole)
            data = whole
        intervals = []
        for line in data.decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                intervals.append(json.loads(line))
        return intervals


def sharing_figures(overlaps: Sequence[Mapping[str, Any]], devices: Sequence[str] | None) -> dict[str, Any]:
    """Record keys for a window that other workers overlapped ({} when none did).

    GPUs of disjoint --wb-devices sets stay attributable; everything machine-wide (CPU package,
    the CPU estimate's machine share, a shared GPU) is not.
    """
    if not overlaps:
        return {}
    shared_gpu = devices is None or any(
        o.get("devices") is None or set(o["devices"]) & set(devices) for o in overlaps
    )
    what = "machine-wide figures (CPU package" + (", GPU" if shared_gpu else "") + ")"
    return {
        "energy_shared": True,
        "energy_shared_workers_count": len({o["worker"] for o in overlaps}),
        "energy_attribution": f"not attributable: {len(overlaps)} other worker(s) generated during this "
        f"window; its {what} include their work",
    }


TIMED_BY_XDIST = "wattbench (pytest-benchmark is off under pytest-xdist)"
TIMED_BY_RESUME = ("wattbench (resumed: measured by an earlier session into the run folder; the rounds "
                   "are its records' latency_s)")


def benchmark_entry(
    fixture: Any, extra_info: Mapping[str, Any], durations: Sequence[float], timed_by: str = TIMED_BY_XDIST,
) -> dict[str, Any]:
    """One case's entry in pytest-benchmark's JSON format, from rounds timed by wattbench;
    ``fixture`` is anything with pytest-benchmark's fixture's name, fullname, params, param."""
    stats: Any = importlib.import_module("pytest_benchmark.stats").Stats()  # untyped: Any
    for duration in durations:
        stats.update(duration)
    numbers = stats.as_dict()
    numbers["data"] = list(durations)
    numbers["iterations"] = 1
    return {
        "group": getattr(fixture, "group", None),
        "name": fixture.name,
        "fullname": fixture.fullname,
        "params": fixture.params,
        "param": fixture.param,
        "extra_info": dict(extra_info),
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": len(durations),
                    "max_time": None, "min_time": None, "warmup": False,
                    "timed_by": timed_by},
        "stats": numbers,
    }


def benchmark_json(
    config: Any, entries: Sequence[Mapping[str, Any]], wattbench: Mapping[str, Any]
) -> dict[str, Any]:
    """The whole --benchmark-json document, as pytest-benchmark writes it, for entries the
    controller collected from its workers."""
    import pytest_benchmark

    machine = config.hook.pytest_benchmark_generate_machine_info(config=config)
    commit = config.hook.pytest_benchmark_generate_commit_info(config=config)
    return {
        "machine_info": machine,
        "commit_info": commit,
        "benchmarks": sorted(entries, key=lambda e: str(e.get("fullname"))),
        "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "version": pytest_benchmark.__version__,
        "wattbench": dict(wattbench),
    }


def set_visible_devices(devices: Sequence[str]) -> None:
    """Make only ``devices`` visible to every GPU runtime in this process (before any engine
    starts): each GPU energy source names its variable (monitors/gpu.py)."""
    set_visible(devices)


GROWTH_TEST = "test_prompt_growth"  # its parameter is a level group id: model-task-load


def model_of_nodeid(nodeid: str) -> str | None:
    """The model a wattbench item runs on, from its node id: the parameter id is a case id
    (model-task-load-level; wattbench.ids) or, for the growth check, a group id
    (model-task-load). None for an item without a parameter id."""
    name, bracket, param = nodeid.partition("[")
    if not bracket:
        return None
    parts = 2 if name.rsplit("::", 1)[-1] == GROWTH_TEST else 3
    split = param.rstrip("]").rsplit("-", parts)
    return split[0] if len(split) == parts + 1 else None


def make_scheduler(config: Any, log: Any) -> Any:
    """xdist's load-scope scheduling with one scope per model: every item of a model runs on
    the same worker, which loads it once. With fewer models than workers, scopes are items
    instead: each worker loads the models it is given, and no worker sits idle (one model over
    two workers ran 30 SmolLM2 cases in 52 s against 92 s grouped). (xdist's own loadgroup marks
    scopes by rewriting node ids, which pytest 9.2 no longer allows; the model is read from the
    id itself.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModelScheduling(LoadScopeScheduling):  # type: ignore[misc]
        by_model = True

        def schedule(self) -> None:
            collections = list(self.registered_collections.values())
            if self.collection is None and collections:
                models = {model_of_nodeid(nodeid) for nodeid in collections[0]} - {None}
                self.by_model = len(models) >= len(self.nodes)
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            return (model_of_nodeid(nodeid) if self.by_model else None) or nodeid

    return ModelScheduling(config, log)

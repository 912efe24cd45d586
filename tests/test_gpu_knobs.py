"""--wb-gpu-power-limit and --wb-gpu-clocks: set through Zeus's daemon or a root run, read back,
throttle state recorded, refusals unsupported, and the GPUs put back, even after kill -9.

The GPUs are tests/fakenvml.py's, raising nvidia-ml-py's own error classes; Zeus's daemon is
tests/fakezeusd.py on a Unix socket in a temporary folder, driving the same fake GPUs as root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynvml
import pytest
from cannedbackend import canned_backend
from fakenvml import FakeGpu, FakeNvml
from fakezeusd import FakeZeusd, serve

from wattbench.backends.protocol import Generation, ModelRef, Sampling
from wattbench.cases import Case
from wattbench.errors import GpuControlError, UnsupportedKnobError
from wattbench.knobs.gpuaxes import CLOCKS, POWER, GpuKnobs, Point, left_behind, shuffled
from wattbench.knobs.gpucontrol import (
    GRANT,
    GpuSettings,
    NvmlControl,
    Saved,
    StateFiles,
    ZeusdControl,
    device_set,
    open_control,
)
from wattbench.run.pool import Resident

TESTS = Path(__file__).resolve().parent
UUIDS = ("GPU-0a0a0a0a-0000-0000-0000-000000000000", "GPU-1b1b1b1b-0000-0000-0000-000000000000",
         "GPU-2c2c2c2c-0000-0000-0000-000000000000")


def fake_gpus(count: int = 1, **kwargs: Any) -> list[FakeGpu]:
    return [FakeGpu(uuid=UUIDS[i], **kwargs) for i in range(count)]


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short folder for Unix sockets (a socket path holds at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="zd"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Model:
    """A LoadedModel that counts its generations (the warm-ups)."""

    def __init__(self) -> None:
        self.generations = 0

    def generate(self, messages: Any, sampling: Any, output: Any = None) -> Generation:
        self.generations += 1
        now = time.perf_counter()
        return Generation("ok", 3, 1, now, now, now, now, "stop", {})


def case(power: str = "none", clocks: str = "none", level: str = "L0") -> Case:
    variant = {POWER: power, CLOCKS: clocks}
    return Case(ModelRef("m", "m.gguf"), "qa", "short", level, "Capital of France?", Sampling(knobs=variant),
                variant=variant)


def knobs_over(nvml: FakeNvml, control: Any, state: Path, power: tuple[str, ...] = ("none",),
               clocks: tuple[str, ...] = ("none",), wanted: tuple[str, ...] | None = None,
               env: dict[str, str] | None = None, seed: int = 42) -> GpuKnobs:
    nvml.nvmlInit()
    gpus = device_set(nvml, wanted, env or {})
    return GpuKnobs(GpuSettings(control, nvml, gpus, StateFiles(state)), {POWER: power, CLOCKS: clocks},
                    seed, sample_hz=200.0, settle_s=0.0)


def saved_files(state: Path) -> dict[str, dict[str, Any]]:
    return {json.loads(p.read_text())["uuid"]: json.loads(p.read_text()) for p in state.glob("*.json")}


def run_window(knobs: GpuKnobs, applied: Any, seconds: float = 0.05) -> dict[str, Any]:
    """One measured run's knob figures: the sampler over a window of ``seconds``."""
    knobs.sampler.begin()
    time.sleep(seconds)
    return knobs.figures(applied, knobs.sampler.end())


def test_a_root_run_sets_every_gpu_of_its_device_set_reads_back_and_restores(tmp_path: Path) -> None:
    gpus = fake_gpus(3)
    nvml = FakeNvml(gpus, privileged=True)
    knobs = knobs_over(nvml, NvmlControl(nvml), tmp_path, power=("none", "250"),
                       env={"CUDA_VISIBLE_DEVICES": "1,2"})
    model = Model()
    knobs.start()
    applied = knobs.enter(case("250"), Resident(model))
    assert [g.power_limit_mw for g in gpus] == [700_000, 250_000, 250_000]  # GPU 0 is not this run's
    assert applied.limit_w == 250.0 and model.generations >= 1  # read back, then warmed up
    files = saved_files(tmp_path)
    assert set(files) == {UUIDS[1], UUIDS[2]}  # written before the change: what each had
    assert {f["power_limit_mw"] for f in files.values()} == {700_000}
    assert files[UUIDS[1]]["pid"] == os.getpid()
    again = knobs.enter(case("250", level="L1"), Resident(model))
    assert again.warmup_s == 0.0  # the GPUs were at the point already: no change, no warm-up
    knobs.enter(case("none"), Resident(model))
    assert [g.power_limit_mw for g in gpus] == [700_000] * 3  # none: the limit each had
    knobs.enter(case("250"), Resident(model))
    assert knobs.close() == []
    assert [g.power_limit_mw for g in gpus] == [700_000] * 3 and not list(tmp_path.glob("*.json"))
    assert nvml.inits == 0  # NVML shut down


def test_without_privilege_the_axis_is_refused_with_how_to_grant_it(tmp_path: Path) -> None:
    nvml = FakeNvml(fake_gpus())
    with pytest.raises(GpuControlError) as refused:
        open_control(nvml, env={}, euid=1000)
    assert str(refused.value) == GRANT
    for words in ("Do not run pytest as root", "zeusd serve --socket-path", "ZEUSD_SOCK_PATH"):
        assert words in GRANT
    # Root without CAP_SYS_ADMIN (a container): NVML says NO_PERMISSION, with nvidia-ml-py's own class.
    with pytest.raises(pynvml.NVMLError_NoPermission):
        nvml.nvmlInit()
        nvml.nvmlDeviceSetPowerManagementLimit(0, 300_000)
    knobs = knobs_over(nvml, open_control(nvml, env={}, euid=0), tmp_path, power=("300",))
    with pytest.raises(GpuControlError, match=r"CAP_SYS_ADMIN.*ZEUSD_SOCK_PATH"):
        knobs.start()
    assert not list(tmp_path.glob("*.json"))  # nothing changed, nothing to restore


def test_zeusd_sets_the_cap_and_locks_clocks_over_its_unix_socket(tmp_path: Path, sock_dir: Path) -> None:
    gpus = fake_gpus(2, power_mw=250_000)
    zeusd = FakeZeusd(FakeNvml(gpus, privileged=True))
    nvml = FakeNvml(gpus)  # this process reads; only the daemon may write
    with serve(zeusd, sock_dir / "z.sock") as path:
        control = open_control(nvml, env={"ZEUSD_SOCK_PATH": path}, euid=1000)
        assert isinstance(control, ZeusdControl)
        knobs = knobs_over(nvml, control, tmp_path, power=("none", "200"), clocks=("none", "1200"))
        applied = knobs.enter(case("200", "1200"), Resident(Model()))
        assert [(g.power_limit_mw, g.locked_clocks_mhz) for g in gpus] == [(200_000, (1200, 1200))] * 2
        figures = run_window(knobs, applied)
        assert figures["gpu_knob_control"] == "zeusd" and figures["gpu_power_limit_w"] == 200.0
        assert figures["gpu_sm_clock_avg_mhz"] == figures["gpu_sm_clock_peak_mhz"] == 1200.0  # read back
        assert figures["gpu_clock_events"]["user_defined_clocks"] == figures["gpu_clock_event_samples_count"]
        asked = {"gpu_ids": "1", "power_limit_mw": "200000", "block": "true"}
        assert ("POST", "/gpu/set_power_limit", asked) in zeusd.requests
        assert knobs.close() == []
    assert [(g.power_limit_mw, g.locked_clocks_mhz) for g in gpus] == [(700_000, None)] * 2
    assert not list(tmp_path.glob("*.json"))


def test_a_daemon_without_gpu_control_or_not_running_is_refused_at_start_up(sock_dir: Path) -> None:
    nvml = FakeNvml(fake_gpus())
    read_only = FakeZeusd(FakeNvml(nvml.gpus, privileged=True), groups=("gpu-read",))
    with serve(read_only, sock_dir / "r.sock") as path, \
            pytest.raises(GpuControlError, match=r"does not serve gpu-control.*zeusd serve"):
        open_control(nvml, env={"ZEUSD_SOCK_PATH": path})
    with pytest.raises(GpuControlError, match=r"cannot be reached.*is it running"):
        open_control(nvml, env={"ZEUSD_SOCK_PATH": str(sock_dir / "gone.sock")})


def test_a_daemon_that_may_not_change_the_gpu_is_refused_at_start_up(tmp_path: Path, sock_dir: Path) -> None:
    gpus = fake_gpus()
    with serve(FakeZeusd(FakeNvml(gpus, privileged=False)), sock_dir / "n.sock") as path:  # 403
        nvml = FakeNvml(gpus)
        knobs = knobs_over(nvml, open_control(nvml, env={"ZEUSD_SOCK_PATH": path}), tmp_path, power=("300",))
        with pytest.raises(GpuControlError, match=r"HTTP 403.*root"):
            knobs.start()


def test_a_laptop_gpu_that_refuses_a_power_limit_makes_its_capped_points_unsupported(tmp_path: Path) -> None:
    gpus = fake_gpus(refuses_power_limit=True)
    nvml = FakeNvml(gpus, privileged=True)
    with pytest.raises(pynvml.NVMLError_NotSupported):  # what NVML itself raises
        nvml.nvmlInit()
        nvml.nvmlDeviceSetPowerManagementLimit(0, 300_000)
    knobs = knobs_over(nvml, NvmlControl(nvml), tmp_path, power=("none", "300"))
    knobs.start()
    with pytest.raises(UnsupportedKnobError, match=r"refuses.*open-gpu-kernel-modules#483"):
        knobs.enter(case("300"), Resident(Model()))
    assert knobs.enter(case("none"), Resident(Model())).limit_w == 700.0  # the uncapped point still runs
    assert any("--wb-gpu-power-limit is unsupported here" in line for line in knobs.lines())
    assert knobs.close() == [] and not list(tmp_path.glob("*.json"))


def test_pascal_cannot_lock_clocks_so_those_points_are_unsupported(tmp_path: Path, sock_dir: Path) -> None:
    gpus = fake_gpus(locks_clocks=False)
    with serve(FakeZeusd(FakeNvml(gpus, privileged=True)), sock_dir / "p.sock") as path:
        nvml = FakeNvml(gpus)
        knobs = knobs_over(nvml, open_control(nvml, env={"ZEUSD_SOCK_PATH": path}), tmp_path, clocks=("900",))
        knobs.start()  # zeusd answers 400 for NotSupported: the card refuses, the run goes on
        with pytest.raises(UnsupportedKnobError, match=r"refuses.*zeusd.*Pascal"):
            knobs.enter(case(clocks="900"), Resident(Model()))
        assert knobs.close() == [] and not list(tmp_path.glob("*.json"))  # the refused reset left nothing


def test_a_cap_outside_the_cards_range_is_unsupported_not_attempted(tmp_path: Path) -> None:
    gpus = fake_gpus(power_limit_range_mw=(100_000, 350_000), power_limit_mw=350_000)
    nvml = FakeNvml(gpus, privileged=True)
    knobs = knobs_over(nvml, NvmlControl(nvml), tmp_path, power=("400",))
    knobs.start()
    with pytest.raises(UnsupportedKnobError, match="takes a power limit of 100-350 W, not 400 W"):
        knobs.enter(case("400"), Resident(Model()))
    assert gpus[0].power_limit_mw == 350_000
    knobs.close()


def test_the_throttle_state_says_whether_a_cap_fired(tmp_path: Path) -> None:
    gpus = fake_gpus(power_mw=250_000)  # the GPU draws 250 W
    nvml = FakeNvml(gpus, privileged=True)
    knobs = knobs_over(nvml, NvmlControl(nvml), tmp_path, power=("none", "200", "600"))
    model = Resident(Model())
    bound = run_window(knobs, knobs.enter(case("200"), model))
    assert bound["gpu_power_cap_bound"] is True
    assert bound["gpu_power_cap_active_count"] == bound["gpu_clock_event_samples_count"] >= 2  # every sample
    never = run_window(knobs, knobs.enter(case("600"), model))
    assert never["gpu_power_cap_bound"] is False and never["gpu_power_cap_active_count"] == 0
    assert never["gpu_clock_event_samples_count"] >= 2 and "sw_power_cap" not in never["gpu_clock_events"]
    uncapped = run_window(knobs, knobs.enter(case("none"), model))
    assert "gpu_power_cap_bound" not in uncapped  # said only of a cap
    assert uncapped["gpu_power_cap_active_count"] == 0  # 250 W under the card's own 700 W
    knobs.close()


def test_the_points_run_in_a_seeded_random_order_each_points_cases_together() -> None:
    points = [Point(p, c) for p in (None, 200, 300, 400) for c in (None, 900, 1400)]
    assert shuffled(points, 42) == shuffled(list(reversed(points)), 42)  # the seed alone decides
    orders = {tuple(shuffled(points, seed)) for seed in range(5)}
    assert len(orders) > 1 and all(set(o) == set(points) for o in orders)
    nvml = FakeNvml(fake_gpus(), privileged=True)
    knobs = knobs_over(nvml, NvmlControl(nvml), Path(tempfile.mkdtemp()), power=("none", "200", "300"))
    cases = [case(p, level=lv) for p in ("none", "200", "300") for lv in ("L0", "L1")]
    ordered = knobs.order(cases)
    runs = [Point.of(c) for c in ordered]
    assert [p for i, p in enumerate(runs) if i == 0 or runs[i - 1] != p] == shuffled(runs, 42)  # together
    assert [c.level for c in ordered] == ["L0", "L1"] * 3  # each point's cases in their own order
    assert sorted(knobs.positions.values()) == [0, 1, 2]


CHILD = """
import sys, time
from pathlib import Path
from fakenvml import FakeGpu, FakeNvml
from wattbench.knobs.gpucontrol import GpuSettings, StateFiles, device_set, open_control

nvml = FakeNvml([FakeGpu(uuid=sys.argv[3])])  # this process's NVML: it reads; the daemon writes
nvml.nvmlInit()
settings = GpuSettings(open_control(nvml, {"ZEUSD_SOCK_PATH": sys.argv[1]}, euid=1000), nvml,
                       device_set(nvml, None, {}), StateFiles(Path(sys.argv[2])))
settings.set_power_limit(settings.gpus[0], 200_000)
print("capped", flush=True)
time.sleep(120)
"""


def test_a_cap_left_by_a_run_killed_with_sigkill_is_restored_at_the_next_start(
    tmp_path: Path, sock_dir: Path,
) -> None:
    gpus = fake_gpus()  # the driver: its settings outlive the process that changed them
    state = tmp_path / "state" / "wattbench" / "gpus"
    env = {"ZEUSD_SOCK_PATH": str(sock_dir / "k.sock"), "XDG_STATE_HOME": str(tmp_path / "state")}
    with serve(FakeZeusd(FakeNvml(gpus, privileged=True)), sock_dir / "k.sock") as path:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, path, str(state), UUIDS[0]], stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])},
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "capped"
            assert gpus[0].power_limit_mw == 200_000
            [saved] = saved_files(state).values()
            assert (saved["pid"], saved["power_limit_mw"]) == (child.pid, 700_000)  # written before the cap
            nvml = FakeNvml(gpus)
            here = knobs_over(nvml, open_control(nvml, env), state, power=("300",))
            with pytest.raises(GpuControlError, match=f"another wattbench run \\(pid {child.pid}\\)"):
                here.start()  # a live run holds the GPU: never taken from under it
            here.close()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        assert child.returncode == -signal.SIGKILL and gpus[0].power_limit_mw == 200_000  # left capped
        lines = left_behind(env, nvml=FakeNvml(gpus))  # the next start, even one without the axis
    assert gpus[0].power_limit_mw == 700_000
    assert not list(state.glob("*.json"))
    assert len(lines) == 1 and f"pid {child.pid}" in lines[0] and "power limit 700 W" in lines[0]


def test_the_next_start_with_the_axis_restores_first_and_without_privilege_says_how(tmp_path: Path) -> None:
    gpus = fake_gpus()
    gpus[0].power_limit_mw = 150_000  # as a crashed run left it, clocks locked too
    gpus[0].locked_clocks_mhz = (900, 900)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    env = {"XDG_STATE_HOME": str(tmp_path)}
    state = tmp_path / "wattbench" / "gpus"
    files = StateFiles(state)
    files.save(Saved(UUIDS[0], 0, gpus[0].name, 700_000, True, gone.pid, files.host, time.time() - 60))
    # A start that may not change the GPU (no daemon; here, root without CAP_SYS_ADMIN or no root):
    # the file stays, and the run says how to restore it by hand.
    [said] = left_behind(env, nvml=FakeNvml(gpus))
    assert f"pid {gone.pid}" in said and "-rgc" in said
    assert f"sudo nvidia-smi -i {UUIDS[0]} -pl 700 && " in said
    assert gpus[0].power_limit_mw == 150_000 and list(state.glob("*.json"))
    nvml = FakeNvml(gpus, privileged=True)
    knobs = knobs_over(nvml, NvmlControl(nvml), state, power=("300",))
    knobs.start()  # a start that may: restored before anything else
    restored = [line for line in knobs.lines() if f"pid {gone.pid}" in line]
    assert len(restored) == 1 and "power limit 700 W, clocks unlocked" in restored[0]
    assert gpus[0].power_limit_mw == 700_000 and gpus[0].locked_clocks_mhz is None
    knobs.close()
    assert not list(state.glob("*.json"))


KNOB_CONFTEST = '''
import os, sys
from pathlib import Path

sys.path.insert(0, {tests!r})
from fakenvml import FakeGpu, FakeNvml
from fakezeusd import FakeZeusd, start

# One GPU drawing 70 W under a 300 W limit; it cannot lock clocks (a Pascal card).
GPUS = [FakeGpu(uuid={uuid!r}, power_mw=70_000, power_limit_mw=300_000,
                power_limit_range_mw=(50_000, 700_000), locks_clocks=False)]
sys.modules["pynvml"] = FakeNvml(GPUS)  # this process reads the GPU; only Zeus's daemon may change it
if {sock!r}:
    start(FakeZeusd(FakeNvml(GPUS, privileged=True), log=Path({log!r})), Path({sock!r}))
    os.environ["ZEUSD_SOCK_PATH"] = {sock!r}
'''
TOY_BACKEND = canned_backend("toy", "def reply(prompt):\n    return 'Paris'", model="toymodel")


def knob_suite(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sock: Path | None) -> Path:
    """The suite with the fake GPU (and Zeus's daemon at ``sock``); returns the daemon's request log."""
    log = suite.path / "zeusd.log"
    suite.makeconftest(KNOB_CONFTEST.format(tests=str(TESTS), uuid=UUIDS[0], sock=str(sock or ""),
                                            log=str(log)) + TOY_BACKEND)
    monkeypatch.setenv("XDG_STATE_HOME", str(suite.path / "state"))
    monkeypatch.delenv("ZEUSD_SOCK_PATH", raising=False)
    return log


def test_the_axes_run_end_to_end_through_zeusd_and_put_the_gpu_back(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sock_dir: Path,
) -> None:
    log = knob_suite(suite, monkeypatch, sock_dir / "e.sock")
    run_dir = suite.path / "run"
    result = suite.runpytest_subprocess(
        "bench/", "-k", "qa and short and L0", "--wb-backend", "toy", "--wb-energy", "off",
        "--wb-gpu-power-limit", "none,60,600", "--wb-gpu-clocks", "none,900", "--wb-run-dir", str(run_dir),
        "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=3, skipped=3)  # every locked-clock point is unsupported on this card
    result.stdout.fnmatch_lines(["*GPU knobs (--wb-gpu-power-limit and --wb-gpu-clocks): Zeus's daemon at*",
                                 "*GPU knob points in random order (seed 42, --wb-seed)*"])
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    records = {(r["gpu_power_limit"], r["gpu_clocks"]): r for r in map(json.loads, lines)}
    assert len(records) == 6
    for power in ("none", "60", "600"):  # a refused point is recorded with why, and never as 0
        refused = records[power, "900"]
        assert refused["error"].startswith("unsupported: GPU 0") and "Pascal" in refused["error"]
        assert "energy_j" not in refused and "gpu_power_limit_w" not in refused
    capped, high, uncapped = records["60", "none"], records["600", "none"], records["none", "none"]
    assert capped["case_id"] == "toymodel-qa-short-L0+pl60" and high["case_id"].endswith("-L0+pl600")
    read_back = (capped["gpu_power_limit_w"], high["gpu_power_limit_w"], uncapped["gpu_power_limit_w"])
    assert read_back == (60, 600, 300)
    assert capped["gpu_power_cap_bound"] is True  # the GPU draws 70 W: only the 60 W cap binds
    assert high["gpu_power_cap_bound"] is False
    assert capped["gpu_power_cap_active_count"] == capped["gpu_clock_event_samples_count"] >= 2
    assert "gpu_power_cap_bound" not in uncapped
    order = shuffled([Point(p, c) for p in (None, 60, 600) for c in (None, 900)], 42)
    for (power, _clocks), record in records.items():
        if "error" not in record:
            point = Point(None if power == "none" else int(power), None)
            assert record["gpu_knob_position"] == order.index(point) and record["gpu_knob_seed"] == 42
            assert record["gpu_knob_control"] == "zeusd"
    changed = [r for r in (capped, high) if r["gpu_knob_warmup_s"] > 0]
    assert changed and all(r["gpu_knob_warmup_s"] >= 1.0 for r in changed)  # warmed up after each change
    asked = [json.loads(line) for line in log.read_text().splitlines()]
    limits = [int(p["power_limit_mw"]) for method, path, p in asked if path == "/gpu/set_power_limit"]
    assert {60_000, 600_000} <= set(limits) and limits[-1] == 300_000  # put back at the end
    assert not list((suite.path / "state").rglob("*.json"))


def test_a_gpu_that_may_not_be_changed_stops_the_run_at_start_up_with_one_message(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    knob_suite(suite, monkeypatch, None)  # no daemon: this process may read the GPU, not change it
    result = suite.runpytest_subprocess(
        "bench/", "-k", "qa and short and L0", "--wb-backend", "toy", "--wb-energy", "off",
        "--wb-gpu-power-limit", "200", "-p", "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    said = [line for line in result.stderr.lines if "wattbench:" in line]
    assert len(said) == 1 and "ZEUSD_SOCK_PATH" in said[0]  # as root without CAP_SYS_ADMIN, or not root
    assert "run pytest as root" not in said[0].replace("Do not run pytest as root", "")


def test_the_gpu_checks_knob_sweep_runs_and_puts_the_gpu_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.syspath_prepend(str(TESTS.parent / "bench"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.delenv("ZEUSD_SOCK_PATH", raising=False)
    import knob_sweep

    gpus = fake_gpus(power_mw=250_000)
    nvml = FakeNvml(gpus, privileged=True)
    nvml.nvmlInit()
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # the sweep's own privilege check: a root run here
    assert knob_sweep.sweep(nvml, 0, seconds=0.05) == 0
    out = capsys.readouterr().out
    assert "cap 420 W" in out and "cap 700 W" in out  # 60% of the default limit, and the maximum
    assert "SM clock 1980 MHz" in out and "SM clock 1185 MHz" in out
    assert (gpus[0].power_limit_mw, gpus[0].locked_clocks_mhz) == (700_000, None)
    assert "the GPU is back as it was" in out and not list(tmp_path.rglob("*.json"))

"""A real one-node Slurm on loopback runs examples/slurm_array.sh as a user submits it.

The cluster (munged, slurmctld, slurmd) runs as root from a config written into a temp folder:
``-f`` for the daemons and ``SLURM_CONF`` for the commands, with its own munge key and socket,
ports, spool and state there, so it touches no Slurm the machine may have. At the end every
daemon is stopped by its process id, and every process that carries this cluster's marker in
its environment (the job steps slurmd started, which leave slurmd's process tree) is killed
by its id: nothing is looked up or killed by name.

Skipped, with the reason, where slurmctld and friends are absent (``apt-get install slurm-wlm
munge``; .ci/run does) or the tests do not run as root (slurmd must, with SlurmUser=root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import BENCH, REPO, TASKS, free_port

pytestmark = pytest.mark.slurm

EXAMPLE = REPO / "examples" / "slurm_array.sh"
MARK = "WATTBENCH_TEST_SLURM"  # in every daemon's environment, and so in every job's
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
        "DEADLINE", "PREEMPTED"}
# Array tasks override the example's requests for a 2-core machine without GPUs, as a user
# would on the command line (sbatch's options win over the script's #SBATCH lines).
SMALL = ("--cpus-per-task=1", "--gres=none")
CASES = [f"tiny-{task}-short-{level}" for task in ("qa", "summary") for level in ("L0", "L1")]
RUNS = 3  # the example's --wb-runs
INI = """
[pytest]
wb_task_dir = tasks
wb_tasks = qa,summary
wb_loads = short
wb_levels = L0,L1
wb_idle_time = 0
wb_energy_min_window = 0
wb_report = off
"""
# A test device in the suite's conftest: with WB_TEST_STOP_AFTER=N in array task
# WB_TEST_STOP_TASK, the N-th answer scored stops that task where it is (mid-case, N-1 records
# written), says so in WB_TEST_STOPPED and waits to be killed: a task killed at a known point.
STOPPER = '''
import os
import time
from pathlib import Path


class Stop:
    name, kinds, metrics = "stop", frozenset(), ()

    def __init__(self, after):
        self.after, self.seen = after, 0

    def applies(self, case):
        return True

    def score(self, case, text):
        self.seen += 1
        if self.seen == self.after:
            Path(os.environ["WB_TEST_STOPPED"]).write_text(str(os.getpid()))
            time.sleep(600)
        return {}


def pytest_wattbench_make_scorers(options):
    after = int(os.environ.get("WB_TEST_STOP_AFTER", "0"))
    mine = os.environ.get("SLURM_ARRAY_TASK_ID") == os.environ.get("WB_TEST_STOP_TASK")
    return [Stop(after)] if after and mine else []
'''


def program(name: str) -> str | None:
    """The path of a Slurm or munge program (daemons live in /usr/sbin)."""
    return shutil.which(name, path=SBIN)


@dataclass
class Cluster:
    """A running one-node cluster: its folder and the environment its commands need."""

    root: Path
    env: dict[str, str]
    daemons: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
        """Run a Slurm command; its stdout. Raises with its stderr when it fails."""
        done = subprocess.run([program(args[0]) or args[0], *args[1:]], env=dict(env or self.env), cwd=cwd,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def jobs(self, job_id: str) -> list[dict[str, str]]:
        """Each job (an array: each task) of ``job_id``, as scontrol shows it."""
        out = self.command("scontrol", "-o", "show", "job", job_id)
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.strip()]

    def wait(self, job_id: str, tasks: int = 1, timeout_s: float = 420) -> list[dict[str, str]]:
        """The jobs of ``job_id`` once all ``tasks`` have ended. Raises when time is up."""
        deadline = time.monotonic() + timeout_s
        while True:
            jobs = self.jobs(job_id)
            if len(jobs) == tasks and all(j["JobState"] in DONE for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} not done in {timeout_s:.0f} s: {jobs}")
            time.sleep(0.3)


def marked(value: str) -> list[int]:
    """The processes whose environment holds MARK=value (this cluster's daemons and job steps)."""
    wanted = f"{MARK}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def slurm_conf(root: Path, sockets: Path, host: str) -> str:
    """One node (this host, on loopback), no cgroups, no accounting, state in ``root``, munge's
    socket in ``sockets``."""
    return f"""\
ClusterName=wattbench-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sockets}/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=2
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _wait_until(ready: Callable[[], bool], what: str, log: Path, daemon: subprocess.Popen[bytes],
                timeout_s: float = 30) -> None:
    """Wait for ``ready``; raise with the log's tail when ``daemon`` exits or time is up."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if daemon.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            raise RuntimeError(f"{what} (exit {daemon.poll()}); {log}:\n{text}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """munged, slurmctld and slurmd on loopback, for this module's tests."""
    missing = [name for name in PROGRAMS if program(name) is None]
    if missing:
        pytest.skip(f"no Slurm here ({', '.join(missing)} not found): apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("slurmd runs as root here (SlurmUser=root in a one-node cluster): run the tests as root")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (root / sub).mkdir()
    # munged wants every folder above its socket open to all (pytest's temp folders are not).
    sockets = Path(tempfile.mkdtemp(prefix="wattbench-munge-"))
    sockets.chmod(0o755)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, sockets, socket.gethostname().split(".")[0]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({"SLURM_CONF": str(conf), MARK: str(root)})
    started = Cluster(root, env)

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        with (root / f"{name}.out").open("wb") as out:
            daemon = subprocess.Popen([str(program(name)), *args], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        started.daemons.append(daemon)
        return daemon

    try:
        munged = start("munged", "--foreground", f"--key-file={key}", f"--socket={sockets}/munge.socket",
                       f"--pid-file={root}/munged.pid", f"--log-file={root}/munged.log",
                       f"--seed-file={root}/munged.seed")
        _wait_until((sockets / "munge.socket").exists, "munged made no socket", root / "munged.out", munged)
        slurmctld = start("slurmctld", "-D", "-f", str(conf))
        start("slurmd", "-D", "-f", str(conf))

        def idle() -> bool:
            with suppress(RuntimeError):
                return "idle" in started.command("sinfo", "-h", "-N", "-o", "%T")
            return False

        _wait_until(idle, "the node did not come up idle", root / "slurmctld.log", slurmctld)
        yield started
    finally:
        _stop(started)
        shutil.rmtree(sockets, ignore_errors=True)


def _stop(cluster: Cluster) -> None:
    """Cancel every job, stop the daemons by their ids, then kill by id whatever still carries
    the marker (job steps). Raises when a process of this cluster outlives SIGKILL."""
    with suppress(Exception):
        ids = cluster.command("squeue", "-h", "-o", "%i").split()
        if ids:
            cluster.command("scancel", *ids)
        deadline = time.monotonic() + 15
        while cluster.command("squeue", "-h", "-o", "%i").split() and time.monotonic() < deadline:
            time.sleep(0.3)
    for daemon in reversed(cluster.daemons):
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(timeout=15)
    for pid in marked(str(cluster.root)):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (left := [p for p in marked(str(cluster.root)) if Path(f"/proc/{p}/environ").read_bytes()]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the test cluster survived SIGKILL: {left}"


@dataclass
class Study:
    """The user's side: a suite folder to submit from, and STUDY on 'shared' storage."""

    work: Path
    path: Path
    env: dict[str, str]


@pytest.fixture
def study(cluster: Cluster, tmp_path: Path, tiny_gguf: Path) -> Study:
    work = tmp_path / "suite"
    shutil.copytree(BENCH, work / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(TASKS, work / "tasks")
    (work / "pytest.ini").write_text(INI)
    (work / "conftest.py").write_text(STOPPER)
    path = tmp_path / "study"
    path.mkdir()
    bin_dir = str(Path(sys.executable).parent)  # the jobs' pytest and wattbench are this venv's
    env = {**cluster.env, "STUDY": str(path), "MODELS": str(tiny_gguf),
           "PATH": os.pathsep.join([bin_dir, cluster.env.get("PATH", "")])}
    return Study(work, path, env)


def submit_array(cluster: Cluster, study: Study, array: str, env: Mapping[str, str] | None = None) -> str:
    """``sbatch --array=...`` of the example, as a user submits it (with SMALL); the job id."""
    out = cluster.command("sbatch", "--parsable", "--export=ALL", f"--array={array}", *SMALL, str(EXAMPLE),
                          env=env or study.env, cwd=study.work)
    return out.strip().split(";")[0]


def header_merge_command() -> str:
    """The merge job's command exactly as the example's header gives it."""
    lines = EXAMPLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#   sbatch --dependency=afterany"))
    parts = []
    for line in lines[start:]:
        text = line.removeprefix("#").strip()
        parts.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            return " ".join(parts)
    raise AssertionError("the example's merge command does not end")


def submit_merge(cluster: Cluster, study: Study, array_job: str) -> str:
    """The header's merge job, after ``array_job`` (afterany); its job id."""
    done = subprocess.run(["bash", "-c", f"jid={array_job}; {header_merge_command()}"], env=study.env,
                          cwd=study.work, capture_output=True, text=True, timeout=60)
    found = re.search(r"Submitted batch job (\d+)", done.stdout)
    assert done.returncode == 0 and found, done.stdout + done.stderr
    return found.group(1)


def output(study: Study, job: dict[str, str]) -> str:
    """A job's output file (StdOut as scontrol shows it)."""
    return Path(job["StdOut"]).read_text(errors="replace")


def runs(run_dir: Path) -> Counter[tuple[str, int]]:
    """(case, run) -> how many successful records of it the folder's results.jsonl holds."""
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return Counter((r["case_id"], r["run"]) for r in map(json.loads, lines) if "error" not in r)


EVERY_RUN = Counter({(case, run): 1 for case in CASES for run in range(RUNS)})


def test_an_array_of_two_shards_and_the_merge_job_cover_the_study(cluster: Cluster, study: Study) -> None:
    started = time.monotonic()
    array = submit_array(cluster, study, "0-1")
    merge = submit_merge(cluster, study, array)
    tasks = cluster.wait(array, tasks=2)
    (merged_job,) = cluster.wait(merge)
    for task in tasks:
        assert (task["JobState"], task["ExitCode"]) == ("COMPLETED", "0:0"), output(study, task)
    assert (merged_job["JobState"], merged_job["ExitCode"]) == ("COMPLETED", "0:0"), output(study, merged_job)
    owned = []
    for k in (0, 1):  # one model, two shards: its cases split over both
        manifest = json.loads((study.path / f"shard-{k}" / "manifest.json").read_text())
        assert (manifest["shard"], manifest["shard_source"]) == (f"{k + 1}/2", "SLURM_ARRAY_TASK_ID")
        assert manifest["models"] == ["tiny"] and len(manifest["cases"]) == 2
        owned += manifest["cases"]
    assert sorted(owned) == sorted(CASES)
    merged = study.path / "merged"
    assert runs(merged) == EVERY_RUN  # every case and run, once
    assert (merged / "report.html").is_file() and (merged / "stats.csv").is_file()  # and it reports
    assert f"{len(EVERY_RUN)} records, 0 judgements from 2 folders" in output(study, merged_job)
    print(f"array of 2 shards + merge job: {time.monotonic() - started:.1f} s")


def test_a_task_killed_mid_run_and_resubmitted_alone_merges_complete(cluster: Cluster, study: Study) -> None:
    started = time.monotonic()
    stopped = study.path / "task-1-stopped"
    stopping = {**study.env, "WB_TEST_STOP_AFTER": "5", "WB_TEST_STOP_TASK": "1",
                "WB_TEST_STOPPED": str(stopped)}
    array = submit_array(cluster, study, "0-1", stopping)
    merge = submit_merge(cluster, study, array)
    deadline = time.monotonic() + 300
    while not stopped.exists():  # task 1 has written 4 of its 6 records: in its second case
        ended = [j for j in cluster.jobs(array) if j.get("ArrayTaskId") == "1" and j["JobState"] in DONE]
        assert not ended, f"task 1 ended before its stop: {ended}\n{output(study, ended[0])}"
        assert time.monotonic() < deadline, f"task 1 never reached its stop: {cluster.jobs(array)}"
        time.sleep(0.2)
    assert sum(runs(study.path / "shard-1").values()) == 4
    cluster.command("scancel", f"{array}_1")
    tasks = {t["ArrayTaskId"]: t for t in cluster.wait(array, tasks=2)}
    assert tasks["0"]["JobState"] == "COMPLETED" and tasks["1"]["JobState"] == "CANCELLED"
    (failed,) = cluster.wait(merge)
    said = output(study, failed)
    assert (failed["JobState"], failed["ExitCode"]) == ("FAILED", "1:0"), said  # afterany: it ran
    assert "MISSING: 1 cases (2 runs) have no record" in said and "owed by shard 2/2" in said
    assert not (study.path / "merged").exists()  # an incomplete merge writes nothing

    again = submit_array(cluster, study, "1")  # only the killed task: an array of one
    merge = submit_merge(cluster, study, again)
    (resubmitted,) = cluster.wait(again)
    (merged_job,) = cluster.wait(merge)
    said = output(study, resubmitted)
    assert (resubmitted["JobState"], resubmitted["ExitCode"]) == ("COMPLETED", "0:0"), said
    assert "shard 2/2 (SLURM_ARRAY_TASK_ID): 2 of 4 cases; resumed from manifest.json" in said
    assert "1 skipped (already measured in the run folder)" in said  # its finished case
    assert (merged_job["JobState"], merged_job["ExitCode"]) == ("COMPLETED", "0:0"), output(study, merged_job)
    # The stopped case was measured anew, so the shard's folder holds its first run twice; the
    # merged run holds every run once: 0 lost, 0 duplicate.
    assert sum(runs(study.path / "shard-1").values()) == 4 + RUNS
    assert runs(study.path / "merged") == EVERY_RUN
    said = output(study, merged_job)
    assert "note: 1 records of runs that a resumed shard measured again are left out" in said
    assert (study.path / "merged" / "report.html").is_file()
    print(f"kill, resubmit and merge: {time.monotonic() - started:.1f} s")

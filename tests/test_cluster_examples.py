"""The cluster recipes, checked statically: the Kubernetes Indexed Job cannot run here (no cluster),
so its manifest is parsed and held against what wattbench reads; the Slurm script is also run for
real on a one-node Slurm (tests/test_slurm.py, marker slurm)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from wattbench.scale.shard import ShardSpec, shard_from_env

EXAMPLES = REPO / "examples"


def jobs() -> dict[str, dict[str, Any]]:
    yaml = pytest.importorskip("yaml")
    text = (EXAMPLES / "k8s_indexed_job.yaml").read_text()
    documents: list[dict[str, Any]] = list(yaml.safe_load_all(text))
    return {str(d["metadata"]["name"]): d for d in documents}


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_every_pod_of_the_indexed_job_is_one_shard_of_its_completions() -> None:
    shards = jobs()["wattbench-shards"]
    spec = shards["spec"]
    assert spec["completionMode"] == "Indexed"
    env = {e["name"]: e["value"] for e in container(shards)["env"]}
    assert int(env["WB_SHARD_COUNT"]) == spec["completions"]  # the pod cannot see completions itself
    n = spec["completions"]
    # The environment Kubernetes gives pod i, read as wattbench reads it.
    assert [shard_from_env({**env, "JOB_COMPLETION_INDEX": str(i)}) for i in range(n)] == [
        ShardSpec(k, n, "JOB_COMPLETION_INDEX") for k in range(1, n + 1)]
    command = " ".join(container(shards)["args"])
    assert '--wb-run-dir "/study/runs/shard-$JOB_COMPLETION_INDEX"' in command  # a folder per index
    assert "--wb-shard" not in command  # the index says which shard


def test_the_merge_job_merges_only_the_shard_folders_and_fails_visibly() -> None:
    merge = jobs()["wattbench-merge"]
    assert merge["spec"]["backoffLimit"] == 0  # a merge that names missing cases is not retried
    command = " ".join(container(merge)["args"])
    # The trailing slash keeps the shards' --benchmark-json files (shard-0.json) out of the merge.
    assert "wattbench merge /study/runs/shard-*/ --out /study/runs/merged" in command
    assert "&& wattbench report /study/runs/merged" in command


def test_the_slurm_script_parses_and_its_merge_takes_only_folders() -> None:
    script = EXAMPLES / "slurm_array.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    header = script.read_text()
    assert "--dependency=afterany" in header
    assert 'wattbench merge "$STUDY"/shard-*/ --out "$STUDY/merged"' in header


def test_a_json_file_given_to_the_merge_is_refused(tmp_path: Path) -> None:
    # What the trailing slash guards against: a JSON file given to the merge is refused.
    from wattbench.report.cli import main

    (tmp_path / "shard-0.json").write_text("{}")
    assert main(["merge", str(tmp_path / "shard-0.json"), "--out", str(tmp_path / "m")]) == 2

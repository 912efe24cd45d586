"""wattbench merge: shard folders with manifests -> one run folder that report and compare read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from studyrecords import record, write_run

from wattbench.errors import ReportInputError
from wattbench.manifest import (
    MANIFEST_FILE,
    finished,
    manifest_from_json,
    new_manifest,
    plan_of,
    read_manifest,
    write_manifest,
)
from wattbench.merge import merge
from wattbench.metrics import KEYS
from wattbench.report.cli import main
from wattbench.report.runs import Outcomes, read_run
from wattbench.shard import ShardSpec, shard_models

MODELS = ("a", "b", "c", "d")
TASKS = ("qa", "summary", "code")
RUNS = 2


def case_ids(model: str) -> list[str]:
    return [f"{model}-{task}-short-L0" for task in TASKS]


PLAN = plan_of(MODELS, [(m, c) for m in MODELS for c in case_ids(m)])


def records_of(models: list[str], host: str) -> list[dict[str, Any]]:
    return [
        record(model=m, task=t, run=r, machine_cpu=f"CPU of {host}", energy_j=10.0 + r)
        for m in models for t in TASKS for r in range(RUNS)
    ]


def shard_dir(root: Path, k: int, n: int, host: str = "node1",
              records: list[dict[str, Any]] | None = None) -> Path:
    """A shard's run folder as pytest --wb-shard k/n would leave it: records and manifest."""
    spec = ShardSpec(k, n)
    models = shard_models([(m, len(c)) for m, c in PLAN], spec)
    path = write_run(root / f"shard{k}", records if records is not None else records_of(models, host))
    manifest = new_manifest(spec, PLAN, RUNS, "llamacpp", {"machine_cpu": f"CPU of {host}"},
                            "2026-01-01T00:00:00+00:00", models=models)
    manifest = finished(manifest, {"energy_source": "nvml", "idle_before": {"power_w": 50.0 + k}},
                        "2026-01-01T01:00:00+00:00")
    write_manifest(path, manifest.__class__(**{**manifest.__dict__, "host": host}))
    return path


def single_run(root: Path) -> Path:
    return write_run(root / "single", records_of(list(MODELS), "node1"))


def test_two_shards_merge_into_exactly_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = shard_dir(tmp_path, 1, 2, "node1"), shard_dir(tmp_path, 2, 2, "node2")
    out = tmp_path / "merged"
    assert main(["merge", str(one), str(two), "--out", str(out)]) == 0
    merged = list(read_run(out))
    single = list(read_run(single_run(tmp_path)))
    runs = sorted((r["case_id"], r["run"]) for r in merged)
    assert runs == sorted((r["case_id"], r["run"]) for r in single)
    assert len(merged) == len(MODELS) * len(TASKS) * RUNS
    # Each record keeps its own machine and gains its host and shard; nothing else changes.
    for r in merged:
        host = r["machine_host"]
        assert r["machine_cpu"] == f"CPU of {host}"
        assert r["shard"] in ("1/2", "2/2")
        assert set(r) - set(single[0]) == {"machine_host", "shard"}
        assert not set(r) - KEYS  # every key is a defined record key
    assert "-> " + str(out) in capsys.readouterr().out


def test_report_reads_the_merged_folder(tmp_path: Path) -> None:
    out = tmp_path / "merged"
    merge([shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2, "node2")], out)
    assert main(["report", str(out), "--out", str(tmp_path / "report"), "--no-texts"]) == 0
    single = single_run(tmp_path)
    assert main(["compare", str(single), str(out), "--untested", "warn"]) == 0


def test_one_shard_alone_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = shard_dir(tmp_path, 1, 2)
    out = tmp_path / "merged"
    assert main(["merge", str(one), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    owed = shard_models([(m, len(c)) for m, c in PLAN], ShardSpec(2, 2))
    assert "MISSING: shard(s) 2/2: no folder given" in err
    assert f"MISSING: {len(owed) * len(TASKS)} cases owed by shard 2/2 (no folder given)" in err
    for model in owed:
        for case in case_ids(model):
            assert f"{case} (runs 0, 1)" in err
    assert not out.exists()  # an incomplete merge writes nothing, and leaves no staging behind
    assert not list(tmp_path.glob(".merged.merging-*"))


def test_partial_writes_and_still_fails(tmp_path: Path) -> None:
    out = tmp_path / "merged"
    assert main(["merge", str(shard_dir(tmp_path, 1, 2)), "--out", str(out), "--partial"]) == 1
    missing = json.loads((out / MANIFEST_FILE).read_text())["missing"]
    assert len(missing) == 6 and all(m["runs"] == [0, 1] for m in missing)


def test_a_shard_that_died_midway_names_its_missing_runs(tmp_path: Path) -> None:
    models = shard_models([(m, len(c)) for m, c in PLAN], ShardSpec(2, 2))
    died = records_of(models, "node2")[:-1]  # the last run never finished
    merged = merge([shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2, "node2", died)], tmp_path / "m")
    last = f"{models[-1]}-{TASKS[-1]}-short-L0"
    assert merged.missing == {last: [1]}
    assert not merged.complete and merged.out is None


def test_failed_runs_are_covered_and_kept(tmp_path: Path) -> None:
    models = shard_models([(m, len(c)) for m, c in PLAN], ShardSpec(2, 2))
    recs = records_of(models, "node2")
    failed = {**recs[0], "error": "out of memory"}
    del failed["energy_j"]
    recs[0] = failed
    merged = merge([shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2, "node2", recs)], tmp_path / "m")
    assert merged.complete
    outcomes = Outcomes()
    list(read_run(tmp_path / "m", outcomes))
    assert outcomes.failed_cases == {failed["case_id"]: "out of memory"}


def test_the_same_shard_twice_is_a_duplicate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2)
    again = tmp_path / "shard1-requeued"
    shutil.copytree(one, again)
    out = tmp_path / "merged"
    assert main(["merge", str(one), str(two), str(again), "--out", str(out), "--partial"]) == 1
    err = capsys.readouterr().err
    assert "DUPLICATE: shard 1/2 is given 2 times" in err
    assert "DUPLICATE: 6 cases have records in more than one folder" in err
    assert f"1/2 ({one}), 1/2 ({again})" in err
    assert not out.exists()  # duplicates refuse even with --partial


def test_shards_of_different_runs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = shard_dir(tmp_path, 1, 2)
    other = tmp_path / "other"
    other.mkdir()
    plan = plan_of(["z"], [("z", "z-qa-short-L0")])
    write_manifest(other, new_manifest(ShardSpec(2, 2), plan, RUNS, "llamacpp", {}, "t"))
    assert main(["merge", str(one), str(other), "--out", str(tmp_path / "m")]) == 2
    assert "not shards of one run: their plans" in capsys.readouterr().err


def test_energy_is_summed_per_host_never_averaged(tmp_path: Path) -> None:
    # node1 holds shard 1, node2 shard 2; the same host could hold two shards: sums add up.
    merged = merge([shard_dir(tmp_path, 1, 2, "node1"), shard_dir(tmp_path, 2, 2, "node2")], tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST_FILE).read_text())
    per_model = len(TASKS) * (10.0 + 11.0)  # energy_j 10 J in run 0, 11 J in run 1
    for host, spec in (("node1", "1/2"), ("node2", "2/2")):
        models = shard_models([(m, len(c)) for m, c in PLAN], ShardSpec(int(spec[0]), 2))
        assert manifest["hosts"][host]["energy_j"] == pytest.approx(per_model * len(models))
        assert manifest["hosts"][host]["shards"] == [spec]
    assert manifest["total"]["energy_j"] == pytest.approx(per_model * len(MODELS))
    assert "power" not in json.dumps(manifest["hosts"])  # no power figure is made up across hosts
    # Each shard's own idle baseline stays its own.
    assert [s["energy"]["idle_before"]["power_w"] for s in manifest["merged_from"]] == [51.0, 52.0]
    assert merged.complete


def test_a_host_without_every_energy_figure_sums_to_null(tmp_path: Path) -> None:
    models = shard_models([(m, len(c)) for m, c in PLAN], ShardSpec(2, 2))
    recs = records_of(models, "node2")
    recs[0]["energy_j"] = None
    merge([shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2, "node2", recs)], tmp_path / "m")
    hosts = json.loads((tmp_path / "m" / MANIFEST_FILE).read_text())["hosts"]
    assert hosts["node2"]["energy_j"] is None
    assert "1 of 12 records carry no energy_j" in hosts["node2"]["energy_j_null_reason"]
    assert hosts["node1"]["energy_j"] == pytest.approx(2 * len(TASKS) * 21.0)


def test_merged_folder_merges_again_without_losing_hosts(tmp_path: Path) -> None:
    out = tmp_path / "m"
    merge([shard_dir(tmp_path, 1, 2, "node1"), shard_dir(tmp_path, 2, 2, "node2")], out)
    assert read_manifest(out).shard is None  # the merged manifest is a manifest
    again = merge([out], tmp_path / "m2")
    assert again.complete and set(again.hosts) == {"node1", "node2"}


def test_timeseries_are_copied_per_shard(tmp_path: Path) -> None:
    models = shard_models([(m, len(c)) for m, c in PLAN], ShardSpec(1, 2))
    recs = [{**r, "timeseries_file": f"timeseries/w{i}.csv"} for i, r in enumerate(records_of(models, "n"))]
    one = shard_dir(tmp_path, 1, 2, "n", recs)
    (one / "timeseries").mkdir()
    (one / "timeseries" / "w0.csv").write_text("t,power_w\n0,1\n")
    merge([one, shard_dir(tmp_path, 2, 2)], tmp_path / "m")
    first = next(r for r in read_run(tmp_path / "m") if r["timeseries_file"].endswith("w0.csv"))
    assert (tmp_path / "m" / first["timeseries_file"]).read_text() == "t,power_w\n0,1\n"


def test_judgements_are_carried(tmp_path: Path) -> None:
    one = shard_dir(tmp_path, 1, 2)
    line = {"case_id": records_of(["a"], "n")[0]["case_id"], "run": 0, "judge_score": 7.0}
    (one / "judgements.jsonl").write_text(json.dumps(line) + "\n")
    merged = merge([one, shard_dir(tmp_path, 2, 2)], tmp_path / "m")
    assert merged.judgements_count == 1
    assert any(r.get("judge_score") == 7.0 for r in read_run(tmp_path / "m"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"format": "other"}, "field 'format' is 'other'"),
        ({"runs_count": "3"}, "field 'runs_count' is '3'; it must be a whole number"),
        ({"shard": "5/2"}, "field 'shard': --wb-shard '5/2': K must be between 1 and N"),
        ({"models": ["zz"]}, "field 'models' names ['zz'], which the plan does not hold"),
        ({"plan": [["a"]]}, "field 'plan' holds ['a']"),
    ],
)
def test_bad_manifest_names_file_and_field(tmp_path: Path, change: dict[str, Any], named: str) -> None:
    good = new_manifest(ShardSpec(1, 2), PLAN, RUNS, "llamacpp", {}, "t", models=["a"]).as_json()
    with pytest.raises(ReportInputError) as info:
        manifest_from_json({**good, **change}, tmp_path / MANIFEST_FILE)
    assert str(tmp_path / MANIFEST_FILE) in str(info.value) and named in str(info.value)


def test_manifest_round_trips(tmp_path: Path) -> None:
    manifest = new_manifest(ShardSpec(3, 4, "SLURM_ARRAY_TASK_ID"), PLAN, RUNS, "llamacpp",
                            {"machine_cpu": "X"}, "t0", models=["b", "c"])
    write_manifest(tmp_path, manifest)
    back = read_manifest(tmp_path)
    assert back == manifest
    assert back.cases == case_ids("b") + case_ids("c")
    assert back.planned == [c for m in MODELS for c in case_ids(m)]


def test_folder_without_manifest_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = single_run(tmp_path)
    assert main(["merge", str(plain), "--out", str(tmp_path / "m")]) == 2
    assert "holds no manifest.json; give the run folders that pytest --wb-shard K/N wrote" in (
        capsys.readouterr().err)


def test_out_must_be_new(tmp_path: Path) -> None:
    one, two = shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2)
    with pytest.raises(ReportInputError, match="is one of the shard folders"):
        merge([one, two], one)
    single = single_run(tmp_path)
    with pytest.raises(ReportInputError, match="already holds a run"):
        merge([one, two], single)

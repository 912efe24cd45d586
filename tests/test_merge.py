"""wattbench merge: shard folders with manifests -> one run folder that report and compare read."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from studyrecords import record, write_run

from wattbench.errors import ConfigError, ReportInputError
from wattbench.metrics import KEYS
from wattbench.report.cli import main
from wattbench.report.runs import Outcomes, read_run
from wattbench.scale.manifest import (
    MANIFEST_FILE,
    finished,
    manifest_from_json,
    new_manifest,
    plan_of,
    read_manifest,
    resumed_shard,
    write_manifest,
)
from wattbench.scale.merge import merge
from wattbench.scale.shard import ShardSpec, shard_models, shard_part

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


# -- a model's cases over several shards, and everything else a run folder holds ---------------

ONE = plan_of(["solo"], [("solo", f"solo-{t}-short-{lv}") for t in TASKS for lv in ("L0", "L1")])


def spread_shard(root: Path, k: int, n: int, host: str) -> Path:
    """Shard k/n of the one-model study ONE, as pytest --wb-shard k/n leaves it."""
    part = shard_part(ONE, ShardSpec(k, n))
    recs = [record(model="solo", task=c.split("-")[1], level=c.rsplit("-", 1)[1], run=r, energy_j=5.0)
            for c in part.cases for r in range(RUNS)]
    path = write_run(root / f"solo{k}", recs)
    manifest = new_manifest(ShardSpec(k, n), ONE, RUNS, "llamacpp", {}, "2026-01-01T00:00:00+00:00",
                            models=part.models, cases=part.cases)
    write_manifest(path, manifest.__class__(**{**manifest.__dict__, "host": host}))
    return path


def test_one_model_over_two_shards_merges_to_every_case(tmp_path: Path) -> None:
    one, two = spread_shard(tmp_path, 1, 2, "node1"), spread_shard(tmp_path, 2, 2, "node2")
    firsts = {r["case_id"] for r in read_run(one)}
    assert firsts and firsts.isdisjoint(r["case_id"] for r in read_run(two))  # the model was split
    merged = merge([one, two], tmp_path / "m")
    assert merged.complete
    assert sorted((r["case_id"], r["run"]) for r in read_run(tmp_path / "m")) == sorted(
        (c, r) for _, cases in ONE for c in cases for r in range(RUNS))
    assert read_manifest(one).cases == list(shard_part(ONE, ShardSpec(1, 2)).cases)


def test_a_missing_shard_of_one_model_names_its_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = spread_shard(tmp_path, 1, 2, "node1")
    assert main(["merge", str(one), "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    owed = shard_part(ONE, ShardSpec(2, 2)).cases
    assert f"MISSING: {len(owed)} cases owed by shard 2/2 (no folder given)" in err
    for case in owed:
        assert f"{case} (runs 0, 1)" in err
    mine = {r["case_id"] for r in read_run(one)}
    assert not any(f"  {case} (runs" in err for case in mine)


def test_a_version_1_manifest_still_reads(tmp_path: Path) -> None:
    data = new_manifest(ShardSpec(1, 2), PLAN, RUNS, "llamacpp", {}, "t", models=["a"]).as_json()
    del data["cases"]
    data["format_version"] = 1
    assert manifest_from_json(data, tmp_path / MANIFEST_FILE).cases == case_ids("a")


@pytest.mark.parametrize(
    ("cases", "named"),
    [
        (["zz-qa-short-L0"], "field 'cases' names ['zz-qa-short-L0'], which the plan does not hold"),
        (["b-qa-short-L0"], "field 'cases' holds cases of ['b'], which field 'models' does not name"),
        ("a-qa", "field 'cases' is 'a-qa'; it must be a list of strings"),
    ],
)
def test_manifest_cases_are_checked(tmp_path: Path, cases: Any, named: str) -> None:
    data = new_manifest(ShardSpec(1, 2), PLAN, RUNS, "llamacpp", {}, "t", models=["a"]).as_json()
    with pytest.raises(ReportInputError, match=re.escape(named)):
        manifest_from_json({**data, "cases": cases}, tmp_path / MANIFEST_FILE)


def judge_json(judged: int, failures: int, seconds: float, joules: float | None) -> dict[str, Any]:
    """judge.json as wattbench.judge.phase writes it, for one mode."""
    return {
        "judge_model": "tiny",
        "modes": {"single": {"judged": judged, "parse_failures": failures,
                             "parse_failure_rate": failures / judged, "errors": 0, "weighted": judged,
                             "output_formats": ["json schema"]}},
        "judge_latency_s": seconds, "judge_energy_j": joules, "judge_energy_unmeasured_count": 0,
    }


def test_judge_summaries_add_up_per_host(tmp_path: Path) -> None:
    one, two = shard_dir(tmp_path, 1, 2, "node1"), shard_dir(tmp_path, 2, 2, "node2")
    (one / "judge.json").write_text(json.dumps(judge_json(4, 1, 2.0, 30.0)))
    (two / "judge.json").write_text(json.dumps(judge_json(6, 0, 3.0, 45.0)))
    for path in (one, two):
        first = next(read_run(path))
        (path / "judgements.jsonl").write_text(json.dumps({"case_id": first["case_id"], "run": 0,
                                                           "mode": "single", "judge_score": 5.0}) + "\n")
    merged = merge([one, two], tmp_path / "m")
    assert merged.judgements_count == 2 and merged.judged_shards == 2
    judge = json.loads((tmp_path / "m" / "judge.json").read_text())
    assert judge["modes"]["single"]["judged"] == 10 and judge["modes"]["single"]["parse_failures"] == 1
    assert judge["modes"]["single"]["parse_failure_rate"] == pytest.approx(0.1)
    assert judge["judge_latency_s"] == pytest.approx(5.0) and judge["judge_energy_j"] == pytest.approx(75.0)
    assert judge["hosts"]["node1"]["judge_energy_j"] == 30.0 and judge["hosts"]["node2"]["judged"] == 6
    lines = [json.loads(x) for x in (tmp_path / "m" / "judgements.jsonl").read_text().splitlines()]
    assert sorted((j["machine_host"], j["shard"]) for j in lines) == [("node1", "1/2"), ("node2", "2/2")]
    # Each shard's own summary is kept as it was.
    assert json.loads((tmp_path / "m" / "shards" / "shard-1-of-2" / "judge.json").read_text())[
        "judge_energy_j"] == 30.0
    # Merged again, the sums hold and the hosts stay apart.
    merge([tmp_path / "m"], tmp_path / "m2")
    again = json.loads((tmp_path / "m2" / "judge.json").read_text())
    assert again["judge_energy_j"] == pytest.approx(75.0) and set(again["hosts"]) == {"node1", "node2"}


def test_judge_energy_is_unknown_when_one_shard_has_none(tmp_path: Path) -> None:
    one, two = shard_dir(tmp_path, 1, 2, "node1"), shard_dir(tmp_path, 2, 2, "node2")
    (one / "judge.json").write_text(json.dumps(judge_json(4, 0, 2.0, 30.0)))
    (two / "judge.json").write_text(json.dumps({"error": "the judge phase could not run: no model"}))
    merge([one, two], tmp_path / "m")
    judge = json.loads((tmp_path / "m" / "judge.json").read_text())
    assert judge["modes"]["single"]["judged"] == 4
    assert judge["errors_by_shard"] == {"2/2": "the judge phase could not run: no model"}
    (two / "judge.json").write_text(json.dumps(judge_json(4, 0, 2.0, None)))
    merge([one, two], tmp_path / "m2")
    assert json.loads((tmp_path / "m2" / "judge.json").read_text())["judge_energy_j"] is None


def test_idle_baselines_stay_per_host_and_shard(tmp_path: Path) -> None:
    one, two = shard_dir(tmp_path, 1, 2, "node1"), shard_dir(tmp_path, 2, 2, "node2")
    for path, watts in ((one, 40.0), (two, 70.0)):
        (path / "baseline.json").write_text(json.dumps(
            {"energy_source": "nvml", "idle_before": {"power_w": watts}, "idle_after": None}))
    merge([one, two], tmp_path / "m")
    hosts = json.loads((tmp_path / "m" / MANIFEST_FILE).read_text())["hosts"]
    assert hosts["node1"]["idle_baselines"]["1/2"]["idle_before"] == {"power_w": 40.0}
    assert hosts["node2"]["idle_baselines"]["2/2"]["idle_before"] == {"power_w": 70.0}
    assert json.loads((tmp_path / "m" / "shards" / "shard-2-of-2" / "baseline.json").read_text())[
        "idle_before"]["power_w"] == 70.0
    merge([tmp_path / "m"], tmp_path / "m2")  # merged again: each host's baseline is still found
    again = json.loads((tmp_path / "m2" / MANIFEST_FILE).read_text())["hosts"]
    assert again["node2"]["idle_baselines"]["2/2"]["idle_before"] == {"power_w": 70.0}


def test_a_broken_judge_json_stops_the_merge_before_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2)
    (two / "judge.json").write_text('{"judge_model": ')
    assert main(["merge", str(one), str(two), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"{two / 'judge.json'}: not JSON" in err and "move it out of the folder" in err
    assert not (tmp_path / "m").exists()


def test_every_shards_human_ratings_are_merged(tmp_path: Path) -> None:
    from wattbench.rating.items import item_id
    from wattbench.rating.store import RatingStore, read_ratings

    one, two = shard_dir(tmp_path, 1, 2, "node1"), shard_dir(tmp_path, 2, 2, "node2")
    for path, score in ((one, 2), (two, 5)):
        store = RatingStore.of_run(path)
        rater = store.ensure_raters(1)[0]  # both shards' raters are called r1: two people
        items = [item_id(r) for r in read_run(path)][:3]
        store.save_page(rater.id, items[:1], {i: {"clarity": score} for i in items}, "")
        store.close()
    merged = merge([one, two], tmp_path / "m")
    assert merged.ratings_count == 6 and merged.raters_count == 2
    rows = read_ratings(tmp_path / "m")
    assert sorted({(r.rater_id, r.score) for r in rows}) == [("r1", 2), ("r2", 5)]
    # The report joins them to the merged records as it would in one run folder.
    shown = {r["case_id"]: r.get("human_clarity") for r in read_run(tmp_path / "m")}
    from wattbench.report.human import study_of_runs, with_human

    joined = list(with_human(read_run(tmp_path / "m"), study_of_runs([tmp_path / "m"])))
    assert sum(1 for r in joined if "human_clarity" in r) == 6 and len(shown) == len(PLAN) * len(TASKS)


def test_a_run_a_resumed_shard_measured_again_is_kept_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = shard_models([(m, len(c)) for m, c in PLAN], ShardSpec(2, 2))
    recs = records_of(models, "node2")
    # Stopped after run 0 of its last case; resumed, the shard measured that case's runs anew.
    again = {**recs[-2], "energy_j": 99.0, "timestamp": "2026-11-22T00:00:00+00:00"}
    two = shard_dir(tmp_path, 2, 2, "node2", [*recs[:-1], again, recs[-1]])
    assert main(["merge", str(shard_dir(tmp_path, 1, 2)), str(two), "--out", str(tmp_path / "m")]) == 0
    said = capsys.readouterr().out
    assert "note: 1 records of runs that a resumed shard measured again are left out" in said
    key = (again["case_id"], again["run"])
    kept = [r for r in read_run(tmp_path / "m") if (r["case_id"], r["run"]) == key]
    assert [r["energy_j"] for r in kept] == [99.0]  # the latest, as the resume read it
    assert len(list(read_run(tmp_path / "m"))) == len(MODELS) * len(TASKS) * RUNS


def test_a_slurm_task_resubmitted_alone_resumes_its_shard(tmp_path: Path) -> None:
    spec = ShardSpec(2, 4, "SLURM_ARRAY_TASK_ID")
    assert resumed_shard(spec, tmp_path) == spec  # a fresh folder: the environment's shard
    write_manifest(tmp_path, new_manifest(spec, PLAN, RUNS, "llamacpp", {}, "t", models=["b"]))
    alone = ShardSpec(1, 1, "SLURM_ARRAY_TASK_ID")  # sbatch --array=3: an array of one task
    assert resumed_shard(alone, tmp_path) == spec
    assert resumed_shard(ShardSpec(2, 4), tmp_path) == ShardSpec(2, 4)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (ShardSpec(1, 2), "holds shard 2/4 (its manifest.json), and this run is shard 1/2 (--wb-shard)"),
        (ShardSpec(1, 2, "SLURM_ARRAY_TASK_ID"), "give --wb-shard 2/4"),
        (None, "and this run is not sharded: a folder holds one shard. To resume it, give --wb-shard 2/4"),
    ],
)
def test_a_folder_holds_one_shard(tmp_path: Path, spec: ShardSpec | None, named: str) -> None:
    write_manifest(tmp_path, new_manifest(ShardSpec(2, 4), PLAN, RUNS, "llamacpp", {}, "t", models=["b"]))
    with pytest.raises(ConfigError, match=re.escape(named)) as info:
        resumed_shard(spec, tmp_path)
    assert str(tmp_path) in str(info.value) and "--wb-run-dir" in str(info.value)


def test_a_broken_ratings_file_stops_the_merge_before_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2)
    (two / "ratings.sqlite").write_bytes(b"not a database, whatever its name says" * 100)
    assert main(["merge", str(one), str(two), "--out", str(tmp_path / "m")]) == 2
    assert f"{two / 'ratings.sqlite'}: not a ratings file wattbench rate wrote" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()

"""A one-model study over two shards, on the real engine with the tiny model: its cases split over
both shards, and the merged folder reports as the unsharded study does, judgements included."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from test_plugin import records

from wattbench.report.cli import main

STUDY = ("--wb-tasks", "qa,summary", "--wb-loads", "short", "--wb-levels", "L0,L1")
CASES = {f"tiny-{task}-short-{level}" for task in ("qa", "summary") for level in ("L0", "L1")}

# Report columns that hold what a run measured with a clock or a meter, or what is derived from
# it (ratios, stars, fronts): two runs of one study never measure the same. Every other column
# (the answers' quality and judge grades, tokens, fingerprint, configuration) must be equal.
MEASURED = ("timestamp", "latency_s", "ttft_s", "decode_tokens_per_s", "energy_j", "energy_net_j",
            "energy_per_token_j", "tokens_per_j", "quality_per_j", "quality_per_s", "rss_peak_mb", "gpu_",
            "ratio_", "stars", "pareto_", "contended")
KEYS = {"results.csv": ("case_id", "run"), "stats.csv": ("model", "task", "load", "level"),
        "ratings.csv": ("task", "config", "level")}


def table(path: Path, key: tuple[str, ...]) -> tuple[list[str], dict[tuple[str, ...], dict[str, str]]]:
    """A report CSV: its header, and each row's columns that are not measured, by ``key``."""
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    header = list(rows[0]) if rows else []
    kept = {tuple(row[k] for k in key): {c: v for c, v in row.items() if not c.startswith(MEASURED)}
            for row in rows}
    assert len(kept) == len(rows), f"{path}: two rows share a key {key}"
    return header, kept


def judgements(run_dir: Path) -> list[tuple[Any, ...]]:
    lines = [json.loads(x) for x in (run_dir / "judgements.jsonl").read_text().splitlines()]
    return sorted((j["case_id"], j["run"], j["mode"], j["judge_score"], j["parse_ok"]) for j in lines)


def test_one_model_over_two_shards_merges_to_the_unsharded_report(
    suite: pytest.Pytester, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged = ("--wb-model", str(tiny_gguf), *STUDY, "--wb-judge", "single",
              "--wb-judge-model", str(tiny_gguf))
    single, one, two = suite.path / "single", suite.path / "shard-1", suite.path / "shard-2"
    suite.runpytest("bench", "-p", "no:cacheprovider", *judged, "--wb-run-dir", str(single)).assert_outcomes(
        passed=2 + 4)
    suite.runpytest("bench", "-p", "no:cacheprovider", *judged, "--wb-shard", "1/2",
                    "--wb-run-dir", str(one)).assert_outcomes(passed=2 + 2, deselected=2)
    # The second shard as a Kubernetes Indexed Job pod sees it: the same rule splits the model.
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    monkeypatch.setenv("WB_SHARD_COUNT", "2")
    suite.runpytest("bench", "-p", "no:cacheprovider", *judged, "--wb-run-dir", str(two)).assert_outcomes(
        passed=2, deselected=4)  # its two cases; the growth checks ran once, on shard 1
    monkeypatch.delenv("JOB_COMPLETION_INDEX")

    firsts, seconds = ({r["case_id"] for r in records(d)} for d in (one, two))
    assert len(firsts) == len(seconds) == 2 and firsts | seconds == CASES  # split, nothing twice
    manifest = json.loads((two / "manifest.json").read_text())
    assert manifest["shard_source"] == "JOB_COMPLETION_INDEX" and set(manifest["cases"]) == seconds
    assert {r["model_load_s"] for r in records(one)} == {records(one)[0]["model_load_s"]}  # loaded once

    merged = suite.path / "merged"
    assert main(["merge", str(one), str(two), "--out", str(merged)]) == 0
    assert judgements(merged) == judgements(single) and len(judgements(merged)) == 4
    assert json.loads((merged / "judge.json").read_text())["modes"]["single"]["judged"] == 4

    assert main(["report", str(single), "--out", str(suite.path / "report-single"), "--no-texts"]) == 0
    assert main(["report", str(merged), "--out", str(suite.path / "report-merged"), "--no-texts"]) == 0
    files = sorted(p.name for p in (suite.path / "report-single").iterdir())
    assert files == sorted(p.name for p in (suite.path / "report-merged").iterdir())
    compared = 0
    for name, key in KEYS.items():
        header, rows = table(suite.path / "report-single" / name, key)
        merged_header, merged_rows = table(suite.path / "report-merged" / name, key)
        assert merged_header == header, name
        assert merged_rows == rows, name
        compared += len(next(iter(rows.values())))
    assert compared > 60  # quality, judge grades, tokens and keys were compared, not only names
    _, results = table(suite.path / "report-merged" / "results.csv", KEYS["results.csv"])
    assert all(float(row["judge_score"]) >= 1 for row in results.values())

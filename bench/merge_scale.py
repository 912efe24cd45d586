"""How long ``wattbench merge`` takes: 4 shards x 25,000 records (100,000) by default.

    python bench/merge_scale.py [--shards 4] [--records 25000] [--repeat 3]

Writes each shard's folder as pytest --wb-shard K/N would leave it (records, then its
manifest with the whole plan: 10 models per shard, 5 runs per case), then times
``wattbench.scale.merge.merge`` into a fresh folder, ``--repeat`` times, and prints each wall and CPU
time and the peak RSS of this process. The records carry the keys a real record carries (tests/studyrecords)
plus an answer of about 600 characters, so the JSON is about as heavy as a real run's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from studyrecords import record

from wattbench.records.machine import fingerprint
from wattbench.scale.manifest import new_manifest, plan_of, write_manifest
from wattbench.scale.merge import merge
from wattbench.scale.shard import ShardSpec, shard_models

RUNS = 5
MODELS_PER_SHARD = 10


def build(root: Path, shards: int, per_shard: int) -> list[Path]:
    """``shards`` folders of ``per_shard`` records each; their paths."""
    cases_per_model = per_shard // (MODELS_PER_SHARD * RUNS)
    models = [f"model{i:03d}" for i in range(shards * MODELS_PER_SHARD)]
    pairs = [(m, f"{m}-task{c:04d}-short-L0") for m in models for c in range(cases_per_model)]
    plan = plan_of(models, pairs)
    groups = [(m, cases_per_model) for m in models]
    text = "The answer, at some length. " * 22
    dirs = []
    for k in range(1, shards + 1):
        spec = ShardSpec(k, shards)
        mine = shard_models(groups, spec)
        path = root / f"shard{k}"
        path.mkdir()
        with (path / "results.jsonl").open("w", encoding="utf-8") as out:
            for model in mine:
                for c in range(cases_per_model):
                    for run in range(RUNS):
                        r = record(model=model, task=f"task{c:04d}", run=run, output_text=text,
                                   energy_j=10.0 + run, energy_net_j=5.0, tpot_s=0.01, rss_peak_mb=200.0)
                        r["fingerprint"] = fingerprint(r)  # a real record carries it
                        out.write(json.dumps(r) + "\n")
        write_manifest(path, new_manifest(spec, plan, RUNS, "llamacpp", {}, "2026-01-01T00:00:00+00:00",
                                          models=mine))
        dirs.append(path)
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--records", type=int, default=25_000, help="records per shard")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        dirs = build(root, args.shards, args.records)
        size = sum((d / "results.jsonl").stat().st_size for d in dirs)
        print(f"wrote {args.shards} shards x {args.records} records ({size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - t0:.1f} s")
        for i in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            merged = merge(dirs, root / f"merged{i}")
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert merged.complete, merged.lines()
            # CPU time too: on a shared machine the wall time includes other processes' turns.
            print(f"merge {i + 1}: {merged.records_count} records in {seconds:.2f} s wall, {cpu:.2f} s CPU")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# One wattbench study across hosts with a Slurm job array: one shard per array task, each
# writing its own run folder on shared storage, then one merge job.
#
#   export STUDY=/shared/wattbench/study-1      # shared storage every node sees
#   jid=$(sbatch --parsable --export=ALL examples/slurm_array.sh)
#   sbatch --dependency=afterany:"$jid" --job-name=wattbench-merge --export=ALL \
#       --wrap='wattbench merge "$STUDY"/shard-*/ --out "$STUDY/merged" && wattbench report "$STUDY/merged"'
#
# afterany, not afterok: the merge runs even when a task failed, and names what is missing
# (exit 1); resubmit the failed task alone (`sbatch --array=3 examples/slurm_array.sh`, with the
# same options: an array of one task, so its shard comes from its folder's manifest.json; it
# resumes there, finished cases are skipped), then the merge again. The trailing slash of
# shard-*/ keeps the --benchmark-json files (shard-3.json) out of the merge.
#
# Each task is shard K of N: wattbench reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT,
# SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_STEP itself (the array may start at 0 or 1), so no
# --wb-shard is needed; `--wb-shard K/N` runs one shard by hand, `--wb-shard off` turns sharding
# off inside an array that is not a wattbench shard set. The array must be one evenly stepped
# range (--array=1-4, --array=0-6:2; not --array=1,2,5). With at least as many models as tasks,
# each model's cases run on one shard only; with fewer (one large model over four nodes), a
# model's cases are dealt over several shards. Either way a shard loads each of its models once,
# and shards get about as many cases each.
#
# Every shard must be given the same options (models, tasks, runs): the merge refuses folders
# whose plans differ.
#
#SBATCH --job-name=wattbench
#SBATCH --array=1-4
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:1
#SBATCH --time=04:00:00
#SBATCH --output=wattbench-%A_%a.out
set -euo pipefail

: "${STUDY:?export STUDY=/shared/path/for/the/study before sbatch}"
MODELS=${MODELS:-/shared/models/a.gguf,/shared/models/b.gguf,/shared/models/c.gguf,/shared/models/d.gguf}
: "${SLURM_ARRAY_TASK_ID:?submit this script with sbatch (it is one task of a job array)}"

# One shard, its own run folder; the manifest.json beside its records says what it was to run.
exec pytest bench/ --wb-model "$MODELS" --wb-runs 3 \
    --wb-run-dir "$STUDY/shard-$SLURM_ARRAY_TASK_ID" \
    --benchmark-json "$STUDY/shard-$SLURM_ARRAY_TASK_ID.json"

"""Reports from a run directory: the CSV tables, generated texts, the efficiency-quality ratio,
the Pareto front and star ratings (``wattbench report RUN_DIR``).

Records are streamed from results.jsonl, so a report over many records keeps memory bounded by
the number of (model, task, load, level) groups, not by the number of records.
"""

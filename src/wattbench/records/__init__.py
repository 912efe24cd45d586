"""What a run keeps: each case's record, results.jsonl, what a resumed run skips, the run folder
and the machine's fingerprint."""

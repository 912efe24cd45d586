"""The ``wattbench`` command: ``wattbench report RUN_DIR`` writes the report into the run folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wattbench.report.tables import write_report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="wattbench", description="Reports from wattbench runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="write results.csv, stats.csv and texts/ into a run folder")
    report.add_argument("run_dir", type=Path, help="a run folder holding results.jsonl")
    args = parser.parse_args(argv)
    run_dir: Path = args.run_dir
    if not (run_dir / "results.jsonl").is_file():
        print(f"wattbench: {run_dir} holds no results.jsonl; give a run folder (reports/run-...)",
              file=sys.stderr)
        return 2
    written = write_report(run_dir)
    print(f"{written['records']} records, {written['groups']} groups -> "
          f"{', '.join(str(run_dir / f) for f in written['files'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

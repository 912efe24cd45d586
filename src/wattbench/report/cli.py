"""The ``wattbench`` command.

    wattbench report RUN [RUN ...] [--out DIR]     write the report (CSVs, texts, workbook, HTML)
    wattbench compare BASE NEW [--fail GATES]     compare two saved runs; exit 1 when a gate fails

A RUN is a run folder (reports/run-...) or a ``--benchmark-json`` file. Exit codes: 0 done,
1 a gate failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from wattbench.errors import ReportInputError
from wattbench.report.build import write_report
from wattbench.report.compare import DEFAULT_METRICS, compare, comparison_lines
from wattbench.report.gates import parse_gates
from wattbench.report.runs import read_run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wattbench", description="Reports from wattbench runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="write the report of one or more saved runs")
    report.add_argument("runs", type=Path, nargs="+", help="run folders or --benchmark-json files")
    report.add_argument(
        "--out", type=Path, help="report folder (default: the run folder, for one run folder)"
    )
    report.add_argument("--no-texts", action="store_true", help="do not write every answer to texts/")
    comp = commands.add_parser("compare", help="compare a saved run with a baseline")
    comp.add_argument("base", type=Path, help="baseline: a run folder or a --benchmark-json file")
    comp.add_argument("new", type=Path, help="the run to judge, same forms")
    comp.add_argument(
        "--fail",
        default="",
        metavar="GATES",
        help='e.g. "decode_tokens_per_s:-5%%,energy_per_token_j:+10%%,rouge_l:-0.05"',
    )
    comp.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated record keys")
    comp.add_argument("--all", action="store_true", help="show case rows without a significant change too")
    comp.add_argument("--csv", type=Path, help="also write every row to this CSV file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return _report(args) if args.command == "report" else _compare(args)
    except ReportInputError as exc:
        print(f"wattbench {args.command}: {exc}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace) -> int:
    out: Path | None = args.out
    if out is None:
        if len(args.runs) != 1 or not args.runs[0].is_dir():
            raise ReportInputError(
                "give --out DIR: the report goes into the run folder only for one run folder"
            )
        out = args.runs[0]
    written = write_report(args.runs, out, texts=not args.no_texts)
    print(
        f"{written.study.records} records, {len(written.study.groups)} groups in {written.seconds:.2f} s -> "
        f"{out}/ ({', '.join(written.files)})"
    )
    for note in written.notes:
        print(note, file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    gates = parse_gates(args.fail) if args.fail.strip() else []
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    comparison = compare(read_run(args.base), read_run(args.new), metrics, gates)
    if not comparison.rows:
        raise ReportInputError(f"{args.base} and {args.new} share no case with these metrics")
    print("\n".join(comparison_lines(comparison, args.all)))
    if args.csv is not None:
        with args.csv.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(
                [
                    "case",
                    "metric",
                    "base_n",
                    "new_n",
                    "base_mean",
                    "new_mean",
                    "change_abs",
                    "change_pct",
                    "p_value",
                    "ci_low",
                    "ci_high",
                    "verdict",
                    "failed",
                ]
            )
            for r in comparison.rows:
                writer.writerow(
                    [
                        r.label,
                        r.metric,
                        r.base_n,
                        r.new_n,
                        r.base_mean,
                        r.new_mean,
                        r.change_abs,
                        r.change_pct,
                        r.p_value,
                        *(r.ci or ("", "")),
                        r.verdict,
                        ",".join(str(g) for g in r.failed),
                    ]
                )
    return 1 if comparison.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

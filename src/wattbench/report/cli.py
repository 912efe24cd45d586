"""The ``wattbench`` command.

    wattbench report RUN [RUN ...] [--out DIR]     write the report (CSVs, texts, workbook, HTML)
    wattbench compare BASE NEW [--fail GATES] [--untested fail|warn]   compare two saved runs
    wattbench rate RUN_DIR [--dimensions F] [--raters N] [--host H] [--port P]   blind human rating
    wattbench merge SHARD_DIR [SHARD_DIR ...] --out DIR [--partial]   one run from a sharded run's
        folders; exits 1 naming missing or duplicate cases (wattbench.scale.merge)

A RUN is a run folder (reports/run-...) or a ``--benchmark-json`` file. Exit codes:
0 done (every gate tested and passed); 1 a gate failed; 2 bad input (a missing folder or file,
a bad gate, a run with nothing to report, an output folder that cannot be written); 3 a gate
could not be tested (too few runs and cases, or a figure missing), unless ``--untested warn``
lets it pass with a warning.
"""

from __future__ import annotations

import argparse
import csv
import errno
import sys
from collections.abc import Sequence
from pathlib import Path

from wattbench.errors import ConfigError, MissingExtraError, ReportInputError
from wattbench.floors import parse_floors
from wattbench.report.build import write_report
from wattbench.report.cells import csv_cell
from wattbench.report.compare import DEFAULT_METRICS, compare, comparison_lines, exit_code
from wattbench.report.gates import EXIT_INPUT, EXIT_UNTESTED, UNTESTED_POLICIES, parse_gates
from wattbench.report.runs import check_source, read_run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wattbench", description="Reports from wattbench runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="write the report of one or more saved runs")
    report.add_argument("runs", type=Path, nargs="+", help="run folders or --benchmark-json files")
    report.add_argument(
        "--out", type=Path, help="report folder (default: the run folder, for one run folder)"
    )
    report.add_argument("--no-texts", action="store_true", help="do not write every answer to texts/")
    report.add_argument(
        "--quality-floor", type=parse_floors, default=(), metavar="[TASK:]METRIC>=VALUE,...",
        help="the quality you need: the report names per task the cheapest configuration that reaches it",
    )
    report.add_argument(
        "--primary", default="", metavar="[TASK=]human_DIM,...",
        help="make a human score (wattbench rate) the quality of every task, or of the tasks named",
    )
    comp = commands.add_parser("compare", help="compare a saved run with a baseline")
    comp.add_argument("base", type=Path, help="baseline: a run folder or a --benchmark-json file")
    comp.add_argument("new", type=Path, help="the run to judge, same forms")
    comp.add_argument(
        "--fail",
        default="",
        metavar="GATES",
        help='e.g. "decode_tokens_per_s:-5%%,energy_per_token_j:+10%%,rouge_l:-0.05"',
    )
    comp.add_argument(
        "--untested",
        choices=UNTESTED_POLICIES,
        default="fail",
        help="a gate no test could decide (too few runs and cases): fail exits 3 (default), "
        "warn prints it and exits 0",
    )
    comp.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated record keys")
    comp.add_argument("--all", action="store_true", help="show case rows without a significant change too")
    comp.add_argument("--csv", type=Path, help="also write every row to this CSV file")
    from wattbench.rating.command import add_parser as add_rate

    add_rate(commands)
    from wattbench.scale.merge import add_parser as add_merge

    add_merge(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "rate":
            from wattbench.rating.command import run as rate

            return rate(args)
        if args.command == "merge":
            from wattbench.scale.merge import run as merge

            return merge(args)
        return _report(args) if args.command == "report" else _compare(args)
    except (ConfigError, MissingExtraError) as exc:  # e.g. `rate` without the rate extra: the fix
        print(f"wattbench {args.command}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:  # a folder that cannot be written, a full disk: one line, not a traceback
        advice = _ADVICE.get(exc.errno or 0, "")
        print(f"wattbench {args.command}: {exc}{advice}", file=sys.stderr)
        return EXIT_INPUT


_WRITABLE = " (the saved runs are untouched: choose a folder you can write, or fix its permissions)"
_SPACE = " (the saved runs are untouched: free some space, then run it again)"
_ADVICE = {  # what to do about the OSErrors a user can fix (EDQUOT is not on every platform)
    errno.EACCES: _WRITABLE,
    errno.EPERM: _WRITABLE,
    errno.EROFS: " (the saved runs are untouched: choose a folder on a writable file system)",
    errno.ENOSPC: _SPACE,
    getattr(errno, "EDQUOT", errno.ENOSPC): _SPACE,
}


def _report(args: argparse.Namespace) -> int:
    for path in args.runs:
        check_source(path)
    out: Path | None = args.out
    if out is None:
        if len(args.runs) != 1 or not args.runs[0].is_dir():
            raise ReportInputError(
                "give --out DIR: the report goes into the run folder only for one run folder"
            )
        out = args.runs[0]
    from wattbench.report.human import parse_primary

    written = write_report(args.runs, out, texts=not args.no_texts, primary=parse_primary(args.primary),
                           quality_floors=args.quality_floor)
    print(
        f"{written.study.records} records, {len(written.study.groups)} groups in {written.seconds:.2f} s -> "
        f"{out}/ ({', '.join(written.files)})"
    )
    for note in written.notes:
        print(note, file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    gates = parse_gates(args.fail) if args.fail.strip() else []
    check_source(args.base)
    check_source(args.new)
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
                    "ci_method",
                    "verdict",
                    "test",
                    "note",
                    "failed",
                    "contended",
                ]
            )
            for r in comparison.rows:
                writer.writerow(
                    csv_cell(cell)
                    for cell in [
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
                        r.ci_method,
                        r.verdict,
                        r.test,
                        r.note,
                        ",".join(str(g) for g in r.failed),
                        r.contended,
                    ]
                )
    code = exit_code(comparison, args.untested)
    if comparison.refused and not comparison.failures:
        print(
            f"REFUSED: {len(comparison.refused)} gate(s) on energy compare runs counted within different "
            f"energy boundaries (see the REFUSED line); exit {EXIT_INPUT}",
            file=sys.stderr,
        )
    elif comparison.untested and not comparison.failures:
        print(
            f"UNTESTED: {len(comparison.untested)} gate(s) could not be tested (see the GATE lines); "
            + (f"exit {EXIT_UNTESTED} (--untested warn lets it pass)" if code == EXIT_UNTESTED
               else "passing anyway, as --untested warn asks"),
            file=sys.stderr,
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())

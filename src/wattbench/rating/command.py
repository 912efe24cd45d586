"""``wattbench rate RUN_DIR``: serve the blind rating app over a run folder, or export its ratings.

    wattbench rate RUN_DIR [--dimensions PRESET|FILE] [--raters N] [--pairwise]
                           [--host H] [--port P] [--export FILE.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wattbench.rating.dimensions import DEFAULT_PRESET, load_dimensions, presets
from wattbench.rating.items import load_items, pages
from wattbench.rating.store import RatingStore


def add_parser(commands: Any) -> None:
    """Register the ``rate`` subcommand on an argparse subparsers object."""
    rate = commands.add_parser("rate", help="serve a blind rating web app over a run's answers")
    rate.add_argument("run_dir", type=Path,
                      help="a run folder (results.jsonl); ratings go to ratings.sqlite in it")
    rate.add_argument(
        "--dimensions",
        default=DEFAULT_PRESET,
        metavar="PRESET|FILE",
        help=f"a preset ({', '.join(presets())}) or a JSON file of dimensions (default: {DEFAULT_PRESET})",
    )
    rate.add_argument("--raters", type=int, default=1, help="raters to make links for (default: 1)")
    rate.add_argument("--pairwise", action="store_true", help="two answers to one question side by side")
    rate.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1: this machine only); another exposes the "
                           "app to the network, where each rater's link holds their secret token")
    rate.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    rate.add_argument("--export", type=Path, metavar="FILE", help="write the ratings as CSV and exit")


def run(args: argparse.Namespace) -> int:
    """Run ``wattbench rate``; ConfigError (bad input) propagates to the caller."""
    from wattbench.errors import ConfigError

    if not args.run_dir.is_dir():
        raise ConfigError(f"no such run folder: {args.run_dir}")
    if args.export is not None:
        store = RatingStore.of_run(args.run_dir)
        with args.export.open("w", newline="", encoding="utf-8") as out:
            rows = store.export_csv(out)
        print(f"{rows} ratings -> {args.export}")
        return 0
    if args.raters < 1:
        raise ConfigError(f"--raters {args.raters}: give 1 or more")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: give a port between 1 and 65535")
    dimensions = load_dimensions(args.dimensions)
    items = load_items(args.run_dir)
    if args.pairwise and not pages(items, True):
        raise ConfigError(f"{args.run_dir}: --pairwise needs two or more answers to one question; none has")
    from wattbench.rating.server import serve

    try:
        serve(args.run_dir, dimensions, items, args.raters, args.host, args.port, args.pairwise)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0

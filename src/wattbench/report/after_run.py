"""What happens after the last case of a pytest run: ``--wb-report`` writes the report into the
run folder, ``--wb-compare BASE`` compares the run with a baseline and ``--wb-compare-fail``
gates it. The plugin shows the lines in its terminal summary and fails the run on a regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wattbench.errors import WattbenchError
from wattbench.report.build import write_report
from wattbench.report.compare import compare, comparison_lines, describe_failure
from wattbench.report.runs import read_run
from wattbench.results import RESULTS_FILE as RESULTS
from wattbench.settings import Settings


@dataclass
class AfterRun:
    """Lines for the terminal summary, and whether a gate failed."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def after_run(settings: Settings) -> AfterRun:
    """Report and compare as the settings ask (the plugin calls it only when they ask for one);
    a report that cannot be made is said, not raised."""
    done = AfterRun()
    if not (settings.run_dir / RESULTS).is_file():
        done.lines.append(f"no report or comparison: {settings.run_dir} holds no {RESULTS}")
        return done
    if settings.report:
        try:
            written = write_report([settings.run_dir], settings.run_dir)
            done.lines.append(
                f"report ({written.seconds:.2f} s): {settings.run_dir / 'report.html'}, "
                f"{', '.join(f for f in written.files if f != 'report.html')}"
            )
            done.lines += written.notes
        except (WattbenchError, OSError) as exc:
            done.lines.append(f"WARNING: the report could not be written: {exc}")
    if settings.compare_base is not None:
        try:
            comparison = compare(
                read_run(settings.compare_base), read_run(settings.run_dir), gates=settings.compare_gates
            )
        except (WattbenchError, OSError) as exc:
            done.lines.append(f"WARNING: cannot compare with {settings.compare_base}: {exc}")
            return done
        done.lines.append(f"compared with {settings.compare_base}:")
        done.lines += comparison_lines(comparison)
        done.failures = [describe_failure(row) for row in comparison.failures]
    return done

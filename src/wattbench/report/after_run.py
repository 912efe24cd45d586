"""What happens after the last case of a pytest run: ``--wb-report`` writes the report into the
run folder, ``--wb-compare BASE`` compares the run with a baseline and ``--wb-compare-fail``
gates it. The plugin shows the lines in its terminal summary and fails the run when
``AfterRun.must_fail``: a gate crossed, or a gate UNTESTED under the default "fail" policy (the
same rule as ``wattbench compare``'s exit code 3; a CI gate never passes silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wattbench.errors import WattbenchError
from wattbench.floors import Floor
from wattbench.records.results import RESULTS_FILE as RESULTS
from wattbench.report import finetune
from wattbench.report.build import write_report
from wattbench.report.compare import compare, comparison_lines, describe_failure, exit_code
from wattbench.report.findings import best_per_task, cheapest_lines
from wattbench.report.gates import EXIT_OK, UNTESTED_POLICIES, Gate
from wattbench.report.page import STYLE
from wattbench.report.runs import read_run


@dataclass(frozen=True)
class AfterRunOptions:
    """What happens after the run: the folder, whether to report, the baseline and its gates."""

    run_dir: Path
    report: bool = False
    compare_base: Path | None = None
    compare_gates: tuple[Gate, ...] = ()
    quality_floors: tuple[Floor, ...] = ()  # --wb-quality-floor: the quality the reader needs


@dataclass
class AfterRun:
    """Lines for the terminal summary, and whether a gate failed."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # a line per row that crossed a gate
    untested: list[str] = field(default_factory=list)  # a GATE line per gate some case could not test
    must_fail: bool = False  # a gate crossed, or one is untested and the policy is "fail"
    best: list[str] = field(default_factory=list)  # per task: the best (model, level) by ratio
    report: Path | None = None  # report.html, when one was written


def after_run(settings: AfterRunOptions, untested: str = "fail") -> AfterRun:
    """Report and compare as the settings ask (the plugin calls it only when they ask for one);
    a report that cannot be made is said, not raised. ``untested`` is "fail" (an untested gate
    fails the run) or "warn" (it is printed and the run passes); another value raises ValueError."""
    if untested not in UNTESTED_POLICIES:
        raise ValueError(f"untested policy {untested!r}: use one of {', '.join(UNTESTED_POLICIES)}")
    done = AfterRun()
    if not (settings.run_dir / RESULTS).is_file():
        tuned = finetune.write_page([settings.run_dir], settings.run_dir, STYLE) if settings.report else []
        if tuned:  # a run that only fine-tuned: its section alone (report/finetune.py)
            done.lines.append(f"fine-tuning report: {settings.run_dir / tuned[0]}, {', '.join(tuned[1:])}")
            done.report = settings.run_dir / tuned[0]
        done.lines.append(f"no report or comparison: {settings.run_dir} holds no {RESULTS}")
        _cannot_gate(done, settings, "the run recorded nothing", untested)
        return done
    if settings.report:
        try:
            written = write_report(
                [settings.run_dir], settings.run_dir, quality_floors=settings.quality_floors
            )
            done.lines.append(
                f"report ({written.seconds:.2f} s): {settings.run_dir / 'report.html'}, "
                f"{', '.join(f for f in written.files if f != 'report.html')}"
            )
            done.lines += written.notes
            done.best = best_per_task(written.study) + cheapest_lines(written.study, written.floors)
            done.report = settings.run_dir / "report.html"
        except (WattbenchError, OSError) as exc:
            done.lines.append(f"WARNING: the report could not be written: {exc}")
    if settings.compare_base is not None:
        try:
            comparison = compare(
                read_run(settings.compare_base), read_run(settings.run_dir), gates=settings.compare_gates
            )
        except (WattbenchError, OSError) as exc:
            done.lines.append(f"WARNING: cannot compare with {settings.compare_base}: {exc}")
            _cannot_gate(done, settings, "the comparison could not run", untested)
            return done
        done.lines.append(f"compared with {settings.compare_base}:")
        done.lines += comparison_lines(comparison)
        done.failures = [describe_failure(row) for row in comparison.failures]
        done.untested = [result.describe() for result in comparison.untested]
        done.must_fail = exit_code(comparison, untested) != EXIT_OK
        if comparison.refused and not done.failures:
            done.lines.append(
                f"REFUSED: {len(comparison.refused)} gate(s) on energy across different energy "
                "boundaries; the run fails"
            )
        elif done.untested and not done.failures:
            done.lines.append(
                f"UNTESTED: {len(done.untested)} gate(s) could not be tested; "
                + ("the run fails (--wb-compare-untested warn lets it pass)" if done.must_fail
                   else "passing anyway, as --wb-compare-untested warn asks")
            )
    return done


def _cannot_gate(done: AfterRun, settings: AfterRunOptions, why: str, untested: str) -> None:
    """Every gate is UNTESTED when no comparison ran: said, and failing under the "fail" policy."""
    done.untested = [f"GATE {gate}: UNTESTED; {why}" for gate in settings.compare_gates]
    done.lines += done.untested
    done.must_fail = bool(done.untested) and untested == "fail"

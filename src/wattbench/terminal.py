"""What a run shows in the terminal: the banner before the first case, and the summary after the
last, which ends with the run's answer (report, best configuration per task, gates)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wattbench.settings import Settings

if TYPE_CHECKING:
    from wattbench.report.after_run import AfterRun
    from wattbench.session import WattbenchSession


def banner_lines(session: WattbenchSession, items: int) -> list[str]:
    """What the run is about to do, before its first case."""
    models = ", ".join(m.name for m in session.models) or "none"
    return [
        f"wattbench: {session.backend.name} ({session.backend.engine_version}); models: {models}",
        f"wattbench: {items} items ({len(session.cases)} cases built); records go to {session.results.path}",
        *(f"wattbench: {line}" for line in session.energy.describe()),
        *(f"wattbench: {line}" for line in session.knob_lines()),
        *(f"wattbench: {line}" for line in session.scorers.degraded),
        *(f"wattbench: {line}" for line in unused_settings(session)),
    ]


def unused_settings(session: WattbenchSession) -> list[str]:
    """Notes on settings that only act on load points, given to a run that has none."""
    s = session.settings
    if any(n.isdigit() for n in s.axis_values.get("concurrency", ())):
        return []
    given = {
        "--wb-slo": bool(s.slo.limits),
        "--wb-stream-requests": s.stream_requests != Settings.stream_requests,  # not the default
    }
    return [
        f"{option} is set but applies only to load points: add --wb-concurrency (e.g. 1,2,4)"
        for option, set_ in given.items() if set_
    ]


def summary_lines(session: WattbenchSession) -> list[tuple[str, bool]]:
    """(line, is a warning) for the terminal summary of one session."""
    lines = [(f"{session.recorded} run records appended to {session.results.path}", False)]
    lines += [(f"fine-tuning: {line}", False) for line in session.finetune_lines]
    energy = session.energy
    lines += [(line, False) for line in [*energy.describe(), *session.scorers.summary_lines()]]
    lines += [(f"load points: {note}", False) for note in session.load_points.notes]
    lines += [(line, False) for line in session.knob_lines()]
    for label, idle in (("before", energy.idle_before), ("after", energy.idle_after)):
        if idle is not None:
            lines.append((
                f"idle power {label}: {idle.power_w:.3f} W (sd {idle.sd_w:.3f} W over "
                f"{idle.chunks_count} chunks, {idle.duration_s:.1f} s)", False,
            ))
    lines += [(f"WARNING: engine crash: {crash}", True) for crash in session.engine_crashes]
    cut = session.cut_in_thinking
    if cut:
        where = ", ".join(f"{config}: {n}" for config, n in sorted(cut.items()))
        lines.append((
            f"WARNING: {sum(cut.values())} answer{'s' if sum(cut.values()) != 1 else ''} cut inside "
            f"{'their' if sum(cut.values()) != 1 else 'its'} thinking ({where}): the token limit "
            "came before any answer token, so they score 0; raise --wb-max-tokens", True,
        ))
    warning = energy.drift_warning()
    if warning:
        lines.append((f"WARNING: {warning}", True))
    lines += [(f"WARNING: {line}", True) for line in energy.summary_lines()]
    lines += [(line, False) for line in session.runner.contended.summary_lines()]
    judged = session.judging.summary
    if judged is not None and "error" in judged:
        lines.append((f"WARNING: {judged['error']}", True))
    elif judged is not None:
        for mode, figures in judged["modes"].items():
            rate = figures["parse_failure_rate"]
            lines.append((
                f"judge {judged['judge_model']} ({mode}): {figures['judged']} judgements, "
                f"{figures['parse_failures']} parse failures ({'-' if rate is None else f'{rate:.0%}'})",
                False,
            ))
        if "pairwise_note" in judged:
            lines.append((f"judge (pairwise): {judged['pairwise_note']}", False))
    return lines


def workers_lines(workers: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The summary on an xdist controller: every worker's lines, each said once."""
    recorded = sum(w["recorded"] for w in workers)
    lines: list[tuple[str, bool]] = [(
        f"{recorded} run records appended to {workers[0]['results']} by "
        f"{len(workers)} pytest-xdist workers", False,
    )]
    for worker in workers:
        lines += [(text, warn) for text, warn in worker["lines"][1:] if (text, warn) not in lines]
    return lines


def write_summary(
    reporter: Any, lines: list[tuple[str, bool]], counts: dict[str, int], done: AfterRun | None,
    skip_reason: str = "",
) -> None:
    """The wattbench part of the terminal summary; the run's answer comes last. ``counts``:
    passed, failed, resumed (skipped: already measured in the run folder) and skipped (for
    another reason, the first of which is ``skip_reason``)."""
    write = reporter.write_line
    reporter.write_sep("-", "wattbench")
    for line, warning in lines:
        write(line, yellow=warning, bold=warning)
    if any(counts.values()):
        other = counts.get("skipped", 0)
        write(f"items: {counts['passed']} passed, {counts['failed']} failed (their records say why), "
              f"{counts.get('resumed', 0)} skipped (already measured in the run folder)"
              + (f", {other} skipped for another reason (e.g. {skip_reason})" if other else ""))
    if done is None:
        return
    for line in done.lines:
        write(line, red=line.startswith(("REGRESSION", "WARNING", "GATE", "UNTESTED")))
    if done.best:
        reporter.write_sep("-", "wattbench: best (model, level) per task, by quality per joule")
        for line in done.best:
            write(line, green=True)
    if done.report is not None:
        write(f"open {done.report}  (or: wattbench report {done.report.parent} --out DIR)", bold=True)
    if done.must_fail:
        untested = f", {len(done.untested)} untested" if done.untested else ""
        crossed = f"wattbench: {len(done.failures)} gate(s) crossed{untested}; the run fails"
        write(crossed, red=True, bold=True)

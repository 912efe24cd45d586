"""pytest wiring: options, hooks, fixtures. The work itself lives in wattbench.session."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from wattbench import hookspec
from wattbench.backends import make_backend
from wattbench.backends.engineprocess import isolate
from wattbench.backends.protocol import Backend
from wattbench.cases import Case, PromptGroup
from wattbench.errors import ConfigError
from wattbench.finetune.spec import FinetuneCase
from wattbench.monitors import SourceOptions
from wattbench.monitors.gpu import GpuOptions
from wattbench.monitors.protocol import EnergySource
from wattbench.options import add_options, read_settings
from wattbench.records.record import now_utc
from wattbench.records.rundir import RunDir
from wattbench.run.measure import Measure, user_case_id
from wattbench.run.pool import HeldModel
from wattbench.scale.manifest import (
    MANIFEST_FILE,
    Manifest,
    finished,
    new_manifest,
    plan_of,
    resumed_shard,
    write_manifest,
)
from wattbench.scale.shard import ShardSpec, resolve_shard, shard_part
from wattbench.scale.workers import benchmark_json, devices_for, make_scheduler, set_visible_devices
from wattbench.session import WattbenchSession
from wattbench.settings import Settings
from wattbench.terminal import banner_lines, summary_lines, workers_lines, write_summary

if TYPE_CHECKING:  # the report is imported when a run ends, not when pytest starts
    from wattbench.report.after_run import AfterRun

CASE_PARAM = "wb_case"
GROUP_PARAM = "wb_prompt_group"
MODEL_PARAM = "wb_model"
FINETUNE_PARAM = "wb_finetune"


@dataclass
class PluginState:
    """Everything the plugin keeps for one pytest run, in ``config.stash[STATE]``."""

    settings: Settings
    session: WattbenchSession | None = None
    error: ConfigError | None = None  # why the session could not be built
    after: AfterRun | None = None  # the report and comparison, once the run ended
    workers: list[dict[str, Any]] = field(default_factory=list)  # xdist: what each worker sent
    shard: ShardSpec | None = None  # this process's shard of a sharded study
    shard_resumed: bool = False  # the shard came from the run folder's manifest (a resubmitted task)
    manifest: Manifest | None = None  # what this shard was to run (written beside its records)
    held: RunDir | None = None  # pytest-xdist's controller: its claim on the workers' run folder
    started_at: float | None = None  # when the first case started (time.monotonic)
    total: int = 0  # selected wattbench items that generate (cases, users' tests)
    done: int = 0  # of those, finished
    discovered_left_out: list[str] = field(default_factory=list)  # found, run only when selected
    selected: int = 0  # wattbench items left after -k, -m and the shard (collect-only too)
    eta_next: int = 5  # the finished (measured) count at which the time left is said next
    paced_from: float | None = None  # when the first measured case ended: its model's load is not pace
    paced: int = 0  # measured cases since then


STATE = pytest.StashKey[PluginState]()
THREADS_BEFORE = pytest.StashKey[frozenset[threading.Thread]]()  # wattbench's, alive at configure


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register wattbench's own hooks."""
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The --wb-* options and wb_* ini keys."""
    add_options(parser)


# pytest-benchmark's table, where the user chose no columns: a case is one generation per round,
# so min/max/stddev/iqr/outliers of one round are the same number, and ops is 1/latency. The
# latency columns and the rounds stay; tokens/s, TTFT, J and quality are in wattbench's summary,
# which is printed after the table (``pytest_terminal_summary`` below runs last).
BENCHMARK_COLUMNS = ["mean", "min", "max", "rounds"]


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads its options
def pytest_configure(config: pytest.Config) -> None:
    """Parse settings now, so bad values stop the run before anything is collected."""
    if not getattr(config.option, "benchmark_columns", None):
        config.option.benchmark_columns = BENCHMARK_COLUMNS
    config.addinivalue_line(
        "markers", "wattbench(task=, load=, level=): a wattbench case; the keywords name a test's case parts"
    )
    settings = read_settings(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "wb_run_dir" in workerinput:  # an xdist worker: one run dir
        worker = str(workerinput["workerid"])
        settings = dataclasses.replace(settings, run_dir=Path(workerinput["wb_run_dir"]), worker=worker)
        if settings.devices:  # before any engine starts: this worker's GPUs only
            devices = devices_for(worker, settings.devices)
            set_visible_devices(devices)
            settings = settings.with_option(GpuOptions(gpus=devices))
    try:
        asked = resolve_shard(settings.shard)
        shard = resumed_shard(asked, settings.run_dir)  # a task resubmitted alone keeps its shard
    except (ValueError, ConfigError) as exc:
        raise pytest.UsageError(f"wattbench: {exc}") from None
    config.stash[STATE] = PluginState(settings, shard=shard, shard_resumed=shard is not asked)
    config.stash[THREADS_BEFORE] = frozenset(_our_threads())  # another run's in this process


@pytest.hookimpl(tryfirst=True)  # before xdist's DSession starts the workers (trylast)
def pytest_sessionstart(session: pytest.Session) -> None:
    """pytest-xdist's controller claims the run folder before any worker starts, as a plain run
    does before its first case: a second ``-n`` run on the folder stops here, with no worker
    started and nothing written. (Workers never claim: they write the controller's folder.)"""
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or _is_worker(config) or not config.pluginmanager.has_plugin("dsession"):
        return
    rundir = RunDir(state.settings.run_dir)
    try:
        rundir.claim()
    except ConfigError as exc:
        raise pytest.UsageError(f"wattbench: {exc}") from None
    state.held = rundir


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker writes to the controller's run directory."""
    node.workerinput["wb_run_dir"] = str(node.config.stash[STATE].settings.run_dir)


@pytest.hookimpl(trylast=True)
def pytest_wattbench_make_backend(name: str, settings: Settings) -> Backend:
    """The built-in registry answers last, after any conftest."""
    return make_backend(name, settings.backend_options())


def _make_backend(config: pytest.Config, name: str, settings: Settings) -> Backend:
    """The backend called ``name`` (a conftest's hook first, then the registry); an in-process
    engine gets a worker process per model (--wb-isolation)."""
    backend = config.hook.pytest_wattbench_make_backend(name=name, settings=settings)
    return isolate(backend, settings.backend_options(), settings.isolation)


def _session(config: pytest.Config) -> WattbenchSession | None:
    """The run's session, built on first use; None (and the error stashed) when it cannot be."""
    state = config.stash[STATE]
    if state.session is None and state.error is None:
        settings = state.settings
        try:
            backend = _make_backend(config, settings.backend, settings)
            hook = config.hook
            scorers = [s for each in hook.pytest_wattbench_make_scorers(options=settings.scorer_options())
                       for s in each]

            def make_source(name: str, options: SourceOptions) -> EnergySource | None:
                made: EnergySource | None = hook.pytest_wattbench_make_energy_source(
                    name=name, options=options
                )
                return made

            state.session = WattbenchSession(settings, backend, make_source, scorers)
        except ConfigError as exc:
            # Raised here, in the middle of collection, it would become one collection error
            # per module; pytest_collection_modifyitems raises it once, as a usage error.
            state.error = exc
    return state.session


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per case (wb_case) and per (model, task, load) level group (wb_prompt_group),
    each with its model (wb_model); a user's test that asks for wb_model runs once per model;
    one test per fine-tuning case (wb_finetune)."""
    if FINETUNE_PARAM in metafunc.fixturenames:
        _parametrize_finetuning(metafunc)
        return
    names = [n for n in (CASE_PARAM, GROUP_PARAM, MODEL_PARAM) if n in metafunc.fixturenames]
    if not names:
        return
    session = _session(metafunc.config)
    if session is None:
        return
    # Indirect parameters hold only names and ids, so pytest-benchmark's JSON `params` stays plain.
    # The session scope keeps one wb_model value (one loaded model) across the items that share it.
    if CASE_PARAM in names or GROUP_PARAM in names:
        name = CASE_PARAM if CASE_PARAM in names else GROUP_PARAM
        units = session.cases if name == CASE_PARAM else session.groups
        if MODEL_PARAM in names:
            metafunc.parametrize(
                [MODEL_PARAM, name],
                [pytest.param(u.model.name, u.id, id=u.id, marks=pytest.mark.xdist_group(u.model.name))
                 for u in units],
                indirect=True, scope="session",
            )
        else:
            metafunc.parametrize(name, [u.id for u in units], ids=[u.id for u in units], indirect=True)
        return
    marker = metafunc.definition.get_closest_marker("wattbench")
    parts = dict(marker.kwargs) if marker is not None else {}
    models = session.models
    ids = [user_case_id(m.name, metafunc.definition.name, parts) for m in models]
    metafunc.parametrize(
        MODEL_PARAM,
        [pytest.param(m.name, id=i, marks=pytest.mark.xdist_group(m.name)) for m, i in zip(models, ids)],
        indirect=True, scope="session",
    )


def _parametrize_finetuning(metafunc: pytest.Metafunc) -> None:
    """One test per fine-tuning case (wattbench.finetune), grouped by model under xdist."""
    session = _session(metafunc.config)
    if session is None:
        return
    try:
        cases = session.finetuning.cases
    except ConfigError as exc:  # a bad --wb-finetune-model or data file: one usage error, raised
        metafunc.config.stash[STATE].error = exc  # by pytest_collection_modifyitems (see _session)
        return
    metafunc.parametrize(
        FINETUNE_PARAM,
        [pytest.param(c.id, id=c.id, marks=pytest.mark.xdist_group(c.model)) for c in cases],
        indirect=True,
    )


def _params(item: pytest.Item) -> dict[str, Any]:
    """An item's parameters ({} when it is not parametrised)."""
    callspec = getattr(item, "callspec", None)
    return {} if callspec is None else dict(callspec.params)


def _model_of(item: pytest.Item) -> str | None:
    """The name of the model a wattbench item runs on; None for any other item."""
    model = _params(item).get(MODEL_PARAM)
    if model is not None:
        return str(model)
    session = item.config.stash[STATE].session
    if session is None:
        return None
    params = _params(item)
    if FINETUNE_PARAM in params:
        return session.finetuning.by_id[str(params[FINETUNE_PARAM])].model
    ref = session.model_of(params.get(CASE_PARAM), params.get(GROUP_PARAM))
    return None if ref is None else ref.name


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order items model by model, growth checks first, so each model loads once.

    pytest's own reordering groups by a parameter's index, and a case's (model, case) pair has
    an index of its own, so it cannot see that two cases share a model: this sort does.
    """
    error = config.stash[STATE].error
    if error is not None:
        raise pytest.UsageError(f"wattbench: {error}")
    _leave_out_discovered(config, items)
    _leave_out_finetuning(config, items)
    first_seen: dict[str, int] = {}
    for item in items:
        model = _model_of(item)
        if model is not None:
            first_seen.setdefault(model, len(first_seen))
            item.add_marker("wattbench")

    _keep_my_shard(config, items)

    def key(indexed: tuple[int, pytest.Item]) -> tuple[int, int, int]:
        index, item = indexed
        model = _model_of(item)
        if model is None:
            return (-1, 0, index)
        return (first_seen[model], int(GROUP_PARAM not in _params(item)), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


def _leave_out_discovered(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A run without -k or -m runs the models --wb-model names: the models found where people
    keep them (Ollama, LM Studio, the HF cache) are collected, so -k selects them, but left out
    here, and the banner says how many there are."""
    state = config.stash[STATE]
    wb = state.session
    if wb is None or not wb.case_set.discovered:
        return
    if config.getoption("keyword", "") or config.getoption("markexpr", ""):
        return  # pytest's -k and -m have chosen already (this hook runs after theirs)
    if any("::" in str(arg) for arg in config.args) or config.getoption("lf", False):
        return  # tests named by node id, or --lf: the user chose them
    found = wb.case_set.discovered
    kept = [item for item in items if _model_of(item) not in found]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
    state.discovered_left_out = sorted(found)


def _leave_out_finetuning(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fine-tuning cases run only when asked for: -k or -m naming finetune, or a path or node id
    that does. Otherwise they are dropped before the run, uncounted, as if never collected, so a
    plain ``pytest bench/`` neither trains nor reports them as deselected."""
    asked = " ".join([config.getoption("keyword", "") or "", config.getoption("markexpr", "") or "",
                      *map(str, config.args)])
    if "finetune" in asked.lower():
        return
    items[:] = [item for item in items if FINETUNE_PARAM not in _params(item)]


def _keep_my_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a sharded run, deselect the other shards' cases (wattbench.scale.shard: whole models, or a
    model's cases spread over several shards when models are fewer than shards) and plan the
    study from the items -k and -m left, so a deselected case is not "missing"."""
    state = config.stash[STATE]
    wb = state.session
    if wb is None or state.shard is None:
        return
    pairs = [(str(_model_of(i)), str(_params(i)[CASE_PARAM])) for i in items if CASE_PARAM in _params(i)]
    if not pairs:
        return
    plan = plan_of([m.name for m in wb.models], pairs)
    part = shard_part(plan, state.shard)
    owned, home = set(part.cases), set(part.home)

    def is_mine(item: pytest.Item) -> bool:
        model, case = _model_of(item), _params(item).get(CASE_PARAM)
        if model is None:
            return True
        return str(case) in owned if case is not None else model in home  # other items: once

    mine = [i for i in items if is_mine(i)]
    if len(mine) < len(items):
        kept = set(mine)
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = mine
    state.manifest = new_manifest(state.shard, plan, state.settings.runs, state.settings.backend,
                                  wb.machine, now_utc(), models=part.models, cases=part.cases)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Claim the run folder before the first case (one clear message when it cannot be), and
    write a shard's manifest beside its records."""
    config = session.config
    state = config.stash[STATE]
    wb = state.session
    if wb is None or config.option.collectonly:
        return
    if not _is_worker(config):  # xdist workers share the folder their controller was given
        try:
            wb.start()
        except ConfigError as exc:
            raise pytest.UsageError(f"wattbench: {exc}") from None
    if state.manifest is not None and _writes_manifest(config):
        write_manifest(state.settings.run_dir, state.manifest)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _writes_manifest(config: pytest.Config) -> bool:
    """One process per shard writes its manifest: the run itself, or xdist's first worker."""
    return not _is_worker(config) or config.stash[STATE].settings.worker == "gw0"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """After the last item: idle power again (the model still loaded, as before the first case),
    then, once pytest's teardown freed the model, the judge phase."""
    state = item.config.stash[STATE]
    session = state.session if nextitem is None else None
    if session is not None:
        session.energy_done()
    try:
        return (yield)
    finally:
        if session is not None:
            config = item.config
            session.judge(lambda name: _make_backend(config, name, state.settings))


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """pytest-benchmark's JSON gets the run's energy set-up and idle baseline."""
    session = config.stash[STATE].session
    if session is not None:
        output_json["wattbench"] = session.benchmark_json()
        if not _is_worker(config):  # under xdist the controller adds every worker's entries
            output_json.setdefault("benchmarks", []).extend(session.resumed_entries)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """-n N (xdist's default "load" mode): each model's items go to one worker, so it loads
    once; an explicit --dist choice is the user's."""
    args = config.invocation_params.args
    if config.option.dist == "load" and not any(str(a).startswith(("--dist", "-d")) for a in args):
        return make_scheduler(config, log)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: keep what a finished worker measured."""
    output = getattr(node, "workeroutput", {}).get("wattbench")
    if output is not None:
        node.config.stash[STATE].workers.append(json.loads(output))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A worker hands its figures to the controller; the controller writes the benchmark JSON
    (xdist), then --wb-report and --wb-compare, once; a crossed gate fails the run."""
    config = session.config
    if STATE not in config.stash:
        return
    state = config.stash[STATE]
    wb = state.session
    if state.manifest is not None and wb is not None and _writes_manifest(config):
        write_manifest(state.settings.run_dir, finished(state.manifest, wb.energy.summary(), now_utc()))
    if _is_worker(config):  # the controller reports over every worker's records
        if wb is not None:
            config.workeroutput["wattbench"] = json.dumps(wb.worker_output(summary_lines(wb)), default=str)  # type: ignore[attr-defined]
        return
    json_path = config.getoption("benchmark_json", None)
    if state.workers and json_path is not None:
        entries = [e for w in state.workers for e in w["benchmarks"]]
        energy = {w["worker"]: w["wattbench"] for w in state.workers}
        document = benchmark_json(config, entries, {"workers": energy})
        Path(json_path).write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    settings = state.settings
    ran = state.total > 0 or bool(state.workers)  # this session selected wattbench items
    if not ran or (not settings.report and settings.compare_base is None):
        return
    from wattbench.report.after_run import AfterRunOptions, after_run

    done = after_run(
        AfterRunOptions(settings.run_dir, settings.report, settings.compare_base, settings.compare_gates,
                        settings.quality_floors),
        settings.compare_untested,
    )
    state.after = done
    if done.must_fail and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_finish(session: pytest.Session) -> None:
    """One banner before the first case: backend, models, cases, run folder, energy, and what
    the selected cases' scorers cannot do here."""
    state = session.config.stash[STATE]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    wb = state.session
    selected = [item for item in session.items if _model_of(item) is not None]
    state.selected = len(selected)
    if wb is not None and not session.config.option.collectonly:
        wb.select(str(_params(item)[CASE_PARAM]) for item in selected if CASE_PARAM in _params(item))
    if wb is None or reporter is None or not selected or session.config.option.collectonly:
        return
    reporter.ensure_newline()
    for line in banner_lines(wb, len(selected)):
        reporter.write_line(line, cyan=True)
    if state.manifest is not None and state.shard is not None:
        resumed = f"; resumed from {MANIFEST_FILE} (a task resubmitted alone)" if state.shard_resumed else ""
        mine, planned = len(state.manifest.cases), len(state.manifest.planned)
        reporter.write_line(f"wattbench: shard {state.shard} ({state.shard.source}): {mine} of {planned} "
                            f"cases{resumed}", cyan=True)
    if state.discovered_left_out:
        names = state.discovered_left_out
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        reporter.write_line(
            f"wattbench: {len(names)} more model{'s' if len(names) != 1 else ''} found ({shown}); "
            "select with -k NAME or --wb-model all", cyan=True,
        )
    state.total = sum(_generates(item) for item in selected)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Carry a case's figures to its report line (``-v``)."""
    report = yield
    state = item.config.stash[STATE]
    case_id = _params(item).get(CASE_PARAM)
    tuned = _params(item).get(FINETUNE_PARAM)
    if report.when == "call" and state.session is not None and (case_id or tuned) is not None:
        report.wb_line = state.session.case_line(str(case_id or tuned))
    if report.when == "setup" and report.skipped and state.session is not None and case_id is not None:
        state.session.resumed(item.name, item.nodeid, _params(item), str(case_id))
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """With -v, a case's line says tok/s, TTFT, joules and quality after PASSED."""
    line = getattr(report, "wb_line", None)
    if line and report.when == "call" and report.passed:
        return "passed", ".", (f"PASSED  {line}", {"green": True})
    return None


def _generates(item: pytest.Item) -> bool:
    """Whether a wattbench item generates (a case or a user's test), not a growth check."""
    return _model_of(item) is not None and GROUP_PARAM not in _params(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Count finished cases and say how long is left: after five measured cases (or half a
    minute), then every tenth of the run. The pace leaves out the first case (its model's load
    and warm-up) and cases skipped because the run folder holds them (a resume)."""
    state = item.config.stash[STATE]
    counted = state.total > 0 and _generates(item)
    if counted and state.started_at is None:
        state.started_at = time.monotonic()  # growth checks before it take no generation time
    result = yield
    if not counted or state.started_at is None:
        return result
    state.done += 1
    case_id = _params(item).get(CASE_PARAM)
    if state.session is not None and str(case_id) in state.session.resumed_records:
        return result  # skipped in no time: not the pace of a case that runs
    now = time.monotonic()
    if state.paced_from is None:
        state.paced_from = now
        return result
    state.paced += 1
    left = state.total - state.done
    if left > 0 and (state.paced >= state.eta_next or (now - state.paced_from >= 30 and state.eta_next == 5)):
        state.eta_next = state.paced + max(5, state.total // 10)
        reporter = item.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and item.config.get_verbosity() >= 0:  # quiet under -q
            minutes = (now - state.paced_from) / state.paced * left / 60
            reporter.ensure_newline()
            reporter.write_line(
                f"wattbench: {state.done} of {state.total} done; about {minutes:.1f} min left for {left} "
                f"more (at the pace of the last {state.paced} measured)", cyan=True,
            )
    return result


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's table: the answer is the last thing shown
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The run's answer, last: where the records and the report are, the best configuration per
    task, what failed or went unscored, the warnings, and the gates."""
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if state.workers:
        lines = workers_lines(state.workers)
    elif state.session is not None and (
        state.session.recorded or state.session.engine_crashes or state.session.finetune_lines
    ):
        lines = summary_lines(state.session)
    else:
        lines = []
    keyword = config.getoption("keyword", "")
    ran_any = any(terminalreporter.stats.get(k) for k in ("passed", "failed", "skipped", "error"))
    if keyword and not ran_any and not state.selected and not state.workers and state.session is not None:
        terminalreporter.write_sep("-", "wattbench")
        for line in known_models_lines(state.session.case_set, keyword):
            terminalreporter.write_line(line, yellow=True)
        return
    if not lines and state.after is None:
        return
    ours = {
        outcome: [r for r in terminalreporter.stats.get(outcome, ())
                  if "wattbench" in r.keywords and getattr(r, "when", "call") in ("call", "setup")]
        for outcome in ("passed", "failed", "skipped")
    }
    counts = {outcome: len(reports) for outcome, reports in ours.items()}
    # A case skipped because the run folder holds it is not one skipped for another reason (a
    # failed check, a missing piece): the summary counts them apart.
    measured = [r for r in ours["skipped"] if _skip_reason(r).startswith("already measured")]
    counts["skipped"], counts["resumed"] = counts["skipped"] - len(measured), len(measured)
    other = next((_skip_reason(r) for r in ours["skipped"] if r not in measured), "")
    write_summary(terminalreporter, lines, counts, state.after, other)


def _skip_reason(report: Any) -> str:
    """A skipped test report's reason (pytest keeps it as (file, line, 'Skipped: reason'))."""
    longrepr = getattr(report, "longrepr", None)
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    return reason.removeprefix("Skipped: ")


def known_models_lines(case_set: Any, keyword: str) -> list[str]:
    """What a run whose -k selected no case says: the models it knows, and how to add one."""
    found = case_set.discovered
    named = [m.name for m in case_set.models if m.name not in found]
    lines = [f"-k {keyword!r} selects no case. The models this run knows:"]
    lines += [f"  {name}  (--wb-model)" for name in named]
    lines += [f"  {name}  (found: {where})" for name, where in sorted(found.items())]
    lines += [
        "Add one: --wb-model PATH.gguf (or a folder), --wb-model-dir DIR, or keep it where wattbench "
        "looks: Ollama's store (~/.ollama/models), LM Studio's folder (~/.lmstudio/models) or the "
        "Hugging Face cache (~/.cache/huggingface/hub); a server's with --wb-backend openai or ollama.",
    ]
    return lines


THREADS_GRACE_S = 2.0  # how long the end of the run waits for wattbench's threads to finish


def pytest_unconfigure(config: pytest.Config) -> None:
    """Free whatever is still loaded, close the results file and release the run folder; then
    wait a moment for wattbench's background threads, and name on stderr any left running."""
    state = config.stash.get(STATE, None)
    if state is not None and state.held is not None:
        state.held.release()  # after xdist stopped its workers (DSession.pytest_sessionfinish)
    if state is None or state.session is None:
        return
    try:
        state.session.close()
    finally:
        _left_running(config.stash.get(THREADS_BEFORE, frozenset()), THREADS_GRACE_S)


def _our_threads() -> list[threading.Thread]:
    """wattbench's threads alive now (each is named wattbench-*), this one left out."""
    this = threading.current_thread()
    return [t for t in threading.enumerate() if t.name.startswith("wattbench-") and t is not this]


def _left_running(before: frozenset[threading.Thread], grace_s: float) -> None:
    """Join the run's wattbench threads (not those of ``before``) for up to ``grace_s`` in all;
    say which are still alive. Each is a daemon, stopped by its owner's close() or left with its
    own note: the process's exit never waits for one, but one alive here is a bug to report."""
    deadline = time.monotonic() + grace_s
    left = []
    for thread in _our_threads():
        if thread not in before:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                left.append(thread.name)
    if left:
        sys.stderr.write(f"wattbench: threads still running at the end of the run: {', '.join(left)}\n")


@pytest.fixture(scope="session")
def wattbench(request: pytest.FixtureRequest) -> WattbenchSession:
    """The run's WattbenchSession: measure cases and check their invariants."""
    session = _session(request.config)
    assert session is not None, "wattbench could not start; see the usage error"
    return session


@pytest.fixture(scope="session")
def wb_model(request: pytest.FixtureRequest, wattbench: WattbenchSession) -> Iterator[HeldModel]:
    """One of the run's models, loaded and warmed up in this fixture's setup (so the cost shows
    as setup in ``--durations``, never in a case), and evicted (keep-alive 0) at its teardown.

    Parametrised over the run's models (--wb-model); a model that cannot load is yielded with
    its error, and each case that uses it fails with the reason.
    """
    held = wattbench.hold(str(request.param))
    try:
        yield held
    finally:
        wattbench.evict(held)


@pytest.fixture(scope="session")
def wb_case(request: pytest.FixtureRequest, wattbench: WattbenchSession) -> Case:
    """The case this test measures; skipped when the run directory already holds it."""
    case = wattbench.case_set.by_id[request.param]
    if wattbench.already_done(case):
        pytest.skip(f"already measured in {wattbench.results.path}")
    return case


@pytest.fixture
def wb_finetune(request: pytest.FixtureRequest, wattbench: WattbenchSession) -> FinetuneCase:
    """The fine-tuning case this test measures (``-k finetune``); skipped with the install line
    without the [finetune] extra, and when the run folder holds it already."""
    case = wattbench.finetuning.by_id[request.param]
    reason = wattbench.finetuning.skip_reason(case)
    if reason is not None:
        pytest.skip(reason)
    return case


@pytest.fixture(scope="session")
def wb_prompt_group(request: pytest.FixtureRequest, wattbench: WattbenchSession) -> PromptGroup:
    """The level variants of one (model, task, load)."""
    return wattbench.case_set.group_by_id[request.param]


@pytest.fixture
def wb_measure(request: pytest.FixtureRequest, wattbench: WattbenchSession, benchmark: Any) -> Measure:
    """Measure one generation of your own prompt the way the built-in cases are measured.

    ``wb_measure(wb_model, prompt_or_messages, task=..., reference=..., tests=..., entry_point=...,
    max_tokens=...)`` runs it under the same energy window, timing and scorers, appends the
    record to the run's results.jsonl, fills pytest-benchmark's extra_info and returns the
    record (wattbench.records.record.Record). ``@pytest.mark.wattbench(task=, load=, level=)`` names the
    case's parts for ids, the report and compare.
    """
    marker = request.node.get_closest_marker("wattbench")
    parts = dict(marker.kwargs) if marker is not None else {}
    return Measure(wattbench, request.node.originalname, parts, benchmark)

"""pytest wiring: options, hooks, fixtures. The work itself lives in wattbench.session."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from wattbench import hookspec
from wattbench.backends import make_backend
from wattbench.backends.protocol import Backend
from wattbench.cases import Case, PromptGroup
from wattbench.errors import ConfigError, WattbenchError
from wattbench.options import add_options, read_settings
from wattbench.report.after_run import AfterRun, after_run
from wattbench.session import WattbenchSession
from wattbench.settings import Settings

SETTINGS_KEY = pytest.StashKey[Settings]()
SESSION_KEY = pytest.StashKey[WattbenchSession]()
ERROR_KEY = pytest.StashKey[ConfigError]()
AFTER_KEY = pytest.StashKey[AfterRun]()
CASE_PARAM = "wb_case"
GROUP_PARAM = "wb_prompt_group"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register wattbench's own hooks."""
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The --wb-* options and wb_* ini keys."""
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Parse settings now, so bad values stop the run before anything is collected."""
    config.addinivalue_line("markers", "wattbench: a wattbench benchmark case")
    settings = read_settings(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "wb_run_dir" in workerinput:  # an xdist worker: one run dir
        settings = dataclasses.replace(settings, run_dir=Path(workerinput["wb_run_dir"]))
    config.stash[SETTINGS_KEY] = settings


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker writes to the controller's run directory."""
    node.workerinput["wb_run_dir"] = str(node.config.stash[SETTINGS_KEY].run_dir)


@pytest.hookimpl(trylast=True)
def pytest_wattbench_make_backend(name: str, settings: Settings) -> Backend:
    """The built-in registry answers last, after any conftest."""
    return make_backend(name, settings)


def _session(config: pytest.Config) -> WattbenchSession | None:
    """The run's session, built on first use; None (and the error stashed) when it cannot be."""
    if SESSION_KEY not in config.stash and ERROR_KEY not in config.stash:
        settings = config.stash[SETTINGS_KEY]
        try:
            backend = config.hook.pytest_wattbench_make_backend(name=settings.backend, settings=settings)
            config.stash[SESSION_KEY] = WattbenchSession(settings, backend)
        except ConfigError as exc:
            # Raised here, in the middle of collection, it would become one collection error
            # per module; pytest_collection_modifyitems raises it once, as a usage error.
            config.stash[ERROR_KEY] = exc
    return config.stash.get(SESSION_KEY, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per case (wb_case) and per (model, task, load) level group (wb_prompt_group)."""
    # Indirect parameters hold only the id string, so pytest-benchmark's JSON `params` stays plain.
    for name in (CASE_PARAM, GROUP_PARAM):
        if name not in metafunc.fixturenames:
            continue
        session = _session(metafunc.config)
        if session is None:
            return
        ids = [c.id for c in session.cases] if name == CASE_PARAM else [g.id for g in session.groups]
        metafunc.parametrize(name, ids, ids=ids, indirect=True)


def _params(item: pytest.Item) -> dict[str, Any]:
    """An item's parameters ({} when it is not parametrised)."""
    callspec = getattr(item, "callspec", None)
    return {} if callspec is None else dict(callspec.params)


def _model_of(item: pytest.Item) -> str | None:
    """The location of the model a wattbench item runs on; None for any other item."""
    session = item.config.stash.get(SESSION_KEY, None)
    if session is None:
        return None
    params = _params(item)
    case = session.by_id.get(str(params.get(CASE_PARAM)))
    if case is not None:
        return case.model.location
    group = session.group_by_id.get(str(params.get(GROUP_PARAM)))
    return None if group is None else group.model.location


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order cases model by model, so each model loads once; growth checks first per model."""
    error = config.stash.get(ERROR_KEY, None)
    if error is not None:
        raise pytest.UsageError(f"wattbench: {error}")
    first_seen: dict[str, int] = {}
    for item in items:
        model = _model_of(item)
        if model is not None:
            first_seen.setdefault(model, len(first_seen))
            item.add_marker("wattbench")

    def key(indexed: tuple[int, pytest.Item]) -> tuple[int, int, int]:
        index, item = indexed
        model = _model_of(item)
        if model is None:
            return (-1, 0, index)
        return (first_seen[model], int(CASE_PARAM in _params(item)), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Free the model after its last case (keep-alive 0), before the next model loads."""
    model = _model_of(item)
    if model is not None and (nextitem is None or _model_of(nextitem) != model):
        session = item.config.stash[SESSION_KEY]
        if nextitem is None:
            session.energy.finish()  # idle after the last case, in the same state as before it
        session.pool.release()
        if nextitem is None and session.judging.enabled:
            _judge(item.config, session)


def _judge(config: pytest.Config, session: WattbenchSession) -> None:
    """The judge phase, once the benchmarked model is freed; a failure is reported, not raised."""
    settings = config.stash[SETTINGS_KEY]
    try:
        session.judging.run(
            lambda name: config.hook.pytest_wattbench_make_backend(name=name, settings=settings)
        )
    except WattbenchError as exc:
        session.judging.summary = {"error": f"the judge phase could not run: {exc}"}


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """pytest-benchmark's JSON gets the run's energy set-up and idle baseline."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        output_json["wattbench"] = {"energy": session.energy.summary()}
        if session.judging.summary is not None:
            output_json["wattbench"]["judge"] = session.judging.summary


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """--wb-report and --wb-compare, once, on the controller; a crossed gate fails the run."""
    config = session.config
    if hasattr(config, "workerinput") or SETTINGS_KEY not in config.stash:
        return  # an xdist worker: the controller reports over every worker's records
    settings = config.stash[SETTINGS_KEY]
    if not settings.report and settings.compare_base is None:
        return
    done = after_run(settings)
    config.stash[AFTER_KEY] = done
    if done.failures and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where the run's records went, how energy was measured, and the idle baseline."""
    done = config.stash.get(AFTER_KEY, None)
    if done is not None:
        terminalreporter.write_sep("-", "wattbench report and comparison")
        for line in done.lines:
            terminalreporter.write_line(line, red=line.startswith(("REGRESSION", "WARNING")))
        if done.failures:
            terminalreporter.write_line(f"wattbench: {len(done.failures)} gate(s) crossed; the run fails",
                                        red=True, bold=True)
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.recorded:
        return
    terminalreporter.write_sep("-", "wattbench")
    terminalreporter.write_line(f"{session.recorded} run records appended to {session.results.path}")
    energy = session.energy
    for line in [*energy.describe(), *(f"quality: {note}" for note in session.quality_notes)]:
        terminalreporter.write_line(line)
    for label, idle in (("before", energy.idle_before), ("after", energy.idle_after)):
        if idle is not None:
            terminalreporter.write_line(
                f"idle power {label}: {idle.power_w:.3f} W (sd {idle.sd_w:.3f} W over "
                f"{idle.chunks_count} chunks, {idle.duration_s:.1f} s)"
            )
    warning = energy.drift_warning()
    if warning:
        terminalreporter.write_line(f"WARNING: {warning}", yellow=True, bold=True)
    judged = session.judging.summary
    if judged is not None and "error" in judged:
        terminalreporter.write_line(f"WARNING: {judged['error']}", yellow=True, bold=True)
    elif judged is not None:
        for mode, figures in judged["modes"].items():
            terminalreporter.write_line(
                f"judge {judged['judge_model']} ({mode}): {figures['judged']} judgements, "
                f"{figures['parse_failures']} parse failures ({figures['parse_failure_rate']:.0%})"
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Free whatever is still loaded and close the results file."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.pool.release()
        session.energy.close()
        session.results.close()


@pytest.fixture
def wattbench(request: pytest.FixtureRequest) -> WattbenchSession:
    """The run's WattbenchSession: measure cases and check their invariants."""
    session = _session(request.config)
    assert session is not None, "wattbench could not start; see the usage error"
    return session


@pytest.fixture
def wb_case(request: pytest.FixtureRequest, wattbench: WattbenchSession) -> Case:
    """The case this test measures; skipped when the run directory already holds it."""
    case = wattbench.by_id[request.param]
    if wattbench.already_done(case):
        pytest.skip(f"already measured in {wattbench.results.path}")
    return case


@pytest.fixture
def wb_prompt_group(request: pytest.FixtureRequest, wattbench: WattbenchSession) -> PromptGroup:
    """The level variants of one (model, task, load)."""
    return wattbench.group_by_id[request.param]

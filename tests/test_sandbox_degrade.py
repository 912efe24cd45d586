"""No sandbox here (bubblewrap missing, or present but refused namespaces): the run goes on.

Code answers are compiled, their tests are not run, the pass figures are null (never 0) and
``code_tests_skipped_reason`` says why; the banner and the summary say it once, and only when
the selected cases hold a code case with tests (engines.md, section 2).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cannedbackend import canned_backend
from test_plugin import records, run_suite
from test_scorers import RLE, RLE_TESTS, case

from wattbench.scorers import Scorers, bwrap
from wattbench.scorers.code import CodeScorer

CANNED_BACKEND = canned_backend("canned", f"def reply(prompt):\n    return {RLE!r}")
DOCKER_SAYS = "bwrap: setting up uid map: Permission denied"  # Docker's default seccomp profile
REFUSED = f"bubblewrap cannot create namespaces here ({DOCKER_SAYS})"
MISSING = "no sandbox: install bubblewrap (apt-get install bubblewrap)"
NOTE = "code answers are compiled but their tests are not run"
FAKE_BWRAP = f"""#!/bin/sh
if [ "$1" = "--version" ]; then
    echo probed >> "$(dirname "$0")/probed"
    echo "bubblewrap 0.9.0"
    exit 0
fi
echo "{DOCKER_SAYS}" >&2
exit 1
"""


@pytest.fixture(autouse=True)
def fresh_probe() -> Iterator[None]:
    """bwrap.problem() answers once per process: each test here asks it again, under its PATH."""
    bwrap.problem.cache_clear()
    bwrap.interpreter.cache_clear()
    yield
    bwrap.problem.cache_clear()
    bwrap.interpreter.cache_clear()


@pytest.fixture
def refusing_bwrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A ``bwrap`` first on PATH that says it is 0.9.0 (and notes that it was asked) but cannot
    create namespaces, as in a Docker container; its folder is returned."""
    # Not under pytest's 0700 tmp_path: as root the probe runs bwrap as the nobody user.
    folder = Path(tempfile.mkdtemp(prefix="wattbench-fake-bwrap-"))
    folder.chmod(0o755)
    script = folder / "bwrap"
    script.write_text(FAKE_BWRAP)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH on which there is no bwrap at all."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_the_probe_names_a_refusal_of_namespaces(refusing_bwrap: Path) -> None:
    assert bwrap.problem() == REFUSED
    assert (refusing_bwrap / "probed").exists()


def test_a_bwrap_that_cannot_even_say_its_version_is_said_so_not_too_old(
    refusing_bwrap: Path,
) -> None:
    (refusing_bwrap / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"
    )
    said = bwrap.problem()
    assert said == (f"no sandbox: bubblewrap at {refusing_bwrap / 'bwrap'} cannot run: 'bwrap --version' "
                    "failed (bwrap: setting up uid map: Permission denied)")
    assert "too old" not in said


@pytest.mark.usefixtures("no_bwrap")
def test_without_a_sandbox_the_scorer_compiles_but_runs_no_tests() -> None:
    scorer = CodeScorer()
    assert scorer.ready() == (
        f"{NOTE} (code_tests_passed and code_pass_at_k are null; --wb-unsafe-code runs them under "
        f"a weaker guard): {MISSING}"
    )
    for answer in (RLE, "no code here"):  # compiled or not: its tests did not run
        figures = scorer.score(case("code", tests=RLE_TESTS), answer)
        assert figures == {"code_tests_passed": None, "code_tests_skipped_reason": MISSING}
    assert scorer.skipped == 2


@pytest.mark.usefixtures("no_bwrap")
def test_the_unsafe_opt_in_still_runs_the_tests_under_the_guard() -> None:
    scorer = CodeScorer(unsafe_code=True)
    assert scorer.ready() is None
    figures = scorer.score(case("code", tests=RLE_TESTS), RLE)
    assert figures["code_tests_passed"] == 1.0 and figures["code_sandbox"] == "guard"


def test_cases_without_code_never_probe_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe() -> str:
        raise AssertionError("the sandbox was probed for cases that run no code")

    monkeypatch.setattr(bwrap, "problem", probe)
    scorers = Scorers([CodeScorer()])
    assert scorers.check_ready([case("qa", "Paris"), case("code")]) == []  # code without tests
    assert scorers.summary_lines() == []


@pytest.mark.usefixtures("no_bwrap")
def test_code_scored_outside_the_selected_cases_is_said_once_in_the_summary() -> None:
    scorers = Scorers([CodeScorer()])  # e.g. a user's own test with tests= (wb_measure)
    assert scorers.check_ready([case("qa", "Paris")]) == []
    for _ in range(2):
        untested = {"code_tests_passed": None, "code_tests_skipped_reason": MISSING}
        assert scorers.score(case("code", tests=RLE_TESTS), RLE) == untested
    (line,) = scorers.summary_lines()
    assert line.startswith(f"quality: {NOTE}") and line.endswith(MISSING)


def _code_run(
    suite: pytest.Pytester, model: Path, *args: str
) -> tuple[pytest.RunResult, dict[str, Any], list[dict[str, Any]]]:
    """The canned backend's (correct) rle_encode answer to the short code task, twice."""
    suite.makeconftest(CANNED_BACKEND)
    run_dir = suite.path / "run"
    result, data = run_suite(
        suite, "--wb-backend", "canned", "--wb-model", str(model), "--wb-tasks", "code", "--wb-loads",
        "short", "--wb-levels", "L0", "--wb-runs", "2", "--wb-run-dir", str(run_dir), *args,
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1 + 1)  # the case and its growth check
    (entry,) = data["benchmarks"]
    return result, entry["extra_info"], records(run_dir)


@pytest.mark.parametrize(("where", "reason"), [("refusing_bwrap", REFUSED), ("no_bwrap", MISSING)])
def test_a_code_case_without_a_sandbox_records_null_pass_figures_and_why(
    suite: pytest.Pytester, tiny_gguf: Path, request: pytest.FixtureRequest, where: str, reason: str
) -> None:
    request.getfixturevalue(where)
    result, summary, saved = _code_run(suite, tiny_gguf)
    assert len(saved) == 2
    for record in saved:
        assert record["code_compiles"] is True
        assert record.get("code_tests_passed") is None and "code_sandbox" not in record
        assert record["code_tests_skipped_reason"] == reason
    assert summary.get("code_tests_passed") is None and summary.get("code_pass_at_k") is None
    # Said once before the first case and once in the summary, not per case or per run.
    banner = [line for line in result.outlines if line.startswith(f"wattbench: {NOTE}")]
    summed = [line for line in result.outlines if line.startswith(f"quality: {NOTE}")]
    assert len(banner) == 1 and len(summed) == 1, result.stdout.str()
    assert banner[0].endswith(reason) and summed[0].endswith(reason)
    assert result.stdout.str().count(reason) == 2


@pytest.mark.usefixtures("refusing_bwrap")
def test_the_unsafe_opt_in_runs_the_tests_in_a_run(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result, summary, saved = _code_run(suite, tiny_gguf, "--wb-unsafe-code")
    assert [r["code_tests_passed"] for r in saved] == [1.0, 1.0] and summary["code_pass_at_k"] == 1.0
    assert {r["code_sandbox"] for r in saved} == {"guard"}
    assert NOTE not in result.stdout.str()


def test_a_run_that_selects_no_code_case_says_nothing_of_isolation(
    suite: pytest.Pytester, tiny_gguf: Path, refusing_bwrap: Path
) -> None:
    suite.makeconftest(CANNED_BACKEND)
    result, _data = run_suite(
        suite, "--wb-backend", "canned", "--wb-model", str(tiny_gguf), "--wb-levels", "L0",
        "--wb-run-dir", str(suite.path / "run"), "-k", "qa and short",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1 + 1)
    out = result.stdout.str() + result.stderr.str()
    assert "bubblewrap" not in out and "namespaces" not in out and NOTE not in out
    assert not (refusing_bwrap / "probed").exists()  # not even probed

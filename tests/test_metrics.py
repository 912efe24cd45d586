"""Record keys: units in their names, and the docs' key table (docs/results.md) names every one."""

from __future__ import annotations

from conftest import REPO
from wattbench.metrics import METRICS, suffix_for


def test_numeric_keys_end_in_their_unit() -> None:
    for metric in METRICS:
        suffix = suffix_for(metric.unit)
        if metric.unit:
            assert suffix is not None, f"{metric.key}: unit {metric.unit!r} has no suffix rule"
            assert metric.key.endswith(suffix), f"{metric.key} should end in {suffix}"


def test_docs_document_every_key() -> None:
    page = REPO / "docs" / "results.md"
    table = page.read_text(encoding="utf-8").split("## Record keys", 1)[-1]
    missing = [m.key for m in METRICS if f"| `{m.key}` |" not in table]
    assert not missing, f"{page.relative_to(REPO)} lacks rows for these record keys: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert commands, ".ci/run runs no install-and-test command"
    for command in commands:
        assert command in readme, f"README.md does not show the command .ci/run runs: {command}"

"""The docs site builds with warnings as errors, and the README stays a page one can read.

`mkdocs build --strict` with mkdocs.yml's `validation` settings fails on a link to a missing
page or file, a missing anchor (on the page or another one), and a page left out of nav; so a
moved heading or a renamed page fails here as it fails in CI.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

README_MAX_LINES = 250


def test_readme_fits_a_screen() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move the reference into docs/"
    )


needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason="mkdocs and mkdocs-material are not installed: pip install -e '.[docs]'",
)


@needs_mkdocs
def test_docs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    # Material prints a banner about MkDocs 2 on every build; it is not a warning of ours.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}{result.stdout}"
    assert (site / "index.html").is_file()
    # bench/FIGURES.md is included into the site, not copied: its figures must be on the page.
    assert "python bench/overhead.py" in (site / "figures" / "index.html").read_text(encoding="utf-8")


@needs_mkdocs
def test_docs_build_fails_on_a_broken_anchor(tmp_path: Path) -> None:
    """The strict build is not vacuous: a link to a missing anchor on another page fails it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in (REPO / "docs").glob("*.md"):
        (docs / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    (docs / "images").mkdir()
    for image in (REPO / "docs" / "images").iterdir():
        (docs / "images" / image.name).write_bytes(image.read_bytes())
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "FIGURES.md").write_text(
        (REPO / "bench" / "FIGURES.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    with (docs / "overhead.md").open("a", encoding="utf-8") as page:
        page.write("\nSee [the windows](energy.md#no-such-heading).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text((REPO / "mkdocs.yml").read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode != 0
    assert "no-such-heading" in result.stderr

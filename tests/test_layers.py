"""The package's layers: lower rooms never import the ones above them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ABOVE = ("wattbench.report", "wattbench.plugin", "wattbench.session", "wattbench.judging")


@pytest.mark.parametrize(
    "module",
    ["wattbench.backends.protocol", "wattbench.monitors", "wattbench.scorers", "wattbench.results",
     "wattbench.settings", "wattbench.cases"],
)
def test_a_lower_room_pulls_in_nothing_above_it(module: str) -> None:
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('wattbench'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    above = [m for m in loaded if any(m == a or m.startswith(a + ".") for a in ABOVE)]
    assert above == [], f"importing {module} loads {above}"

"""Hooks a conftest.py can implement to change how wattbench works."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from wattbench.backends.protocol import Backend
    from wattbench.monitors import SourceOptions
    from wattbench.monitors.protocol import EnergySource
    from wattbench.scorers import ScorerOptions
    from wattbench.scorers.protocol import Scorer
    from wattbench.settings import Settings


@pytest.hookspec(firstresult=True)
def pytest_wattbench_make_backend(name: str, settings: Settings) -> Backend | None:
    """Return the backend called ``name``, or None to let the built-in registry answer.

    Example, in a conftest.py::

        def pytest_wattbench_make_backend(name, settings):
            if name == "mine":
                return MyBackend(settings)
    """


@pytest.hookspec(firstresult=True)
def pytest_wattbench_make_energy_source(name: str, options: SourceOptions) -> EnergySource | None:
    """Return the energy source called ``name`` (a name ``--wb-energy`` lists, or one that
    ``auto`` tries: nvml, amdsmi, rapl, jetson, powermetrics, estimate), or None to let the
    built-in openers answer. Raise wattbench.errors.EnergySourceError, saying why and how to
    enable it, when it cannot be read here: under ``auto`` that becomes a note, else it stops the
    run at start-up.

    Example, in a conftest.py (a server's power through IPMI)::

        def pytest_wattbench_make_energy_source(name, options):
            if name == "ipmi":
                return IpmiSource()   # satisfies wattbench.monitors.protocol.EnergySource
    """


@pytest.hookspec
def pytest_wattbench_make_scorers(options: ScorerOptions) -> list[Scorer]:
    """Return scorers to add to the built-in ones (every plugin's are added). Each satisfies
    wattbench.scorers.protocol.Scorer; the keys its ``score`` returns must be defined in
    wattbench.metrics, or each be prefixed ``x_`` (a user's own key, kept as it is).

    Example, in a conftest.py::

        def pytest_wattbench_make_scorers(options):
            return [PolitenessScorer()]
    """
    return []

"""Hooks a conftest.py can implement to change how wattbench works."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from wattbench.backends.protocol import Backend
    from wattbench.settings import Settings


@pytest.hookspec(firstresult=True)
def pytest_wattbench_make_backend(name: str, settings: Settings) -> Backend | None:
    """Return the backend called ``name``, or None to let the built-in registry answer.

    Example, in a conftest.py::

        def pytest_wattbench_make_backend(name, settings):
            if name == "mine":
                return MyBackend(settings)
    """

"""wattbench: a pytest plugin that benchmarks generative models by cost and quality.

The public surface is small: the ``--wb-*`` options, the ``wb_case`` / ``wattbench`` fixtures
used by the suite in bench/, the ``pytest_wattbench_*`` hooks (wattbench.hookspec), and the
record keys (wattbench.metrics).
"""

from __future__ import annotations

__version__ = "0.1.0"

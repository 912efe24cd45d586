"""Backends: the engines and servers wattbench can benchmark.

To add one: write ``backends/<name>.py`` with a class that implements
:class:`wattbench.backends.protocol.Backend` (``resolve`` and ``load``) and whose loaded models
implement :class:`~wattbench.backends.protocol.LoadedModel`; then add ``"<name>":
"wattbench.backends.<name>:<Class>"`` to ``REGISTRY``. A user can also supply a backend from a
conftest with the ``pytest_wattbench_make_backend`` hook, without touching this package.
"""

from __future__ import annotations

import importlib

from wattbench.backends.protocol import Backend, BackendOptions
from wattbench.errors import ConfigError

# Lazy "module:Class" paths, so a backend's heavy imports happen only when it is chosen.
REGISTRY: dict[str, str] = {
    "llamacpp": "wattbench.backends.llamacpp:LlamaCppBackend",
    "openai": "wattbench.backends.openai_compat:OpenAICompatBackend",
    "ollama": "wattbench.backends.ollama:OllamaBackend",
}


def make_backend(name: str, options: BackendOptions) -> Backend:
    """Instantiate the registered backend called ``name``."""
    try:
        path = REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r} (--wb-backend / wb_backend); "
            f"choose from {', '.join(sorted(REGISTRY))}"
        ) from None
    module_name, class_name = path.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = backend_class(options)
    return backend

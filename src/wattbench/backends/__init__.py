"""Backends: the engines and servers wattbench can benchmark.

To add one: write ``backends/<name>.py`` with a class that implements
:class:`wattbench.backends.protocol.Backend` (``resolve`` and ``load``) and whose loaded models
implement :class:`~wattbench.backends.protocol.LoadedModel`; then add ``"<name>":
Entry("wattbench.backends.<name>:<Class>")`` to ``REGISTRY``. Its own settings are one frozen
dataclass in that module whose fields are ``wattbench.option.setting(...)`` rows (see
``ollama.OllamaOptions``): name it in the entry,
``Entry(..., options="wattbench.backends.<name>:<Name>Options")``, and ``--wb-<option>`` and
``wb_<option>`` exist; the backend reads its object with ``options.get(<Name>Options)``. A user
can also supply a backend from a conftest with the ``pytest_wattbench_make_backend`` hook,
without touching this package.
"""

from __future__ import annotations

from wattbench.backends.protocol import Backend, BackendOptions
from wattbench.errors import ConfigError
from wattbench.option import Entry, load

# Lazy "module:Class" paths, so a backend's heavy imports happen only when it is chosen (its
# module's own imports are light: the engine's are inside its methods).
REGISTRY: dict[str, Entry] = {
    "llamacpp": Entry("wattbench.backends.llamacpp:LlamaCppBackend"),
    "openai": Entry("wattbench.backends.openai_compat:OpenAICompatBackend",
                    options="wattbench.backends.openai_compat:OpenAIOptions"),
    "ollama": Entry("wattbench.backends.ollama:OllamaBackend",
                    options="wattbench.backends.ollama:OllamaOptions"),
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
    backend: Backend = load(path.path)(options)
    return backend


def server_url(name: str, options: BackendOptions) -> str | None:
    """The URL of the server the backend ``name`` talks to under ``options``; None for an
    in-process engine (or a backend this registry does not know)."""
    entry = REGISTRY.get(name)
    own = options.get(load(entry.options)) if entry is not None and entry.options else None
    answer = getattr(own, "server_url", None)
    url = answer() if callable(answer) else None
    return url if isinstance(url, str) else None

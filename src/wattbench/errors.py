"""Every error wattbench raises, in one tree.

    WattbenchError              base: catch this to catch all of ours
    ├── ConfigError             a bad option, ini value or task file: says which and the accepted forms
    │   ├── CaseFileError       a malformed entry in a test-case file: names file, entry and field
    │   ├── EnergySourceError   an energy source cannot be read here: says why and how to enable it
    │   ├── ReportInputError    a saved run or a gate spec a report cannot read: names path or part
    │   ├── RunDirError         the run folder cannot be written, or another session holds it
    │   ├── GpuControlError     GPU settings (power limit, clocks) cannot be changed here: how to grant it
    │   └── SandboxUnavailableError  no sandbox for generated code here (no bubblewrap): the fix;
    │                                a run does not stop on it: it records the tests as not run
    ├── ResultsWriteError       a record could not be appended (disk full): the run stops, file valid
    ├── MissingExtraError       an optional dependency is not installed: names the extra to install
    ├── ModelError              a model cannot be used
    │   ├── ModelNotFoundError  the name or path resolves to no model file
    │   └── ModelLoadError      the engine refused to load the file
    └── GenerationError         one generation failed; the other cases go on
        ├── ContextOverflowError  prompt + max tokens do not fit the context window
        ├── PromptTooLongError    the prompt alone fills the context window: no smaller max_tokens helps
        ├── OutOfMemoryError      the engine or server ran out of memory (CUDA OOM, Ollama 500)
        ├── EngineCrashedError    the engine's process died (a signal, an abort): its model is done
        └── UnsupportedKnobError  the model or server cannot take an axis's value (a reasoning state
                                  on a model that cannot think): the case is skipped, not failed

Vendor exceptions are translated into these once, at the backend boundary, so the plugin and
the reports only ever see this tree.
"""

from __future__ import annotations


class WattbenchError(Exception):
    """Base class of every wattbench error."""


class ConfigError(WattbenchError):
    """A bad option, ini value or task file; the message says what is accepted."""


class CaseFileError(ConfigError):
    """A malformed entry in a JSON test-case file."""

    def __init__(self, path: str, problem: str, entry: int | None = None, field: str | None = None):
        where = path if entry is None else f"{path}: entry {entry}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.entry = entry
        self.field = field


class EnergySourceError(ConfigError):
    """An energy source (NVML, RAPL, Jetson) is missing or unreadable; the message names the fix."""


class ReportInputError(ConfigError):
    """A saved run (run folder, benchmark JSON) or a gate spec that a report cannot read."""


class RunDirError(ConfigError):
    """The run folder cannot be written, or another pytest session is writing it."""


class GpuControlError(ConfigError):
    """GPU settings (--wb-gpu-power-limit, --wb-gpu-clocks) cannot be changed by this process, or
    another run holds the GPU; the message says how to grant the privilege (wattbench.knobs.gpucontrol)."""


class SandboxUnavailableError(ConfigError):
    """Generated code cannot be isolated here and the user did not opt into the weaker guard."""

    def __init__(self, problem: str):
        super().__init__(
            f"wattbench will not run model-written code here ({problem}). Install bubblewrap "
            "(Debian/Ubuntu: apt-get install bubblewrap; version 0.8 or later) so that it runs in "
            "an OS sandbox, or pass --wb-unsafe-code to run it under the weaker in-process guard "
            "(recorded as code_sandbox: guard)."
        )
        self.problem = problem


class ResultsWriteError(WattbenchError):
    """A record could not be appended (disk full, I/O error); the file keeps every record before it."""


class MissingExtraError(WattbenchError):
    """An optional dependency is missing."""

    def __init__(self, module: str, extra: str):
        super().__init__(
            f"wattbench needs the Python module {module!r} for this; "
            f"install it with: pip install 'wattbench[{extra}]'"
        )
        self.module = module
        self.extra = extra


class ModelError(WattbenchError):
    """A model cannot be used."""


class ModelNotFoundError(ModelError):
    """A model name or path that resolves to no model file."""


class ModelLoadError(ModelError):
    """The engine refused to load a model file."""


class GenerationError(WattbenchError):
    """One generation failed."""


class ContextOverflowError(GenerationError):
    """The prompt plus the requested completion does not fit the context window."""


class PromptTooLongError(GenerationError):
    """The prompt alone fills the context window: no smaller max_tokens can help, so the request
    fails at once (a ContextOverflowError is retried with half the max_tokens)."""


class OutOfMemoryError(GenerationError):
    """The engine or server ran out of memory for this request."""


class EngineCrashedError(GenerationError):
    """The process running an in-process engine died (a segfault, an abort, an OOM kill).

    ``how`` names the end: a signal ('SIGSEGV'), or 'exit status N'. Every later call on the
    same loaded model raises this same error at once, so the model's other cases fail fast.
    """

    def __init__(self, message: str, how: str) -> None:
        super().__init__(message)
        self.how = how

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.how))


class UnsupportedKnobError(GenerationError):
    """The model or its server cannot take a value of an axis (a reasoning state asked of a model
    that cannot think): that axis point is unsupported, recorded and skipped."""

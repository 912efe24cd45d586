"""One setting's row (option, ini key, parser, help), the parsers rows use, and the options
dataclasses extensions declare with them.

An extension (a backend, an energy source, a scorer) spells each of its settings once, as a field
of its own frozen options dataclass::

    @dataclass(frozen=True)
    class OllamaOptions:
        keep_alive: str = setting("ollama-keep-alive", str, "how long Ollama keeps ...", "30m")

and its registry entry names that class. wattbench.options registers every row of every class the
registries name (``rows``) as ``--wb-<name>`` and ``wb_<name>``, and the run's settings hold one
object per class, built from the parsed values (``build``). This module imports nothing of
wattbench, so any extension can use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def split_list(value: str) -> tuple[str, ...]:
    """'a, b,c' or 'a b' -> ('a', 'b', 'c'); empty items dropped."""
    return tuple(item for item in value.replace(",", " ").split() if item)


def choice_list(allowed: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    """A parser for a comma list whose items must be among ``allowed`` (or 'all')."""

    lowered = {a.lower(): a for a in allowed}

    def parse(value: str) -> tuple[str, ...]:
        items = split_list(value)
        if not items:
            raise argparse.ArgumentTypeError(f"no {what} given; choose from {', '.join(allowed)}")
        if any(item.lower() == "all" for item in items):
            return tuple(allowed)
        out = []
        for item in items:
            if item.lower() not in lowered:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {item!r}; choose from {', '.join(allowed)} or 'all'"
                )
            out.append(lowered[item.lower()])
        return tuple(dict.fromkeys(out))

    return parse


def int_at_least(low: int) -> Callable[[str], int]:
    """A parser for a whole number >= low."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"{value!r} must be {low} or more")
        return number

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """A parser for a float in [low, high]."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value!r} must be between {low} and {high}")
        return number

    return parse


def on_off(value: str) -> bool:
    """'on'/'off' (also true/false, yes/no, 1/0)."""
    lowered = value.strip().lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not one of on, off")


def resolve_path(value: str, base: Path) -> Path:
    """``value`` as a path: ``~`` expanded, a relative one taken as relative to ``base``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class Option:
    """One setting: its option, ini key, parser and help.

    ``resolve`` turns the parsed value into the field's, given the directory a relative path in
    it is relative to (the current one for the command line, the ini file's for pytest.ini);
    ``env`` names an environment variable read when the command line does not give the option
    (it wins over the ini key: it describes this machine).
    """

    name: str  # the part after --wb- / wb_
    parse: Callable[[str], Any]
    help: str
    default: str | None = None
    many: bool = False  # may be repeated on the command line; values are concatenated
    bare: str | None = None  # the value of the flag given alone (--wb-report means --wb-report on)
    resolve: Callable[[Any, Path], Any] | None = None
    env: str | None = None

    @property
    def key(self) -> str:
        """The ini key, which is also the option's argparse dest: wb_<name with _ for ->."""
        return "wb_" + self.name.replace("-", "_")


_ROW = "wattbench_option"


def setting(
    name: str,
    parse: Callable[[str], Any],
    help: str,
    default: str | None = None,
    *,
    many: bool = False,
    bare: str | None = None,
    path: bool = False,
    resolve: Callable[[Any, Path], Any] | None = None,
    env: str | None = None,
    unset: Any = None,
) -> Any:
    """A field of an extension's options dataclass that is also its option row.

    The field's default is ``parse(default)``, else ``unset`` (a value the help text names, such
    as the CPU estimate's 65 W). ``path``: the value is a path (each item, for ``many``),
    relative to where it was given.
    """
    if path:
        resolve = _paths if many else _path
    row = Option(name, parse, help, default, many, bare, resolve, env)
    value = unset if default is None else parse(default)
    if many and default is None and unset is None:
        value = ()
    if path and default is not None and not many:
        value = Path(value)  # relative: resolved against where it was given when it is given
    return dataclasses.field(default=value, metadata={_ROW: row})


def _path(value: str | None, base: Path) -> Path | None:
    return None if value is None else resolve_path(value, base)


def _paths(values: Iterable[str] | None, base: Path) -> tuple[Path, ...]:
    return tuple(resolve_path(v, base) for v in values or ())


def rows(cls: type) -> tuple[Option, ...]:
    """The option rows an options dataclass declares with ``setting``, in field order."""
    return tuple(f.metadata[_ROW] for f in dataclasses.fields(cls) if _ROW in f.metadata)


def build(cls: type[T], values: Mapping[str, Any], bases: Mapping[str, Path]) -> T:
    """``cls`` from the parsed values (option name -> value, None where not given) and each
    option's path base; a field whose option was not given keeps its default."""
    given: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        row = f.metadata.get(_ROW)
        if row is None or values.get(row.name) is None:
            continue
        value = values[row.name]
        given[f.name] = value if row.resolve is None else row.resolve(value, bases[row.name])
    return cls(**given)


def pick(objects: Iterable[object], cls: type[T]) -> T:
    """The object of class ``cls`` among ``objects`` (an extension's own options), else ``cls()``
    with its defaults."""
    for obj in objects:
        if isinstance(obj, cls):
            return obj
    return cls()


@dataclass(frozen=True)
class Entry:
    """A registry's row: the lazy ``"module:Name"`` path of an implementation (a backend's class,
    an energy source's opener, a scorer's factory), and of its options dataclass (None: it has no
    settings of its own). Lazy, so an implementation's heavy imports happen only when it is used."""

    path: str
    options: str | None = None


def load(path: str) -> Any:
    """The object a ``"module:Name"`` path names (ImportError, AttributeError where it is not)."""
    module_name, _, name = path.partition(":")
    return getattr(importlib.import_module(module_name), name)


def options_classes(*registries: Mapping[str, Entry]) -> tuple[type, ...]:
    """Every options dataclass the registries name, each once, in registry order."""
    return tuple(dict.fromkeys(load(e.options) for r in registries for e in r.values() if e.options))

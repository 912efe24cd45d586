"""The dimensions raters grade on, each on a Likert scale of 1 to 5.

A dimensions file is JSON::

    {"name": "counselling",
     "dimensions": [{"name": "empathy", "question": "Does it respond to the person's feelings?"}, ...]}

Two presets ship in ``wattbench/rating/presets/``: ``general`` (correctness, helpfulness,
clarity, safety; the default) and ``counselling`` (professionalism, empathy, practicality,
safety). ``--dimensions`` takes a preset's name or a file's path. A dimension's name becomes
the report's key ``human_<name>``, so it must be snake_case.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from wattbench.errors import ConfigError

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "general"
LIKERT = (1, 2, 3, 4, 5)
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class Dimension:
    """One graded dimension: its snake_case name and the question the rater answers."""

    name: str
    question: str

    @property
    def key(self) -> str:
        """The report's key for this dimension's mean grade, e.g. human_empathy."""
        return f"human_{self.name}"


def presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_dimensions(spec: str | None) -> tuple[Dimension, ...]:
    """The dimensions of a preset name or a JSON file's path (None: the general preset).

    Raises ConfigError naming the file, the entry and the field when the file is malformed.
    """
    spec = spec or DEFAULT_PRESET
    path = PRESETS_DIR / f"{spec}.json" if spec in presets() else Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"--dimensions {spec}: no such preset or file; give one of {', '.join(presets())} or the "
            "path of a JSON file {\"dimensions\": [{\"name\": ..., \"question\": ...}]}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON file ({exc})") from None
    entries = data.get("dimensions") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: needs a non-empty list 'dimensions' of {{name, question}} objects")
    found: list[Dimension] = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        question = entry.get("question", "") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(
                f"{path}: dimension {index}, field 'name': {name!r} is not a snake_case name "
                "(a-z, 0-9, _; starts with a letter; at most 40 characters)"
            )
        if not isinstance(question, str):
            raise ConfigError(f"{path}: dimension {index}, field 'question': must be a string")
        if any(d.name == name for d in found):
            raise ConfigError(f"{path}: dimension {index}, field 'name': {name!r} appears twice")
        found.append(Dimension(name, question))
    return tuple(found)

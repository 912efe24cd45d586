"""Extraction: the answer's JSON object, field by field against the reference object.

Which object: the last ```json fenced block whose body is a JSON object (models put the answer
there, often after an example), else the first JSON object anywhere in the text; thinking
(``<think>...</think>``) is left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from wattbench.cases import Case
from wattbench.knobs.reasoning import answer_only

_JSON_FENCE = re.compile(r"```[ \t]*json[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def answer_object(text: str) -> dict[str, Any] | None:
    """The answer's JSON object: the last ```json block that holds one, else the first JSON
    object in the text (thinking removed), or None."""
    text = answer_only(text)
    for body in reversed(_JSON_FENCE.findall(text)):
        found = first_json_object(body)
        if found is not None:
            return found
    return first_json_object(text)


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (inside a code fence or not), or None."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _same(got: Any, want: Any) -> bool:
    return str(got).strip().casefold() == str(want).strip().casefold()


class ExtractionScorer:
    """extraction_valid_json (1 or 0) and extraction_field_accuracy (share of fields right)."""

    name = "extraction"
    kinds = frozenset({"extraction"})

    def applies(self, case: Case) -> bool:
        """Extraction cases whose reference is a JSON object."""
        return case.kind in self.kinds and answer_object(case.reference or "") is not None

    def score(self, case: Case, text: str) -> Mapping[str, Any]:
        """Fields whose value matches the reference's, ignoring case and surrounding space."""
        want = answer_object(case.reference or "") or {}
        got = answer_object(text)
        if got is None:
            return {"extraction_valid_json": 0.0, "extraction_field_accuracy": 0.0}
        right = sum(key in got and _same(got[key], value) for key, value in want.items())
        return {"extraction_valid_json": 1.0, "extraction_field_accuracy": right / len(want) if want else 0.0}

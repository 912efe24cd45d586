"""The JSON test-case file parser: valid files load whole, bad ones name entry and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbench.cases.casefile import parse_case_file
from wattbench.errors import CaseFileError

names = st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True)
entries = st.fixed_dictionaries(
    {
        "model": st.one_of(st.just("all"), names, st.lists(names, min_size=1, max_size=3)),
        "prompt": st.text(min_size=1).filter(lambda s: s.strip() != ""),
        "task_type": st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
    },
    optional={
        "reference_text": st.text(),
        "max_tokens": st.integers(1, 4096),
        "temperature": st.floats(0.0, 2.0),
    },
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(entries, min_size=1, max_size=5))
def test_valid_files_load_every_entry(tmp_path: Path, data: list[dict[str, Any]]) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(data))
    parsed = parse_case_file(path)
    assert [p.index for p in parsed] == list(range(len(data)))
    for raw, entry in zip(data, parsed):
        assert entry.prompt == raw["prompt"]
        assert entry.max_tokens == raw.get("max_tokens", 200)
        assert entry.temperature == raw.get("temperature", 0.7)
        models = raw["model"] if isinstance(raw["model"], list) else [raw["model"]]
        assert list(entry.models) == models


bad_values = {
    "model": st.one_of(st.integers(), st.just(""), st.just([]), st.just([1])),
    "prompt": st.one_of(st.just(""), st.just("   "), st.integers(), st.none()),
    "task_type": st.one_of(st.just("two words"), st.just(""), st.integers()),
    "max_tokens": st.one_of(st.integers(max_value=0), st.just("10"), st.booleans()),
    "temperature": st.one_of(st.floats(min_value=2.01, allow_infinity=False), st.just("hot")),
}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    good=st.lists(entries, min_size=1, max_size=3),
    field=st.sampled_from(sorted(bad_values)),
    data=st.data(),
)
def test_a_bad_field_is_named_with_its_entry(
    tmp_path: Path, good: list[dict[str, Any]], field: str, data: st.DataObject
) -> None:
    bad = dict(good[-1])
    bad[field] = data.draw(bad_values[field])
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([*good, bad]))
    with pytest.raises(CaseFileError) as error:
        parse_case_file(path)
    assert (error.value.entry, error.value.field) == (len(good), field)
    assert str(error.value).startswith(f"{path}: entry {len(good)}, field '{field}'")

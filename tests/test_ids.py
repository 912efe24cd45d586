"""One id grammar: parts never hold '-', except the model's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wattbench.ids import id_part, path_part


@given(st.text())
def test_a_part_never_holds_the_separator_and_is_never_empty(value: str) -> None:
    part = id_part(value)
    assert part and "-" not in part and part.isascii()


@given(st.text())
def test_a_model_part_is_lower_case_ascii(value: str) -> None:
    part = id_part(value, "model", model=True)
    assert part and part == part.lower() and part.isascii() and " " not in part


def test_examples() -> None:
    assert id_part("SmolLM2-135M-Instruct.Q4_1", model=True) == "smollm2-135m-instruct.q4_1"
    assert id_part("qwen3:4b", model=True) == "qwen3_4b"
    assert id_part("qa+engineered", task=True) == "qa+engineered"
    assert id_part("my cases-v2") == "my_cases_v2"
    assert path_part("..") == "_" and path_part("a/b") == "a_b"

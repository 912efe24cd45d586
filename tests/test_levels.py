"""The level generator: deterministic, and every level strictly extends the one before."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from wattbench.cases.levels import LEVELS, build_levels, padding_for
from wattbench.cases.tasks import Example, Item

text = st.text(min_size=1, max_size=200).filter(lambda s: s.strip() != "")
# A padding paragraph never holds a blank line: the padding file is split on them.
paragraphs = st.lists(text.filter(lambda t: "\n\n" not in t), min_size=1, max_size=8)


@given(
    instruction=text, body=st.text(max_size=300), clarification=text, guidance=text,
    examples=st.lists(st.builds(Example, text, text), min_size=1, max_size=3),
    padding=paragraphs, key=st.text(max_size=20),
)
def test_each_level_contains_the_previous_and_is_longer(
    instruction: str, body: str, clarification: str, guidance: str,
    examples: list[Example], padding: list[str], key: str,
) -> None:
    item = Item(instruction=instruction, input=body)
    prompts = build_levels(item, clarification, guidance, examples, padding, key)
    assert list(prompts) == list(LEVELS)
    for before, after in itertools.pairwise(LEVELS):
        assert prompts[before].strip() in prompts[after]
        assert len(prompts[after]) > len(prompts[before])
    assert build_levels(item, clarification, guidance, examples, padding, key) == prompts


@given(key=st.text(max_size=20), padding=paragraphs, min_chars=st.integers(0, 3000))
def test_padding_is_whole_paragraphs_and_long_enough(
    key: str, padding: list[str], min_chars: int
) -> None:
    chosen = padding_for(key, padding, min_chars)
    assert len(chosen) >= min_chars
    stripped = {p.strip() for p in padding}
    assert all(part in stripped for part in chosen.split("\n\n") if part)

"""The five prompt levels, built deterministically from a task item.

    L0  bare request:       instruction + input
    L1  clarified:          L0 + what exactly is wanted (format, length, audience)
    L2  guided:             L1 + steps or criteria to follow
    L3  with examples:      worked examples, then L2
    P   padded:             irrelevant paragraphs, then L3

Each level contains the previous one whole and adds non-empty text, so the prompt only grows;
the suite also checks that growth in each model's own tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from wattbench.cases.tasks import Example, Item

LEVELS: tuple[str, ...] = ("L0", "L1", "L2", "L3", "P")

# Level P adds at least this share of L3's length in padding, and at least PADDING_MIN_CHARS.
PADDING_RATIO = 0.5
PADDING_MIN_CHARS = 600


def _join(*parts: str) -> str:
    return "\n\n".join(part.strip() for part in parts if part.strip())


def _examples(examples: Sequence[Example]) -> str:
    shown = [
        f"Example {number}\nRequest: {ex.input.strip()}\nAnswer: {ex.output.strip()}"
        for number, ex in enumerate(examples, start=1)
    ]
    return _join("Here are examples of good answers.", *shown, "Now the real request.")


def padding_for(key: str, paragraphs: Sequence[str], min_chars: int) -> str:
    """Whole paragraphs, from a start chosen by a stable hash of ``key``, >= min_chars long."""
    usable = [p.strip() for p in paragraphs if p.strip()]
    if not usable:
        raise ValueError("no padding paragraphs")
    index = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    chosen: list[str] = []
    while not chosen or len(_join(*chosen)) < min_chars:
        chosen.append(usable[index % len(usable)])
        index += 1
    return _join(*chosen)


def build_levels(
    item: Item,
    clarification: str,
    guidance: str,
    examples: Sequence[Example],
    padding: Sequence[str],
    key: str,
) -> dict[str, str]:
    """The user prompt at every level for one task item; ``key`` seeds the padding choice."""
    for name, text in (("instruction", item.instruction), ("clarification", clarification),
                       ("guidance", guidance)):
        if not text.strip():
            raise ValueError(f"level material {name!r} is empty")
    if not examples:
        raise ValueError("level L3 needs at least one example")
    l0 = _join(item.instruction, item.input)
    l1 = _join(l0, clarification)
    l2 = _join(l1, guidance)
    l3 = _join(_examples(examples), l2)
    min_chars = max(PADDING_MIN_CHARS, int(len(l3) * PADDING_RATIO))
    p = _join(padding_for(key, padding, min_chars), l3)
    return {"L0": l0, "L1": l1, "L2": l2, "L3": l3, "P": p}

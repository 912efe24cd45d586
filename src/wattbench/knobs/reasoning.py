"""Reasoning models: split the thinking from the answer, so scorers and the judge see only the
answer.

Reasoning models (DeepSeek-R1 and its distillations, Qwen3, QwQ, ...) write their chain of
thought between ``<think>`` and ``</think>`` before the answer. Three forms occur in practice:

- ``<think>...</think>answer``: the whole block in the text;
- ``...</think>answer`` with no opening tag: the chat template already put ``<think>`` into the
  prompt (DeepSeek-R1's template since its 2025-01 update, Qwen3's thinking mode), so the reply
  starts inside the thinking;
- ``<think>...`` never closed: the reply was cut off (max_tokens) while still thinking; it has
  no answer.

Servers that split the thinking themselves send it apart (OpenAI-compatible ``reasoning_content``
or ``reasoning``, Ollama's ``thinking``); their text is then the answer alone and this split
leaves it as it is.
"""

from __future__ import annotations

import re

_OPEN = "<think>"
_CLOSE = "</think>"
_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)


def split_thinking(text: str) -> tuple[str, str]:
    """``(thinking, answer)`` of a model's text, each stripped of surrounding white space.

    Every closed ``<think>...</think>`` block is thinking (joined by blank lines); text before a
    ``</think>`` that has no opening tag is thinking; an unclosed ``<think>`` makes the rest of
    the text thinking (the answer is then ""). Text without the tags is all answer.
    """
    thinking: list[str] = []
    lower = text.lower()
    first_close = lower.find(_CLOSE)
    first_open = lower.find(_OPEN)
    if first_close != -1 and (first_open == -1 or first_close < first_open):
        thinking.append(text[:first_close])
        text = text[first_close + len(_CLOSE) :]
    thinking += _BLOCK.findall(text)
    answer = _BLOCK.sub("", text)
    unclosed = answer.lower().find(_OPEN)
    if unclosed != -1:
        thinking.append(answer[unclosed + len(_OPEN) :])
        answer = answer[:unclosed]
    return "\n\n".join(part.strip() for part in thinking if part.strip()), answer.strip()


def answer_only(text: str) -> str:
    """The answer part of ``text`` (:func:`split_thinking`'s second half)."""
    if _OPEN not in text.lower() and _CLOSE not in text.lower():
        return text  # the common case, untouched (not even stripped)
    return split_thinking(text)[1]


def answer_start(text: str) -> int:
    """Where the answer begins in ``text``, in characters: after the last ``</think>``; 0 when
    the text has no thinking; ``len(text)`` when an unclosed ``<think>`` leaves no answer."""
    lower = text.lower()
    close = lower.rfind(_CLOSE)
    start = close + len(_CLOSE) if close != -1 else 0
    return len(text) if _OPEN in lower[start:] else start


def first_answer_chunk(chunks: list[tuple[float, str, bool]]) -> tuple[int, float | None]:
    """(thinking chunks, time of the first answer chunk) of a streamed reply.

    ``chunks``: (time, text, is_thinking) per streamed chunk, where is_thinking marks text a
    server sent apart (reasoning_content, reasoning, thinking). In-text ``<think>`` blocks of the
    answer stream count as thinking up to the end of their ``</think>``.
    """
    content = "".join(text for _t, text, apart in chunks if not apart)
    start = answer_start(content)
    seen = thinking = 0
    for at, text, apart in chunks:
        if apart:
            thinking += 1
            continue
        if seen + len(text) > start and text[max(0, start - seen):].strip():
            return thinking, at
        seen += len(text)
        thinking += 1
    return thinking, None


def template_kwargs(state: str) -> dict[str, object]:
    """What a chat template is given for a reasoning state (wattbench.axes.REASONING, not
    'default'): ``enable_thinking`` (Qwen3's and DeepSeek-R1's templates read it), and for a
    level ``reasoning_effort`` too (gpt-oss's template reads it)."""
    if state == "off":
        return {"enable_thinking": False}
    if state == "on":
        return {"enable_thinking": True}
    return {"enable_thinking": True, "reasoning_effort": state}


def template_reads(template: str, state: str) -> bool:
    """Whether a chat template's source reads what a reasoning state sets: a template that does
    not cannot be switched, and the state is unsupported rather than silently ignored."""
    return all(name in template for name in template_kwargs(state))

"""Fine-tuning data: the built-in instruction set and users' ShareGPT or Alpaca JSONL files.

Every file is read through the project's one reader (``wattbench.cases.jsonlines``: UTF-8, a
byte-order mark dropped, never the locale's encoding). Each line is one example, in any of:

- ShareGPT: ``{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}, ...]}``
  (``from`` may also be user, assistant, system; an optional top-level ``"system"``);
- chat messages: ``{"messages": [{"role": "user", "content": ...}, ...]}``;
- Alpaca: ``{"instruction": ..., "input": ..., "output": ...}`` (``input`` and ``system``
  optional).

The loss is taken on the assistant turns only. A bad line raises CaseFileError naming the file,
the line, the field and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench import data
from wattbench.backends.protocol import Message
from wattbench.cases.jsonlines import read_objects
from wattbench.errors import CaseFileError

ROLES: Mapping[str, str] = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
    "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "system": "system",
}
"""ShareGPT's speaker names (``from``) and chat roles, as chat roles."""

FORMS = (
    'ShareGPT {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]}, '
    'chat {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]} '
    'or Alpaca {"instruction": ..., "input": ..., "output": ...}'
)


@dataclass(frozen=True)
class Example:
    """One training conversation: chat messages ending in an assistant reply."""

    messages: tuple[Message, ...]
    where: str
    """file:line, for messages about it."""

    @property
    def prompt(self) -> tuple[Message, ...]:
        """The conversation before its last reply: what a model is asked at evaluation."""
        return self.messages[:-1]

    @property
    def reply(self) -> str:
        """The last assistant reply: the reference at evaluation."""
        return self.messages[-1]["content"]


def builtin_file() -> Path:
    """The built-in set: 26 short conversations, English instructions and Chinese supportive
    dialogue (two of them multi-turn), in ShareGPT form."""
    return data.finetune_file()


def read_examples(path: Path) -> tuple[Example, ...]:
    """Every example of a ShareGPT, chat or Alpaca JSONL file (formats may mix by line).

    Raises CaseFileError naming the file, line and field, and the accepted forms, for a line that
    is none of them, and for a file with no example.
    """
    lines = read_objects(path, "fine-tuning data")
    examples = tuple(_example(obj, str(path), number) for number, obj in lines)
    if not examples:
        raise CaseFileError(str(path), f"no example in it; each line is one of {FORMS}")
    return examples


def _example(obj: Mapping[str, Any], path: str, line: int) -> Example:
    where = f"{path}:{line}"
    if "conversations" in obj:
        turns = obj["conversations"]
        messages = _turns(turns, path, line, "conversations", "from", "value")
    elif "messages" in obj:
        messages = _turns(obj["messages"], path, line, "messages", "role", "content")
    elif "instruction" in obj or "output" in obj:
        instruction = _text(obj, "instruction", path, line)
        output = _text(obj, "output", path, line)
        extra = obj.get("input") or ""
        if not isinstance(extra, str):
            raise CaseFileError(path, "must be text (or left out)", line, "input")
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        messages = ({"role": "user", "content": user}, {"role": "assistant", "content": output})
    else:
        keys = ", ".join(sorted(obj)) or "none"
        raise CaseFileError(path, f"has none of conversations, messages or instruction (its keys: {keys}); "
                            f"write each line as {FORMS}", line)
    system = obj.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise CaseFileError(path, "must be text", line, "system")
        if system.strip() and not any(m["role"] == "system" for m in messages):
            messages = ({"role": "system", "content": system}, *messages)
    if messages[-1]["role"] != "assistant":
        raise CaseFileError(path, "the conversation must end with the assistant's reply (gpt / assistant); "
                            "add the reply to learn, or drop the unanswered last turn", line)
    return Example(messages, where)


def _turns(turns: object, path: str, line: int, name: str, speaker: str, text: str) -> tuple[Message, ...]:
    if not isinstance(turns, list) or not turns:
        shape = f"{{{speaker!r}: ..., {text!r}: ...}}"
        raise CaseFileError(path, f"must be a non-empty list of {shape}", line, name)
    messages: list[Message] = []
    for index, turn in enumerate(turns):
        field = f"{name}[{index}]"
        if not isinstance(turn, dict):
            raise CaseFileError(path, f"must be an object with {speaker!r} and {text!r}", line, field)
        who, said = turn.get(speaker), turn.get(text)
        role = ROLES.get(str(who).strip().lower()) if isinstance(who, str) else None
        if role is None:
            raise CaseFileError(path, f"{speaker} {who!r} is not a speaker; use one of "
                                f"{', '.join(sorted(ROLES))}", line, f"{field}.{speaker}")
        if not isinstance(said, str) or not said.strip():
            raise CaseFileError(path, "must be non-empty text", line, f"{field}.{text}")
        messages.append({"role": role, "content": said})
    return tuple(messages)


def _text(obj: Mapping[str, Any], key: str, path: str, line: int) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        why = "must be non-empty text (Alpaca lines need instruction and output)"
        raise CaseFileError(path, why, line, key)
    return value


def split(examples: tuple[Example, ...], holdout: int) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """(training, held out): the last ``holdout`` examples are held out for evaluation, as long
    as at least one is left to train on."""
    keep = max(len(examples) - holdout, 1)
    return examples[:keep], examples[keep:]

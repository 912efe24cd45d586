"""Case ids and file names: one written grammar, two functions.

The grammar of a case id::

    case_id  = model "-" task "-" load "-" level
    group_id = model "-" task "-" load
    model    = 1*( a-z / 0-9 / "." / "_" / "-" )      lower case; may hold "-"
    task     = part [ "+" part ]                      "+system-prompt name" when one is set
    load     = part                                   e.g. short, q81t2, humaneval12, my_cases
    level    = part                                   L0 L1 L2 L3 P
    part     = 1*( A-Z / a-z / 0-9 / "." / "_" )      never "-"

Why "-": pytest joins a test's parameter ids into its node id and ``-k`` matches words of it,
so every part is selectable on its own (``-k "qa and short and L0"``). Only the model may hold
"-" (file stems such as ``smollm2-135m-instruct``); the last three parts never do, so an id
still splits from the right into its four parts, and ``-k smollm2`` or ``-k 135m`` select a model
because ``-k`` matches substrings of the id.

Characters outside ASCII: pytest escapes them in node ids, so ``-k`` would need the escaped
spelling. Accents are dropped (``café`` -> ``cafe``); letters that have no ASCII form (``知识问答``)
become a stable hash, ``u`` and 8 hex digits of their SHA-1, appended to what ASCII remains
(``QA知识`` -> ``QA_u1a2b3c4d``), so two different names never share an id. The record keeps
the name as written (``task``).

File names (per-answer texts, time series) use :func:`path_part`, which also keeps "-" and
"+" but nothing a file system treats specially.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_PART = re.compile(r"[^A-Za-z0-9_.]+")
_TASK = re.compile(r"[^A-Za-z0-9_.+]+")
_MODEL = re.compile(r"[^a-z0-9._-]+")
_PATH = re.compile(r"[^A-Za-z0-9_.+-]+")
_LABEL = re.compile(r"[^\w.]+")


def id_part(value: str, fallback: str = "x", *, model: bool = False, task: bool = False) -> str:
    """``value`` as one part of a case id (see the grammar above).

    ``model=True`` lower-cases and keeps "-"; ``task=True`` keeps "+"; any other part keeps only
    letters, digits, "." and "_". Runs of other characters become "_"; an empty result is
    ``fallback``.
    """
    value = _ascii(value.strip())
    if model:
        return _MODEL.sub("_", value.lower()).strip("_-") or fallback
    pattern = _TASK if task else _PART
    return pattern.sub("_", value).strip("_") or fallback


def _ascii(value: str) -> str:
    """``value`` in ASCII: accents dropped; letters with no ASCII form as a stable hash."""
    if value.isascii():
        return value
    decomposed = unicodedata.normalize("NFKD", value)
    plain = decomposed.encode("ascii", "ignore").decode("ascii")
    letters = sum(ch.isalnum() for ch in decomposed if not unicodedata.combining(ch))
    if sum(ch.isalnum() for ch in plain) == letters:  # only accents were lost
        return plain
    digest = hashlib.sha1(value.encode("utf-8")).hexdigest()[:8]
    return f"{plain}_u{digest}"


def model_part(name: str) -> str:
    """A model's name as case ids show it (a server's id such as ``Qwen/Qwen3-8B:q4`` or an
    Ollama tag): lower case, no '/' or ':'."""
    return id_part(name, "model", model=True)


def label(value: str, fallback: str = "x") -> str:
    """A name as records show it (a task, a category): runs of anything but letters and digits
    of any script and ``_`` become ``_`` (``my-prompts`` -> ``my_prompts``, ``知识 问答`` ->
    ``知识_问答``); case ids then spell it with :func:`id_part`."""
    return _LABEL.sub("_", value.strip()).strip("_") or fallback


def path_part(value: object) -> str:
    """A label as one file or folder name: letters, digits and ``_.+-``; never "", "." or ".."."""
    name = _PATH.sub("_", str(value))
    return "_" if name in ("", ".", "..") else name

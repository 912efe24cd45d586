"""An LLM as judge: MT-Bench single-answer grading, a four-part rubric, and pairwise comparison.

The instructions are MT-Bench's published ones (FastChat's judge_prompts.jsonl, Apache-2.0:
single-v1, single-math-v1 with a reference, pair-v2), so a grade means what it means there; only
the reply's format differs. The judge asks for a JSON object and, where the backend can, the
engine constrains decoding to its schema (explanation first, then the grade), so a small local
model always replies with a grade: llama.cpp by a grammar, OpenAI-compatible servers by
``response_format``, Ollama by ``format``. Where a server refuses the schema, the judge asks
for MT-Bench's own free format (``[[rating]]``, ``[[A]]``) and parses it strictly: only the asked
format counts; anything else is a counted parse failure, never a guessed grade.

Where the backend returns top log-probabilities, the single grade and each rubric part also get
a probability-weighted value (G-Eval, Liu et al. 2023): the expected grade over the grade tokens
at the grade's position, with the probability mass those tokens covered. Only the sampled path
is known beyond that position, so a grade token that could continue (``1`` of ``10``, ``2`` of
``2.5``) counts as its sampled value when it is the sampled token, else as its shortest reading.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wattbench.backends.protocol import (
    Generation,
    LoadedModel,
    Message,
    OutputFormat,
    OutputFormatRefused,
    Sampling,
    TokenLogprob,
)

RUBRIC_PARTS = ("factuality", "helpfulness", "structure", "conciseness")
RUBRIC_MAX = 2.5
RUBRIC_STEPS = (0, 0.5, 1, 1.5, 2, 2.5)
RATINGS = tuple(range(1, 11))
EXPLANATION_CHARS = 400  # room for the explanation a constrained reply may hold
TOP_LOGPROBS = 20  # OpenAI's maximum

SINGLE_SYSTEM = "You are a helpful assistant."
_SINGLE_FREE = ('you must rate the response on a scale of 1 to 10 by strictly following this format: '
                '"[[rating]]", for example: "Rating: [[5]]".')
_SINGLE_JSON = ('you must rate the response on a scale of 1 to 10. Reply with a JSON object only: '
                '{"explanation": "<your short explanation>", "rating": <an integer from 1 to 10>}.')
SINGLE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by "
    "an AI assistant to the user question displayed below. Your evaluation should consider factors such as "
    "the helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin "
    "your evaluation by providing a short explanation. Be as objective as possible. After providing your "
    "explanation, {format}\n\n[Question]\n{question}\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
SINGLE_REFERENCE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by "
    "an AI assistant to the user question displayed below. Your evaluation should consider correctness and "
    "helpfulness. You will be given a reference answer and the assistant's answer. Begin your evaluation by "
    "comparing the assistant's answer with the reference answer. Identify and correct any mistakes. Be as "
    "objective as possible. After providing your explanation, {format}\n\n"
    "[Question]\n{question}\n\n[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]"
    "\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
_PAIR_FREE = ('output your final verdict by strictly following this format: "[[A]]" if assistant A is '
              'better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.')
_PAIR_JSON = ('output your final verdict as a JSON object only: {"explanation": "<your short '
              'explanation>", "verdict": "A"} if assistant A is better, "B" if assistant B is better, '
              'and "tie" for a tie.')
PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. You should choose the assistant that follows the "
    "user's instructions and answers the user's question better. Your evaluation should consider factors "
    "such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their "
    "responses. Begin your evaluation by comparing the two responses and provide a short explanation. Avoid "
    "any position biases and ensure that the order in which the responses were presented does not influence "
    "your decision. Do not allow the length of the responses to influence your evaluation. Do not favor "
    "certain names of the assistants. Be as objective as possible. After providing your explanation, {format}"
)
PAIR = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n"
    "[The End of Assistant B's Answer]"
)
_RUBRIC_FREE = ("Reply in exactly this format, one line each:\nFactuality: <score>\nHelpfulness: <score>\n"
                "Structure: <score>\nConciseness: <score>\nReason: <one sentence>")
_RUBRIC_JSON = ('Reply with a JSON object only: {"assessment": "<one sentence>", "factuality": <score>, '
                '"helpfulness": <score>, "structure": <score>, "conciseness": <score>}')
RUBRIC = (
    "[Instruction]\nPlease act as an impartial judge and grade the response of an AI assistant to the user "
    "question below on four criteria, each from 0 to 2.5 (halves allowed): factuality (is every claim "
    "correct?), helpfulness (does it answer what was asked?), structure (is it clear and well organised?), "
    "conciseness (no padding or repetition?). {format}\n\n[Question]\n{question}\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)

_EXPLANATION = {"type": "string", "maxLength": EXPLANATION_CHARS}
SINGLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"explanation": _EXPLANATION, "rating": {"type": "integer", "enum": list(RATINGS)}},
    "required": ["explanation", "rating"],
    "additionalProperties": False,
}
RUBRIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    # "assessment" sorts first: llama-cpp-python's grammar orders properties by name.
    "properties": {"assessment": _EXPLANATION,
                   **{part: {"type": "number", "enum": list(RUBRIC_STEPS)} for part in RUBRIC_PARTS}},
    "required": ["assessment", *RUBRIC_PARTS],
    "additionalProperties": False,
}
PAIR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"explanation": _EXPLANATION, "verdict": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["explanation", "verdict"],
    "additionalProperties": False,
}

def fitted(schema: Mapping[str, Any], max_tokens: int) -> dict[str, Any]:
    """``schema`` with its explanation short enough that the grade still fits in ``max_tokens``.

    The reply's JSON without the explanation is counted at one token per character (a byte-level
    vocabulary's worst case), plus white space; what is left goes to the explanation at three
    tokens per character (a CJK character in byte tokens), at most EXPLANATION_CHARS. A reply cut
    off inside its explanation would otherwise be a parse failure, not a grade.
    """
    properties: Mapping[str, Any] = schema["properties"]
    widest = {
        name: "" if spec.get("type") == "string" and "maxLength" in spec
        else max((json.dumps(v) for v in spec.get("enum", ["0"])), key=len)
        for name, spec in properties.items()
    }
    skeleton = len(json.dumps(widest)) + 2 * len(widest)  # and a space or newline per field
    room = max(8, min(EXPLANATION_CHARS, (max_tokens - skeleton) // 3))
    return {**schema, "properties": {
        name: {**spec, "maxLength": room} if widest[name] == "" else spec for name, spec in properties.items()
    }}


_RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")
_VERDICT = re.compile(r"\[\[([ABC])\]\]")
_PART = re.compile(r"^\s*\**({names})\**\s*[:=]\s*(\d+(?:\.\d+)?)".format(names="|".join(RUBRIC_PARTS)),
                   re.IGNORECASE | re.MULTILINE)
_REASON = re.compile(r"^\s*\**reason\**\s*[:=]\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_rating(text: str) -> float | None:
    """The 1-10 rating in MT-Bench's asked format, ``[[n]]`` (the last one); None if absent.

    Strict: FastChat's backup pattern (any ``[n]``) is not used, so a citation ``[1]`` or
    ``nums[2]`` is never read as a grade.
    """
    match = _RATING.findall(text)
    if not match:
        return None
    rating = float(match[-1])
    return rating if 1.0 <= rating <= 10.0 else None


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie' from a pairwise judgement in MT-Bench's format; None if absent."""
    match = _VERDICT.findall(text)
    if not match:
        return None
    return {"A": "A", "B": "B", "C": "tie"}[match[-1]]


@dataclass(frozen=True)
class Rubric:
    """Four parts, each in [0, 2.5], and the judge's reason."""

    parts: dict[str, float]
    reason: str

    @property
    def total(self) -> float:
        """The sum, in [0, 10]."""
        return sum(self.parts.values())


def parse_rubric(text: str) -> Rubric | None:
    """All four parts in range, in the free format's lines, or None (a parse failure)."""
    parts = {name.lower(): float(value) for name, value in _PART.findall(text)}
    if set(parts) != set(RUBRIC_PARTS) or not all(0.0 <= v <= RUBRIC_MAX for v in parts.values()):
        return None
    reason = _REASON.findall(text)
    return Rubric(parts, reason[-1].strip() if reason else "")


def parse_json_reply(text: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reply as the JSON object ``schema`` asks for (its required keys, values in its enums),
    or None. The whole reply must be that object (a ```json fence around it is allowed)."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body, strict=False)  # control characters in a string are no format error
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    properties: Mapping[str, Any] = schema["properties"]
    for key in schema["required"]:
        if key not in data:
            return None
        rule = properties[key]
        value = data[key]
        if "enum" in rule:
            if isinstance(value, bool) or value not in rule["enum"]:
                return None
        elif rule.get("type") == "string" and not isinstance(value, str):
            return None
    return data


def combine_verdicts(first: str | None, swapped: str | None) -> str | None:
    """Pairwise in both orders (swapped: B was shown first): agreeing verdicts stand, else a tie."""
    if first is None or swapped is None:
        return None
    unswapped = {"A": "B", "B": "A", "tie": "tie"}[swapped]
    return first if first == unswapped else "tie"


def weighted_value(
    tokens: Sequence[TokenLogprob], key: str, values: Sequence[float], sampled: float
) -> tuple[float, float] | None:
    """(expected value, probability mass) of the number after ``"key":`` in a JSON reply.

    ``tokens``: the reply's tokens with their top log-probs; ``values``: the allowed values;
    ``sampled``: the value the reply holds. The alternatives at the position where the number
    starts that read as an allowed value are weighted by their probabilities (normalised over
    those tokens); the mass is their total probability, in [0, 1]. None where the position is not
    found or no alternative reads as a value.
    """
    joined = "".join(t.token for t in tokens)
    found = list(re.finditer(rf'"{re.escape(key)}"\s*:\s*', joined))
    if not found:
        return None
    start = found[-1].end()
    offset = 0
    for token in tokens:
        end = offset + len(token.token)
        if offset <= start < end:
            break
        offset = end
    else:
        return None
    prefix = joined[offset:start]
    allowed = {float(v) for v in values}
    weights: dict[float, float] = {}
    top = dict(token.top)
    if token.token not in top and token.logprob is not None:
        top[token.token] = token.logprob
    for text, logprob in top.items():
        if text.startswith(prefix):
            rest = text[len(prefix):]
        elif not prefix.strip():
            rest = text.lstrip()
        else:
            continue
        number = re.match(r"\d+(?:\.\d+)?", rest)
        if number is None:
            continue
        value = sampled if text == token.token else float(number.group())
        if value not in allowed:
            continue
        weights[value] = weights.get(value, 0.0) + math.exp(logprob)
    mass = sum(weights.values())
    if mass <= 0.0:
        return None
    return sum(v * p for v, p in weights.items()) / mass, min(mass, 1.0)


@dataclass
class Judgement:
    """One judgement: whether it parsed, its figures (``judge_*`` keys), the judge's text, and
    how it was asked ('json schema' or 'free') and whether the system text was folded."""

    parse_ok: bool
    figures: dict[str, Any]
    text: str | list[str]
    output_format: str
    system_prompt_folded: bool
    extra: dict[str, Any] = field(default_factory=dict)


class Judge:
    """A loaded model used as judge: greedy, JSON-constrained where the backend can, with room
    for its explanation, asking for top log-probs for the weighted grade."""

    def __init__(self, model: LoadedModel, max_tokens: int = 512, top_logprobs: int = TOP_LOGPROBS) -> None:
        self.model = model
        self.sampling = Sampling(max_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=0)
        self.top_logprobs = top_logprobs
        self.free = False  # set once the backend refused a JSON schema: MT-Bench's free format
        self.schemas = {name: fitted(schema, max_tokens) for name, schema in
                        (("single", SINGLE_SCHEMA), ("rubric", RUBRIC_SCHEMA), ("pair", PAIR_SCHEMA))}

    def ask(self, system: str, prompt: str, schema: Mapping[str, Any] | None) -> Generation:
        """One judgement's generation; ``schema`` None asks for free text."""
        chat: Sequence[Message] = ({"role": "system", "content": system}, {"role": "user", "content": prompt})
        return self.model.generate(chat, self.sampling, OutputFormat(schema, "judgement", self.top_logprobs))

    def _asked(
        self, system: str, prompt: str, free_format: str, json_format: str, schema: Mapping[str, Any],
        **values: str,
    ) -> Generation:
        """The JSON-constrained generation, or the free one once the backend has refused schemas.
        ``system`` and ``prompt`` are templates with a {format} slot and ``values``' slots."""
        if not self.free:
            try:
                return self.ask(system.format(format=json_format),
                                prompt.format(format=json_format, **values), schema)
            except OutputFormatRefused:
                self.free = True
        return self.ask(system.format(format=free_format), prompt.format(format=free_format, **values), None)

    def single(self, question: str, answer: str, reference: str | None) -> Judgement:
        """A 1-10 rating (``judge_score``), weighted where log-probs came back."""
        template = SINGLE_REFERENCE if reference else SINGLE
        g = self._asked(SINGLE_SYSTEM, template, _SINGLE_FREE, _SINGLE_JSON, self.schemas["single"],
                        question=question, answer=answer, reference=reference or "")
        figures: dict[str, Any] = {"judge_score": None}
        if g.output_format == "json schema":
            data = parse_json_reply(g.text, SINGLE_SCHEMA)
            if data is not None:
                figures["judge_score"] = float(data["rating"])
                figures["judge_explanation"] = data["explanation"]
                if g.logprobs:
                    weighted = weighted_value(g.logprobs, "rating", RATINGS, float(data["rating"]))
                    if weighted is not None:
                        figures["judge_score_weighted"], figures["judge_score_mass"] = weighted
        else:
            figures["judge_score"] = parse_rating(g.text)
        return Judgement(figures["judge_score"] is not None, figures, g.text, g.output_format,
                         g.system_prompt_folded)

    def rubric(self, question: str, answer: str) -> Judgement:
        """The four parts and their total (``judge_rubric_total``), weighted where log-probs came back."""
        g = self._asked(SINGLE_SYSTEM, RUBRIC, _RUBRIC_FREE, _RUBRIC_JSON, self.schemas["rubric"],
                        question=question, answer=answer)
        rubric: Rubric | None
        figures: dict[str, Any] = {}
        if g.output_format == "json schema":
            data = parse_json_reply(g.text, RUBRIC_SCHEMA)
            rubric = None if data is None else Rubric(
                {p: float(data[p]) for p in RUBRIC_PARTS}, str(data["assessment"]))
            if rubric is not None and g.logprobs:
                parts = [weighted_value(g.logprobs, p, RUBRIC_STEPS, rubric.parts[p]) for p in RUBRIC_PARTS]
                if all(w is not None for w in parts):
                    figures["judge_rubric_total_weighted"] = sum(w[0] for w in parts if w)
                    figures["judge_rubric_mass"] = min(w[1] for w in parts if w)
        else:
            rubric = parse_rubric(g.text)
        if rubric is not None:
            figures["judge_rubric_total"] = rubric.total
            figures.update({f"judge_{p}": rubric.parts[p] for p in RUBRIC_PARTS})
            figures["judge_reason"] = rubric.reason
        return Judgement(rubric is not None, figures, g.text, g.output_format, g.system_prompt_folded)

    def _verdict(self, question: str, answer_a: str, answer_b: str) -> tuple[str | None, Generation]:
        g = self._asked(PAIR_SYSTEM, PAIR, _PAIR_FREE, _PAIR_JSON, self.schemas["pair"],
                        question=question, answer_a=answer_a, answer_b=answer_b)
        if g.output_format == "json schema":
            data = parse_json_reply(g.text, PAIR_SCHEMA)
            return (None if data is None else str(data["verdict"])), g
        return parse_verdict(g.text), g

    def pairwise(self, question: str, answer_a: str, answer_b: str) -> Judgement:
        """'A', 'B', 'tie' (``judge_verdict``), asked in both orders; disagreeing orders are a tie."""
        first, g1 = self._verdict(question, answer_a, answer_b)
        swapped, g2 = self._verdict(question, answer_b, answer_a)
        verdict = combine_verdicts(first, swapped)
        return Judgement(verdict is not None, {"judge_verdict": verdict}, [g1.text, g2.text],
                         g1.output_format, g1.system_prompt_folded, {"judge_verdicts": [first, swapped]})


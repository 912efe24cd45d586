"""An LLM as judge: MT-Bench single-answer grading, a four-part rubric, and pairwise comparison.

Prompts for single grading and pairwise comparison are MT-Bench's published ones (FastChat's
judge_prompts.jsonl, Apache-2.0: single-v1, single-math-v1 with a reference, pair-v2), so a
grade means what it means there. Any backend's model can judge; a reply that does not follow
the asked format is a parse failure, counted, never a guessed score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wattbench.backends.protocol import LoadedModel, Message
from wattbench.settings import Sampling

RUBRIC_PARTS = ("factuality", "helpfulness", "structure", "conciseness")
RUBRIC_MAX = 2.5

SINGLE_SYSTEM = "You are a helpful assistant."
SINGLE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by "
    "an AI assistant to the user question displayed below. Your evaluation should consider factors such as "
    "the helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin "
    "your evaluation by providing a short explanation. Be as objective as possible. After providing your "
    "explanation, you must rate the response on a scale of 1 to 10 by strictly following this format: "
    '"[[rating]]", for example: "Rating: [[5]]".\n\n[Question]\n{question}\n\n'
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
SINGLE_REFERENCE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by "
    "an AI assistant to the user question displayed below. Your evaluation should consider correctness and "
    "helpfulness. You will be given a reference answer and the assistant's answer. Begin your evaluation by "
    "comparing the assistant's answer with the reference answer. Identify and correct any mistakes. Be as "
    "objective as possible. After providing your explanation, you must rate the response on a scale of 1 to "
    '10 by strictly following this format: "[[rating]]", for example: "Rating: [[5]]".\n\n'
    "[Question]\n{question}\n\n[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]"
    "\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. You should choose the assistant that follows the "
    "user's instructions and answers the user's question better. Your evaluation should consider factors "
    "such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their "
    "responses. Begin your evaluation by comparing the two responses and provide a short explanation. Avoid "
    "any position biases and ensure that the order in which the responses were presented does not influence "
    "your decision. Do not allow the length of the responses to influence your evaluation. Do not favor "
    "certain names of the assistants. Be as objective as possible. After providing your explanation, output "
    'your final verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if '
    'assistant B is better, and "[[C]]" for a tie.'
)
PAIR = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n"
    "[The End of Assistant B's Answer]"
)
RUBRIC = (
    "[Instruction]\nPlease act as an impartial judge and grade the response of an AI assistant to the user "
    "question below on four criteria, each from 0 to 2.5 (halves allowed): factuality (is every claim "
    "correct?), helpfulness (does it answer what was asked?), structure (is it clear and well organised?), "
    "conciseness (no padding or repetition?). Reply in exactly this format, one line each:\n"
    "Factuality: <score>\nHelpfulness: <score>\nStructure: <score>\nConciseness: <score>\n"
    "Reason: <one sentence>\n\n[Question]\n{question}\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)

_RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")
_RATING_LOOSE = re.compile(r"\[(\d+(?:\.\d+)?)\]")  # FastChat's backup pattern
_VERDICT = re.compile(r"\[\[([ABC])\]\]")
_PART = re.compile(r"^\s*\**({names})\**\s*[:=]\s*(\d+(?:\.\d+)?)".format(names="|".join(RUBRIC_PARTS)),
                   re.IGNORECASE | re.MULTILINE)
_REASON = re.compile(r"^\s*\**reason\**\s*[:=]\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def parse_rating(text: str) -> float | None:
    """The 1-10 rating of a single-answer judgement, as FastChat parses it; None if absent."""
    match = _RATING.findall(text) or _RATING_LOOSE.findall(text)
    if not match:
        return None
    rating = float(match[-1])
    return rating if 1.0 <= rating <= 10.0 else None


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie' from a pairwise judgement; None if absent."""
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
    """All four parts in range, or None (a parse failure)."""
    parts = {name.lower(): float(value) for name, value in _PART.findall(text)}
    if set(parts) != set(RUBRIC_PARTS) or not all(0.0 <= v <= RUBRIC_MAX for v in parts.values()):
        return None
    reason = _REASON.findall(text)
    return Rubric(parts, reason[-1].strip() if reason else "")


def combine_verdicts(first: str | None, swapped: str | None) -> str | None:
    """Pairwise in both orders (swapped: B was shown first): agreeing verdicts stand, else a tie."""
    if first is None or swapped is None:
        return None
    unswapped = {"A": "B", "B": "A", "tie": "tie"}[swapped]
    return first if first == unswapped else "tie"


class Judge:
    """A loaded model used as judge, greedy, with room for its explanation."""

    def __init__(self, model: LoadedModel, max_tokens: int = 512) -> None:
        self.model = model
        self.sampling = Sampling(max_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=0)

    def ask(self, system: str, prompt: str) -> str:
        """One judgement's text."""
        chat: Sequence[Message] = ({"role": "system", "content": system}, {"role": "user", "content": prompt})
        return self.model.generate(chat, self.sampling).text

    def single(self, question: str, answer: str, reference: str | None) -> tuple[float | None, str]:
        """(rating 1-10 or None, the judge's text)."""
        if reference:
            prompt = SINGLE_REFERENCE.format(question=question, reference=reference, answer=answer)
        else:
            prompt = SINGLE.format(question=question, answer=answer)
        text = self.ask(SINGLE_SYSTEM, prompt)
        return parse_rating(text), text

    def rubric(self, question: str, answer: str) -> tuple[Rubric | None, str]:
        """(the four-part grade or None, the judge's text)."""
        text = self.ask(SINGLE_SYSTEM, RUBRIC.format(question=question, answer=answer))
        return parse_rubric(text), text

    def pairwise(self, question: str, answer_a: str, answer_b: str) -> tuple[str | None, list[str]]:
        """('A', 'B', 'tie' or None, both texts): asked in both orders."""
        first = self.ask(PAIR_SYSTEM, PAIR.format(question=question, answer_a=answer_a, answer_b=answer_b))
        second = self.ask(PAIR_SYSTEM, PAIR.format(question=question, answer_a=answer_b, answer_b=answer_a))
        return combine_verdicts(parse_verdict(first), parse_verdict(second)), [first, second]

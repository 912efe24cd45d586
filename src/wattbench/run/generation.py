"""The first workload: one generation of a case's prompt, scored and recorded.

Per run: the conversation so far is replayed (later turns, untimed), the timed generation runs
(out of memory or context: retried with half the max_tokens), repeats lengthen the window until
it resolves, then the record is built from the generation and the window's energy divided by the
generations and tokens in it, and scored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wattbench.backends.protocol import Backend, Generation, Message, Sampling
from wattbench.cases import Case
from wattbench.errors import ContextOverflowError, GenerationError, OutOfMemoryError
from wattbench.knobs.reasoning import split_thinking
from wattbench.records.record import build
from wattbench.run.energy import Measured
from wattbench.run.pool import Resident
from wattbench.scorers import Scorers
from wattbench.scorers.codeblock import check_compiles

MIN_DEGRADED_TOKENS = 16  # out of memory or context: halve max_tokens down to this, then give up


def generate(resident: Resident, chat: Sequence[Message], sampling: Sampling) -> tuple[Generation, str]:
    """One generation; out of memory or context, retried with half the max_tokens each time.

    Returns the generation and what was reduced ('' when nothing was). Raises GenerationError
    once max_tokens would fall below MIN_DEGRADED_TOKENS.
    """
    asked, reason = sampling.max_tokens, ""
    while True:
        try:
            generation = resident.model.generate(chat, sampling)
            break
        except (OutOfMemoryError, ContextOverflowError) as exc:
            smaller = sampling.max_tokens // 2
            if smaller < MIN_DEGRADED_TOKENS:
                raise GenerationError(f"{exc} (still at max_tokens {sampling.max_tokens})") from None
            sampling, reason = dataclasses.replace(sampling, max_tokens=smaller), str(exc)
    if sampling.max_tokens == asked:
        return generation, ""
    return generation, f"max_tokens {asked} -> {sampling.max_tokens} after: {reason}"


class Conversations:
    """The model's answers of every case's runs, for the later turns of a conversation."""

    def __init__(self, by_id: Mapping[str, Case]) -> None:
        self.by_id = by_id
        self.answers: dict[tuple[str, int], str] = {}  # (case id, run) -> answer

    def chat(self, resident: Resident, case: Case, run: int) -> tuple[Message, ...]:
        """The chat of ``case``'s run: for a later turn, the conversation so far, then this turn.

        The model's answers to earlier turns come from their own cases' same run where those
        ran (cases run in order), else they are generated here, unrecorded.
        """
        if case.previous is None:
            return case.messages
        before = self.by_id[case.previous]
        earlier = self.chat(resident, before, run)
        answer = self.answers.get((before.id, run))
        if answer is None:
            answer = generate(resident, earlier, before.run_sampling(run))[0].text
            self.answers[before.id, run] = answer
        return (*earlier, {"role": "assistant", "content": answer}, *case.messages)


class GenerationWork:
    """The generation workload of one case (see the module doc)."""

    owns_window = False

    def __init__(
        self, case: Case, resident: Resident, backend: Backend, scorers: Scorers,
        conversations: Conversations, on_answer: Callable[[Case, int, str], None],
    ) -> None:
        self.case = case
        self.resident = resident
        self.backend = backend
        self.scorers = scorers
        self.conversations = conversations
        self.on_answer = on_answer
        self.series = case.id
        self.chats: dict[int, tuple[Message, ...]] = {}
        self.generations: dict[int, Generation] = {}
        self.repeats: dict[int, list[Generation]] = {}
        self.degraded: dict[int, str] = {}

    def prepare(self, run: int) -> None:
        """Replay the conversation's earlier turns (a later turn's chat)."""
        self.chats[run] = self.conversations.chat(self.resident, self.case, run)
        self.repeats[run] = []

    def unit(self, run: int) -> None:
        """One generation."""
        generation, self.degraded[run] = generate(self.resident, self.chats[run], self.case.run_sampling(run))
        self.generations[run] = generation

    def again(self, run: int) -> None:
        """The same generation, same seed: the timed one stays the one recorded."""
        self.repeats[run].append(generate(self.resident, self.chats[run], self.case.run_sampling(run))[0])

    def record(self, run: int, measured: Measured | None, machine: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Build, then score the run's record; energy is divided by the window's generations."""
        case = self.case
        generation = self.generations.pop(run)
        repeats = self.repeats.pop(run)
        self.conversations.answers[case.id, run] = generation.text
        answer = split_thinking(generation.text)[1]  # scorers and the judge see only the answer
        self.on_answer(case, run, answer)
        window = (generation, *repeats)
        totals = [None if g.prompt_tokens is None else g.prompt_tokens + g.completion_tokens for g in window]
        figures = {} if measured is None else measured.per_unit(
            len(window), sum(g.completion_tokens for g in window),
            None if None in totals else sum(t for t in totals if t is not None),
        )
        if self.degraded[run]:
            figures["degraded"] = self.degraded[run]
        record = build(
            case, run, case.run_sampling(run), generation, figures, self.resident, self.backend, machine
        )
        answers = record.get("answer_tokens")
        if isinstance(record.get("energy_j"), float) and answers:
            record["energy_per_answer_token_j"] = record["energy_j"] / answers
        if case.is_code:
            record["code_compiles"] = check_compiles(answer, case.extra.get("entry_point")).ok
        record.update(self.scorers.score(case, answer))  # after the window: no joules
        self.resident.generations += len(window)
        return [record]

    def discard(self) -> None:
        """Nothing to drop: the runner owns this workload's window."""

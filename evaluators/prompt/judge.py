"""The LLM judge scorer: a rubric score 0-10, or a pairwise verdict against a reference answer.

With a rubric, the judge sees the rubric, the example's input, its expected answer (when there
is one) and the answer, and ends its reply with a line "SCORE: n" (0-10); the score is n / 10.
Pairwise (for data without labels, as SPO does), the judge sees the input and two answers, A
and B, and ends with "WINNER: A", "WINNER: B" or "WINNER: TIE"; the candidate's answer is shown
as A or B by a coin seeded from the example and both answers, so position bias cancels out
over a data set. Win 1, tie 0.5, loss 0. A reply without the final line scores 0 with that
said in the feedback. The answers judged are untrusted text; the judge only reads them.
"""

from __future__ import annotations

import hashlib
import re

from evaluators.prompt.data import Example
from evaluators.prompt.render import input_text
from evaluators.prompt.scoring import Scored
from evaluators.prompt.target import ModelClient

_SCORE = re.compile(r"SCORE:\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_WINNER = re.compile(r"WINNER:\s*(A|B|TIE)\b", re.IGNORECASE)
_ANSWER_CHARS = 4000


class Judge:
    """Scores answers with a judge model (`client`, purpose "judge") by `rubric`."""

    def __init__(self, client: ModelClient, rubric: str, *, pairwise: bool):
        self.client = client
        self.rubric = rubric.strip()
        self.pairwise = pairwise

    async def score(self, example: Example, output: str, reference: str | None = None) -> tuple[Scored, float]:
        """(the score of `output`, the judge's dollars). Pairwise without a reference: 0.5."""
        if self.pairwise:
            return await self._pairwise(example, output, reference)
        messages = rubric_messages(self.rubric, example, output)
        answer = await self.client.answer(messages, example_id=example.id)
        if answer.error:
            return Scored(0.0, f"the judge failed: {answer.error}"), answer.cost
        found = _SCORE.findall(answer.text)
        if not found:
            return Scored(0.0, "the judge gave no 'SCORE: n' line"), answer.cost
        value = min(10.0, max(0.0, float(found[-1])))
        return Scored(value / 10.0, f"judge: {value:g}/10 {_reason(answer.text)}".strip()), answer.cost

    async def _pairwise(self, example: Example, output: str, reference: str | None) -> tuple[Scored, float]:
        if reference is None or reference.strip() == output.strip():
            return Scored(0.5, "the same answer as the current best prompt's"), 0.0
        candidate_first = int(hashlib.sha256(f"{example.id}\0{output}\0{reference}".encode()).hexdigest(), 16) % 2 == 0
        first, second = (output, reference) if candidate_first else (reference, output)
        messages = pairwise_messages(self.rubric, example, first, second)
        answer = await self.client.answer(messages, example_id=example.id)
        if answer.error:
            return Scored(0.0, f"the judge failed: {answer.error}"), answer.cost
        found = _WINNER.findall(answer.text)
        if not found:
            return Scored(0.0, "the judge gave no 'WINNER: A|B|TIE' line"), answer.cost
        verdict = found[-1].upper()
        reason = _reason(answer.text)
        if verdict == "TIE":
            return Scored(0.5, f"judge: as good as the current best's answer {reason}".strip()), answer.cost
        won = (verdict == "A") == candidate_first
        said = "better" if won else "worse"
        return Scored(1.0 if won else 0.0, f"judge: {said} than the current best's answer {reason}".strip()), answer.cost


def rubric_messages(rubric: str, example: Example, output: str) -> list[dict[str, str]]:
    expected = example.answer_text()
    parts = [f"Input:\n{input_text(example)}"]
    if expected is not None:
        parts.append(f"Expected answer:\n{expected}")
    parts.append(f"Answer to judge:\n{output[:_ANSWER_CHARS]}")
    system = ("You grade an answer by the rubric below. Give one short reason, then end with a line "
              "'SCORE: n' where n is 0 (worst) to 10 (best).\n\nRubric:\n"
              + (rubric or "Is the answer correct and helpful?"))  # fmt: skip
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def pairwise_messages(rubric: str, example: Example, first: str, second: str) -> list[dict[str, str]]:
    system = ("You compare two answers to the same input. Give one short reason, then end with a line "
              "'WINNER: A', 'WINNER: B' or 'WINNER: TIE'."
              + (f"\n\nWhat makes an answer better:\n{rubric}" if rubric else ""))  # fmt: skip
    user = f"Input:\n{input_text(example)}\n\nAnswer A:\n{first[:_ANSWER_CHARS]}\n\nAnswer B:\n{second[:_ANSWER_CHARS]}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _reason(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines()
             if ln.strip() and not _SCORE.search(ln) and not _WINNER.search(ln)]  # fmt: skip
    return f"({lines[0][:200]})" if lines else ""

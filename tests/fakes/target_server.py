"""A fake target model for prompt tasks: deterministic answers that get better with the prompt.

It is `FakeOpenAIServer` (tests/fakes/openai_server.py) with `target_responder`, which reads a
chat request the way the example tasks (tasks/prompt_sentiment, tasks/prompt_arithmetic) send
it: the system messages (and any user message before the last) are the *instructions*, the
last user message is the *question*. The answer depends on the instructions by these rules,
so a better prompt measurably scores better:

Arithmetic (a question the word-problem parser below recognises: "buys N more", "gives N to",
"N boxes with M ... in each", "shares N ... equally among M", "N ..., buys M boxes of K more,
then gives away J"):

- instructions without "step by step": the model adds up every number in the question and
  answers "The answer is <sum>." (right only for the "buys N more" problems);
- with "step by step": it solves the problem and ends "The answer is <value>.", but rounds a
  value that is not whole to the nearest integer unless the instructions mention "decimal".

Sentiment (any other question):

- the review's polarity is counted from a small word list (POSITIVE_WORDS, NEGATIVE_WORDS):
  more positive words: positive, more negative: negative, neither or a tie: neutral. A word
  right after "not", "never", "no" or a word ending in "n't" counts for the other side only
  if the instructions mention "negation"; otherwise negation is missed;
- it can only answer with a label the instructions name ("positive", "negative",
  "neutral"); if the right one is not named it answers the first named one in the order
  positive, negative, neutral (and "unclear" when none is named);
- it answers the bare label when the instructions say "one word" or "only the label",
  otherwise "The sentiment of this review is <label>." (which an exact-match scorer rejects).

Usage is reported at about 4 characters a token, so a priced model name (e.g.
openai/gpt-4o-mini) costs real-looking money. Standalone, for subprocess tests:

    python -m tests.fakes.target_server --port 0    # prints its URL first
"""

from __future__ import annotations

import argparse
import re

from tests.fakes.openai_server import FakeOpenAIServer, Reply, serve_until_interrupted

POSITIVE_WORDS = frozenset(
    "good great excellent wonderful delicious friendly comfortable fast amazing pleasant helpful love loved "
    "lovely perfect fresh clean tasty".split()
)
NEGATIVE_WORDS = frozenset(
    "bad terrible awful slow rude broken cold boring disappointing dirty noisy hate hated stale "
    "useless poor".split()
)
_NEGATORS = frozenset({"not", "never", "no"})
_LABELS = ("positive", "negative", "neutral")
_NUMBER = r"(\d+(?:\.\d+)?)"


def target_server() -> FakeOpenAIServer:
    """A started-on-enter fake server that answers by the rules above."""
    server = FakeOpenAIServer()
    server.set_responder(target_responder)
    return server


def target_responder(request: dict) -> Reply:
    instructions, question = split_request(request.get("messages", []))
    solved = solve_word_problem(question)
    if solved is not None:
        return Reply(arithmetic_answer(instructions, question, solved))
    return Reply(sentiment_answer(instructions, question))


def split_request(messages: list[dict]) -> tuple[str, str]:
    """(the instructions, the question) of a chat request, as the rules above read it."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    question = str(messages[last_user].get("content", "")) if last_user is not None else ""
    instructions = "\n".join(str(m.get("content", "")) for i, m in enumerate(messages) if i != last_user)
    return instructions, question


# --- arithmetic ---------------------------------------------------------------------------------

_PROBLEMS = (
    (re.compile(rf"has {_NUMBER} \w+, buys {_NUMBER} boxes of {_NUMBER} more, then gives away {_NUMBER}"),
     lambda a, b, c, d: a + b * c - d),
    (re.compile(rf"has {_NUMBER} \w+ and buys {_NUMBER} more"), lambda a, b: a + b),
    (re.compile(rf"has {_NUMBER} \w+ and gives {_NUMBER} to"), lambda a, b: a - b),
    (re.compile(rf"buys {_NUMBER} boxes with {_NUMBER} \w+ in each"), lambda a, b: a * b),
    (re.compile(rf"shares {_NUMBER} \w+ equally among {_NUMBER}"), lambda a, b: a / b),
)  # fmt: skip


def solve_word_problem(question: str) -> float | None:
    """The problem's true value, if it is one of the known kinds; None otherwise."""
    for pattern, compute in _PROBLEMS:
        found = pattern.search(question)
        if found:
            return float(compute(*(float(g) for g in found.groups())))
    return None


def arithmetic_answer(instructions: str, question: str, value: float) -> str:
    said = instructions.lower()
    if "step by step" not in said:
        total = sum(float(n) for n in re.findall(_NUMBER, question))
        return f"The answer is {_spell(total)}."
    if value != int(value) and "decimal" not in said:
        value = float(round(value))
    return f"Let me work through it step by step. The answer is {_spell(value)}."


def _spell(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


# --- sentiment ---------------------------------------------------------------------------------


def review_label(review: str, *, understands_negation: bool) -> str:
    """The review's polarity by the word lists (see the module docstring)."""
    words = re.findall(r"[a-z']+", review.lower())
    score = 0
    for i, word in enumerate(words):
        sign = 1 if word in POSITIVE_WORDS else -1 if word in NEGATIVE_WORDS else 0
        if sign and understands_negation and any(w in _NEGATORS or w.endswith("n't") for w in words[max(0, i - 2) : i]):
            sign = -sign
        score += sign
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def sentiment_answer(instructions: str, question: str) -> str:
    said = instructions.lower()
    label = review_label(question, understands_negation="negation" in said)
    named = [name for name in _LABELS if name in said]
    if label not in named:
        label = named[0] if named else "unclear"
    if "one word" in said or "only the label" in said:
        return label
    return f"The sentiment of this review is {label}."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake target model of the prompt example tasks.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(port=args.port)
    server.set_responder(target_responder)
    serve_until_interrupted(server)


if __name__ == "__main__":
    main()

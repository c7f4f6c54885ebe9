"""Writes data/{train,validation,test}.jsonl: short customer reviews labelled positive,
negative or neutral.

Seeded, so running it again writes the same files: `python tasks/prompt_sentiment/make_data.py`.
Four kinds in equal shares: plainly positive, plainly negative, neutral (facts, no opinion),
and negated ("was not good" is negative, "wasn't bad" positive) -- the kind a careless prompt
gets wrong.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 14
PER_SPLIT = 30
SUBJECTS = ("The pasta", "The hotel room", "Our waiter", "The delivery", "This phone", "The movie", "The hostel",
            "The coffee", "The customer service", "The train ride", "This backpack", "The concert")
POSITIVE = ("excellent", "wonderful", "great", "pleasant", "amazing", "lovely", "perfect", "good")
NEGATIVE = ("terrible", "awful", "disappointing", "poor", "bad", "boring")
NEUTRAL = ("I ordered it on a Tuesday and it came on Friday.", "We went there after work with two colleagues.",
           "It comes in blue, black and grey.", "I used it for about three weeks.", "The tickets were bought online.",
           "It was my second visit this year.", "We sat near the window.", "The box contained a cable and a manual.")
TRAILERS = ("", " We paid by card.", " I went with my sister.", " It was a Sunday.", " We booked it last month.")


def review(rng: random.Random, kind: int) -> tuple[str, str]:
    subject, trailer = rng.choice(SUBJECTS), rng.choice(TRAILERS)
    if kind == 0:
        a, b = rng.sample(POSITIVE, 2)
        return f"{subject} was {a} and honestly {b}.{trailer}", "positive"
    if kind == 1:
        a, b = rng.sample(NEGATIVE, 2)
        return f"{subject} was {a}, and the whole thing felt {b}.{trailer}", "negative"
    if kind == 2:
        return f"{rng.choice(NEUTRAL)}{trailer}", "neutral"
    if rng.random() < 0.5:
        return f"{subject} was not {rng.choice(POSITIVE)} at all.{trailer}", "negative"
    return f"{subject} wasn't {rng.choice(NEGATIVE)}, to be fair.{trailer}", "positive"


def main() -> None:
    rng = random.Random(SEED)
    folder = Path(__file__).parent / "data"
    folder.mkdir(exist_ok=True)
    number = 0
    for split in ("train", "validation", "test"):
        lines = []
        for i in range(PER_SPLIT):
            number += 1
            text, label = review(rng, i % 4)
            lines.append(json.dumps({"id": f"s{number:03d}", "input": text, "answer": label}))
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

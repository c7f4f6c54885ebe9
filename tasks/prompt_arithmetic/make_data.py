"""Writes data/{train,validation,test}.jsonl: arithmetic word problems with numeric answers.

Seeded, so running it again writes the same files: `python tasks/prompt_arithmetic/make_data.py`.
Five kinds of problem, in equal shares: adding, taking away, boxes of equal size, sharing
equally (about half of these have an answer that is not a whole number), and a three-step mix.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 14
PER_SPLIT = 30
NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lea")
ITEMS = ("apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "cards")


def problem(rng: random.Random, kind: int) -> tuple[str, float]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    if kind == 0:
        a, b = rng.randint(3, 60), rng.randint(2, 40)
        return f"{name} has {a} {item} and buys {b} more. How many {item} does {name} have now?", a + b
    if kind == 1:
        a = rng.randint(20, 90)
        b = rng.randint(2, a - 1)
        return f"{name} has {a} {item} and gives {b} to a friend. How many {item} are left?", a - b
    if kind == 2:
        a, b = rng.randint(2, 12), rng.randint(3, 15)
        return f"{name} buys {a} boxes with {b} {item} in each box. How many {item} is that in total?", a * b
    if kind == 3:
        b = rng.choice((2, 4, 5, 8))
        a = rng.randint(3, 20) * b + (rng.randint(1, b - 1) if rng.random() < 0.5 else 0)
        return f"{name} shares {a} {item} equally among {b} friends. How many {item} does each friend get?", a / b
    a, b, c = rng.randint(5, 30), rng.randint(2, 6), rng.randint(2, 9)
    d = rng.randint(1, a)
    question = f"{name} has {a} {item}, buys {b} boxes of {c} more, then gives away {d}. How many {item} are there now?"
    return question, a + b * c - d


def main() -> None:
    rng = random.Random(SEED)
    folder = Path(__file__).parent / "data"
    folder.mkdir(exist_ok=True)
    number = 0
    for split in ("train", "validation", "test"):
        lines = []
        for i in range(PER_SPLIT):
            number += 1
            question, answer = problem(rng, i % 5)
            answer = int(answer) if float(answer).is_integer() else round(answer, 4)
            lines.append(json.dumps({"id": f"a{number:03d}", "input": question, "answer": answer}))
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

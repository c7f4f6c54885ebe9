"""`agent evolve` on the sentiment prompt task with the "pareto" strategy: the proposer reads the
failed examples the reflective prompts show, merges complementary prompts, compresses on a
stall, and the best prompt beats the initial one on the untouched test split.

Two fake servers on 127.0.0.1: the target model (tests/fakes/target_server.py: it answers by
word lists, can name only the labels the prompt names, and misses negation unless the prompt
mentions it) and a proposer that acts only on what the prompt shows it:

- reflect: looks through the failed examples shown for one it has a rule for -- expected
  "neutral" while the prompt names no such label (the neutral rule), or a negation in the
  input while the prompt does not mention negation (the negation rule) -- on alternate calls
  looking for the neutral case first and the negation case first, and adds that rule; with
  nothing to fix it adds a harmless sentence;
- merge: both parents' sentences, parent A's first;
- compress: the prompt without the harmless sentences.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import yaml

from archives.store import Store
from tests.e2e.helpers import only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.fakes.target_server import target_server

SENTIMENT = Path(__file__).resolve().parents[2] / "tasks" / "prompt_sentiment"
NEUTRAL_RULE = "Reviews that only state facts are neutral."
NEGATION_RULE = "Watch for negation: a good word after not or n't counts as negative, a bad one as positive."
FILLER = "Read the review carefully."
_FENCED = re.compile(r"^(`{3,})text\n(.*?)\n\1$", re.S | re.M)
_EXAMPLE = re.compile(r"^Input:\n(`{3,})\n(.*?)\n\1\nExpected answer:\n(`{3,})\n(.*?)\n\3$", re.S | re.M)


def sentences(text: str) -> list[str]:
    return [s for s in (line.strip() for line in text.splitlines()) if s]


def reflective_proposer():
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        user = request["messages"][-1]["content"]
        parents = [m.group(2) for m in _FENCED.finditer(user)]
        current = sentences(parents[0])
        if "# Merge two prompts" in user:
            new = current + [s for s in sentences(parents[1]) if s not in current]
        elif "# The search has stalled" in user:
            new = [s for s in current if not s.startswith(FILLER)] or current
        else:
            k = next(counter)
            new = current + [_fix(user, parents[0], neutral_first=k % 2 == 0) or f"{FILLER} ({k})"]
        return Reply("One change.\n\n```text\n" + "\n".join(new) + "\n```\n")

    return respond


def _fix(user: str, prompt: str, *, neutral_first: bool) -> str | None:
    failed = user.split("# Examples it gets wrong", 1)[1] if "# Examples it gets wrong" in user else ""
    shown = [(m.group(2).lower(), m.group(4).strip().lower()) for m in _EXAMPLE.finditer(failed)]
    neutral = any(expected == "neutral" for _, expected in shown) and "neutral" not in prompt
    negation = any(re.search(r"\b(not|never|no)\b|n't\b", review) for review, _ in shown) and "negation" not in prompt
    found = [rule for rule, seen in ((NEUTRAL_RULE, neutral), (NEGATION_RULE, negation)) if seen]
    if not found:
        return None
    return found[0] if neutral_first else found[-1]


def report_scores(report: str, row: str) -> tuple[float, float]:
    """(validation, test) means of a row of the end report's table."""
    line = next(line for line in report.splitlines() if line.strip().startswith(row))
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", line)]
    return numbers[0], numbers[3]


def test_reflective_prompts_let_the_proposer_fix_the_prompt_and_the_test_score_rises(tmp_path):
    task_dir = tmp_path / "sentiment"
    shutil.copytree(SENTIMENT, task_dir)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with target_server() as target, FakeOpenAIServer() as llm:
        llm.set_responder(reflective_proposer())
        config = yaml.safe_load((task_dir / "task.yaml").read_text())
        config["prompt_task"]["target"].update(api_base=target.url, model="openai/fake-target")
        config["search"] = {"strategy": "pareto", "seed": 0, "options": {"merge_share": 0.5, "compress_after": 4}}
        config["llm"]["concurrency"] = 1  # one proposal at a time: each request sees the front so far
        config["evaluate"] = {"workers": 1}
        (task_dir / "task.yaml").write_text(yaml.safe_dump(config))
        proc = run_agent("evolve", str(task_dir / "task.yaml"), "--model", "openai/fake-proposer",
                         "--api-base", llm.url, "--store", url, "--evaluations", "16", "-q", cwd=tmp_path)  # fmt: skip
        asked = [r["messages"][-1]["content"] for r in llm.requests]
    assert proc.returncode == 0, proc.stderr

    summary = only_run(url)
    with Store(url) as store:
        programs = store.programs(summary.run.id)
        best = store.best_programs(summary.run.id, 1)[0]
    initial = programs[0]
    wrong = next(r for r in initial.examples.values() if r.score < 1)
    # The first reflect prompt showed the initial prompt's wrong answers, as the target model gave them.
    assert "# Examples it gets wrong" in asked[0] and wrong.output.strip() in asked[0]
    # Two children fixed different examples; a merge was asked with both on the front.
    one_rule = [p for p in programs if p.is_correct and (NEUTRAL_RULE in p.source) != (NEGATION_RULE in p.source)]
    assert {NEUTRAL_RULE in p.source for p in one_rule} == {True, False}
    merges = [a for a in asked if "# Merge two prompts" in a]
    assert any(NEUTRAL_RULE in a and NEGATION_RULE in a for a in merges)
    # After a stall, the leader was asked to compress.
    assert any("# The search has stalled" in a for a in asked)
    assert NEUTRAL_RULE in best.source and NEGATION_RULE in best.source and best.fitness > initial.fitness
    report = proc.stdout + proc.stderr
    initial_val, initial_test = report_scores(report, "initial prompt")
    best_val, best_test = report_scores(report, "best prompt")
    assert best_test > initial_test and best_val == best.fitness

"""A simulated LLM for the learning proposer (agent/learning): its answers depend on the prompt
in the documented ways below, so that each learning part has something real to learn.

Use it as the responder of the fake OpenAI server (tests/fakes/openai_server.py):

    answerer = LearningLLM(seed=0)
    with FakeOpenAIServer() as server:
        server.set_responder(answerer)

**The task** is bench/sim_search.py's "smooth" one: a program builds a vector `x` term by term
between EVOLVE-BLOCK markers (`x[3] += 1.250`); its fitness is minus the squared distance to a
hidden centre (`learning_program()` gives the initial program: the block, then code that prints
`x` as JSON for an evaluator, `EVALUATOR` the evaluator).

**What it answers** depends on what the request asks for, told by the last user message:

| request | recognised by | answer |
| --- | --- | --- |
| meta-prompt rewrite (metaprompt.j2) | "# The instructions to rewrite" | `<system>`/`<hints>` parts |
| knowledge distillation (distil.j2) | "# What worked in this run" | a JSON array, one entry per pair |
| plan (plan.j2) | "plan one focused change" | "Change: add D to x[i]." + Why + Expected effect |
| summary (summarize.j2) | "recommendations for the next changes" | two "- " lines |
| a change implementing a plan | "# The plan to implement" | the plan's edit (below) |
| anything else: a change | | SEARCH/REPLACE blocks when the prompt asks for them, else a whole program |

**A change** is one edit of the program under "# Current program". With probability `p` it is
*informed*: the coordinate farthest from the centre moves 30-100% of the way to it (always a
gain). Otherwise it is *blind*: one draw from bench/sim_search.py's `SimulatedProposer` (tweak,
add, delete or move a term, several tweaks; 5% of them a broken line), which rarely gains.

    p = skill of the model asked (the request's "model": MODELS)
        + MARKER_BONUS     if the system prompt or the "# How to approach it" section holds MARKER
        + KNOWLEDGE_BONUS  if a "# What worked before on similar tasks" section is present
    (at most P_MAX)

With a "# The plan to implement" section the change is exactly the plan's "add D to x[i]"
(never broken, whatever the model), so a plan's quality is decided when it is written: a plan
is informed with probability p (computed from the plan request the same way) + PLAN_BONUS,
else it names a random coordinate and a blind step.

**A meta-prompt rewrite** keeps MARKER when the instructions it rewrites have it, and adds it
with probability META_MARKER_P otherwise: rewriting can discover the instruction that pays.
**A distillation** writes one entry per pair shown, naming the coordinates the pair's diff
raised or lowered. **Latency**: every answer waits the model's `delay` seconds, so that a
per-second reward has something to measure (the models are unknown to litellm's price map:
their calls cost $0). A model name not in the table is answered with HTTP 404.

Random draws come from one `random.Random(seed)` under a lock: with several requests in flight
the order they arrive in, and so the run, is not reproducible draw for draw.
"""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass

from bench.sim_search import TASKS, SimulatedProposer, initial_program, parse, render, vector
from tests.fakes.openai_server import Reply

__all__ = ["EVALUATOR", "KNOWLEDGE_BONUS", "LearningLLM", "MARKER", "MARKER_BONUS", "META_MARKER_P", "MODELS",
           "ModelTraits", "PLAN_BONUS", "P_MAX", "TASK", "learning_program", "request_kind", "true_fitness"]

TASK = TASKS["smooth"]
CENTRE = (1.7, -2.3, 0.9, 2.8, -1.1, 0.4)  # the centre of TASK's sphere (bench/sim_search.py _CENTRE)
MARKER = "coordinate-wise"
MARKER_BONUS = 0.25
KNOWLEDGE_BONUS = 0.15
PLAN_BONUS = 0.15
META_MARKER_P = 0.5
P_MAX = 0.95


@dataclass(frozen=True)
class ModelTraits:
    skill: float
    """Chance that a change (or plan) of this model is informed, before the bonuses."""
    delay: float = 0.0
    """Seconds before each answer."""


MODELS: dict[str, ModelTraits] = {
    "sim-strong": ModelTraits(skill=0.35, delay=0.2),
    "sim-weak": ModelTraits(skill=0.05, delay=0.1),
}

_MAIN = '\nif __name__ == "__main__":\n    import json\n    print(json.dumps(x))\n'
_BLOCK = re.compile(r"# EVOLVE-BLOCK-START\n.*?# EVOLVE-BLOCK-END\n", re.S)
_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.S)
_PLAN_STEP = re.compile(r"add (-?\d+(?:\.\d+)?) to x\[(\d+)\]")
_PAIR = re.compile(r"^## Pair (\d+): fitness \S+ -> \S+ \(gain ([-\d.e+]+)\)", re.M)
_TERM_LINE = re.compile(r"^([+-])x\[(\d+)\] \+= (-?\d+\.\d+)$", re.M)

EVALUATOR = '''"""The "smooth" task of bench/sim_search.py: run the program, score the vector it prints."""
import json
import subprocess
import sys

CENTRE = %(centre)r


def evaluate(program_path):
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise RuntimeError("program failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1])
    x = [min(%(high)r, max(%(low)r, float(v))) for v in json.loads(proc.stdout.strip().splitlines()[-1])]
    return {"combined_score": -sum((a - c) ** 2 for a, c in zip(x, CENTRE))}
''' % {"centre": CENTRE, "high": TASK.high, "low": TASK.low}


def learning_program() -> str:
    """The task's initial program: the EVOLVE block, then code that prints `x` as JSON."""
    return initial_program(TASK) + _MAIN


def true_fitness(source: str) -> float | None:
    """The fitness of a program's block (None when it has no block or the block is broken)."""
    match = _BLOCK.search(source)
    terms = parse(match.group()) if match else None
    if terms is None or any(i >= TASK.dim for i, _ in terms):
        return None
    return TASK.f(vector(TASK, terms))


def request_kind(request: dict) -> str:
    """"meta", "distil", "plan", "summarize", "implement" (a change with a plan) or "change": what the
    request asks for (table above)."""
    user = _last_user(request)
    if "# The instructions to rewrite" in user:
        return "meta"
    if "# What worked in this run" in user:
        return "distil"
    if "plan one focused change" in user:
        return "plan"
    if "recommendations for the next changes" in user:
        return "summarize"
    return "implement" if "# The plan to implement" in user else "change"


class LearningLLM:
    """The responder: `answerer(request_json) -> Reply`."""

    def __init__(self, seed: int = 0, models: dict[str, ModelTraits] | None = None) -> None:
        self.models = dict(MODELS if models is None else models)
        self._rng = random.Random(f"learning-llm:{seed}")
        self._blind = SimulatedProposer(TASK, self._rng)
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        """Requests answered, by (kind, model name)."""
        self.informed: dict[tuple[str, str], int] = {}
        """Informed changes and plans written, by ("change" or "plan", model name)."""

    def __call__(self, request: dict) -> Reply:
        name = str(request.get("model", "")).rsplit("/", 1)[-1]
        traits = self.models.get(name)
        if traits is None:
            return Reply(status=404, error_message=f"the simulated LLM has no model {name!r} ({sorted(self.models)})")
        kind = request_kind(request)
        with self._lock:
            self.requests[(kind, name)] = self.requests.get((kind, name), 0) + 1
            text = getattr(self, f"_{kind}")(request, name, traits)
        return Reply(text, delay=traits.delay)

    # ---- the answers (called under the lock) ----------------------------------------------------

    def chance(self, request: dict, traits: ModelTraits) -> float:
        """p of the module's docstring for this request."""
        p = traits.skill
        if has_marker(request):
            p += MARKER_BONUS
        if "# What worked before on similar tasks" in _last_user(request):
            p += KNOWLEDGE_BONUS
        return min(P_MAX, p)

    def _change(self, request: dict, name: str, traits: ModelTraits) -> str:
        user = _last_user(request)
        parent = _current_program(user)
        block = _BLOCK.search(parent).group()
        plan = _PLAN_STEP.search(user.split("# The plan to implement", 1)[1]) if "# The plan to implement" in user \
            else None
        if plan is not None:
            child = _add(block, int(plan.group(2)), float(plan.group(1)))
            why = "I implement the plan."
        elif self._rng.random() < self.chance(request, traits):
            self.informed[("change", name)] = self.informed.get(("change", name), 0) + 1
            i, step = self._informed_step(block)
            child, why = _add(block, i, step), f"I move x[{i}] toward its best value."
        else:
            # the simulator's broken line "x[i] =+ v" is valid Python (x[i] = +v): make it a syntax error
            child, why = self._blind.propose(block).replace(" =+ ", " += += "), "I try a small change."
        if "SEARCH/REPLACE" in user:
            return f"{why}\n\n<<<<<<< SEARCH\n{block}=======\n{child}>>>>>>> REPLACE\n"
        return f"{why}\n\n```python\n{parent.replace(block, child)}```\n"

    _implement = _change  # _change follows the plan it finds in the prompt

    def _plan(self, request: dict, name: str, traits: ModelTraits) -> str:
        block = _BLOCK.search(_current_program(_last_user(request))).group()
        if self._rng.random() < min(P_MAX, self.chance(request, traits) + PLAN_BONUS):
            self.informed[("plan", name)] = self.informed.get(("plan", name), 0) + 1
            i, step = self._informed_step(block)
            why = f"x[{i}] is the coordinate farthest from where the score peaks."
        else:
            i, step = self._rng.randrange(TASK.dim), self._rng.gauss(0.0, TASK.scale * 10 ** self._rng.uniform(-2, 0))
            why = f"x[{i}] has not been tuned much yet."
        return (f"Change: add {step:.3f} to x[{i}].\nWhy: {why}\n"
                f"Expected effect: the fitness rises if x[{i}] moves toward its best value.")

    def _meta(self, request: dict, name: str, traits: ModelTraits) -> str:
        user = _last_user(request)
        rewritten = user.split("# The instructions to rewrite", 1)[1].split("# What their children did", 1)[0]
        keep = MARKER in rewritten or self._rng.random() < META_MARKER_P
        hints = [f"Work {MARKER}: find the coordinate farthest from its best value and move it most of the way."
                 if keep else "Try a different constant than last time.",
                 "Keep every EVOLVE-BLOCK marker line."]
        system = ("You improve one program at a time in an evolutionary search. Make one focused change per answer, "
                  "keep the program's interface, and answer in exactly the format each request asks for.")
        return "<system>\n" + system + "\n</system>\n<hints>\n" + "\n".join(f"- {h}" for h in hints) + "\n</hints>\n"

    def _distil(self, request: dict, name: str, traits: ModelTraits) -> str:
        user = _last_user(request)
        entries = []
        sections = re.split(r"^(?=## Pair \d+:)", user, flags=re.M)
        for section in sections:
            head = _PAIR.match(section)
            if head is None:
                continue
            diff = section.split("A sibling that", 1)[0]
            moves = _moves(diff)
            what = ", ".join(f"{'raise' if d > 0 else 'lower'} x[{i}]" for i, d in sorted(moves.items())) or \
                "change the terms of x"
            entries.append({"pairs": [int(head.group(1))], "gain": float(head.group(2)),
                            "transformation": f"{what}: move the coordinates farthest from their best values first",
                            "avoid": "broken lines such as `x[i] += += v`" if "A sibling that" in section else ""})
        return "```json\n" + json.dumps(entries) + "\n```\n"

    def _summarize(self, request: dict, name: str, traits: ModelTraits) -> str:
        return "- Move one coordinate at a time.\n- Keep every line a valid `x[i] += v` term.\n"

    def _informed_step(self, block: str) -> tuple[int, float]:
        terms = parse(block)
        if terms is None:
            terms = [t for t in (_term(line) for line in block.splitlines()) if t is not None]
        x = vector(TASK, [t for t in terms if t[0] < TASK.dim])
        gaps = [c - v for c, v in zip(CENTRE, x)]
        i = max(range(TASK.dim), key=lambda k: abs(gaps[k]))
        return i, gaps[i] * self._rng.uniform(0.3, 1.0)


def has_marker(request: dict) -> bool:
    """Whether the system prompt or the user prompt's "# How to approach it" section holds MARKER."""
    system = " ".join(str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "system")
    user = _last_user(request)
    hints = user.split("# How to approach it", 1)[1].split("\n# ", 1)[0] if "# How to approach it" in user else ""
    return MARKER in system or MARKER in hints


def _last_user(request: dict) -> str:
    users = [str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def _current_program(user: str) -> str:
    """The fenced program under "# Current program" (a merge's "## Parent A"), else the initial program."""
    after = re.split(r"^# Current program|^## Parent A", user, maxsplit=1, flags=re.M)[-1]
    for match in _FENCE.finditer(after):
        if _BLOCK.search(match.group(1)):
            return match.group(1)
    return learning_program()


def _term(line: str) -> tuple[int, float] | None:
    match = re.match(r"^x\[(\d+)\] \+= (-?\d+\.\d+)$", line)
    return (int(match.group(1)), float(match.group(2))) if match else None


def _add(block: str, i: int, step: float) -> str:
    """The block with `step` added to coordinate i (its last term, or a new one); broken lines dropped."""
    terms = parse(block)
    if terms is None:
        terms = [t for t in (_term(line) for line in block.splitlines()) if t is not None]
    terms = list(terms)
    last = max((k for k, (j, _) in enumerate(terms) if j == i), default=None)
    if last is None:
        terms.append((i, step))
    else:
        terms[last] = (i, terms[last][1] + step)
    return render(TASK, terms)


def _moves(diff: str) -> dict[int, float]:
    """Per coordinate, the sum of the added terms minus the removed ones in a unified diff."""
    moves: dict[int, float] = {}
    for sign, i, value in _TERM_LINE.findall(diff):
        moves[int(i)] = moves.get(int(i), 0.0) + (float(value) if sign == "+" else -float(value))
    return {i: d for i, d in moves.items() if abs(d) > 1e-9}

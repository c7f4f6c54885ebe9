"""A store holding what the learning proposer records (agent/learning), written through
`archives.store.Store` the way a run records it, for `agent show`'s and the viewer's tests.

The run "learning" has an initial program (fitness 1.0) and four children:
- c1 (root's child, fitness 1.5, gain +0.5): role draft, model mini, meta-prompt M0, plan P1,
  knowledge K_old (from an earlier run);
- c2 (root's child, wrong): draft, model big, meta-prompt M1, knowledge K_old and K_gone (pruned
  since: not in the store);
- c3 (c2's child, fitness 1.2, not compared: its parent is wrong): role fix, model big, M1;
- c4 (c1's child, fitness 1.4, gain -0.1): draft, mini, meta-prompt M2, plan P2.
M1 was rewritten from M0 and M2 from M1. P3 (for c4) was never implemented. The run distilled
K_new; K_low (another run's) is demoted and unused. Calls: draft mini (c1 reward 0.5, c4 reward
0, one failed call without a program), draft big (c2, reward 0), fix big (c3, no reward), two
plan calls (big), one meta call (big), one distil call (mini).

Plan P1's text and K_old's transformation carry markup, to check that pages show them as text.
The run "plain" in the same store is a run from before the learning parts: nothing recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archives.records import EvalResult, KnowledgeEntry, LLMCall, MetaPrompt, Plan, Program, StageResult, Status
from archives.store import Store

MINI = "openai/gpt-4o-mini"
BIG = "openai/gpt-4o"
MARKUP = '<img src=x onerror="window.__pwned = 6"><b>bold</b>'
PLAN_TEXT = f"Vectorise the inner loop {MARKUP} and keep the tail scalar.\nExpect fewer instructions per element."
OLD_TRANSFORMATION = f"Replace the Python loop with a vectorised expression {MARKUP}"
SOURCE = "# EVOLVE-BLOCK-START\nX = {x!r}\n# EVOLVE-BLOCK-END\n"


def _id(name: str) -> str:
    """A 32-character id that starts with `name` (so tests can tell them apart by prefix)."""
    return (name.lower() + "0" * 32)[:32]


@dataclass(frozen=True)
class ProposerStore:
    url: str
    run_id: str  # the run with learning records
    plain_run_id: str  # a run without any
    ids: dict[str, str]  # name (root, c1..c4, M0..M2, P1..P3, K_old, K_new, K_low, K_gone) -> id


def _evaluate(store: Store, program: Program, fitness: float | None) -> None:
    store.add_program(program)
    status = Status.CORRECT if fitness is not None else Status.WRONG
    error = None if fitness is not None else "output differs from the expected one"
    result = EvalResult(status, fitness=fitness, error=error, stages=(StageResult("run", fitness is not None, 0.1),))
    store.finish_program(program.id, result)


def _call(store: Store, run_id: str, name: str, model: str, role: str, **fields) -> str:
    call = LLMCall(id=_id("call" + name), run_id=run_id, model=model, prompt="[]", role=role, **fields)
    store.add_llm_call(call)
    return call.id


def fill_proposer_store(folder: Path) -> ProposerStore:
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'runs' / 'learning.db'}"
    ids = {n: _id(n) for n in ("root", "c1", "c2", "c3", "c4", "M0", "M1", "M2", "P1", "P2", "P3")}
    ids |= {"K_old": _id("ab01"), "K_new": _id("ab02"), "K_low": _id("ab03"), "K_gone": _id("ab04")}
    config = {"name": "learning", "kind": "program", "program": "initial.py"}
    with Store(url) as store:
        plain = store.create_run("plain", str(folder / "task.yaml"), "map_elites", 0, config)
        _evaluate(store, Program(id=_id("plainroot"), run_id=plain.id, source=SOURCE.format(x=0)), 1.0)
        _evaluate(store, Program(id=_id("plainkid"), run_id=plain.id, source=SOURCE.format(x=1),
                                 parent_id=_id("plainroot"), generation=1, proposer=f"llm:{MINI}"), 1.2)  # fmt: skip
        _call(store, plain.id, "plain", MINI, role=None, program_id=_id("plainkid"), cost=0.001)

        run = store.create_run("learning", str(folder / "task.yaml"), "map_elites", 1, config)
        r = run.id
        meta_call = _call(store, r, "meta", BIG, "meta", cost=0.02)
        store.add_meta_prompt(MetaPrompt(ids["M0"], r, "You optimise programs.", "Change one thing.", created_at=1.0))
        store.add_meta_prompt(MetaPrompt(ids["M1"], r, "You optimise programs boldly.", "Try bigger moves.",
                                         parent_id=ids["M0"], origin="rewrite", call_id=meta_call, created_at=2.0))
        store.add_meta_prompt(MetaPrompt(ids["M2"], r, "You optimise programs carefully.", "Measure first.",
                                         parent_id=ids["M1"], origin="rewrite", call_id=meta_call, created_at=3.0))

        def child(name: str, parent: str, x: float, fitness: float | None, generation: int, **proposal) -> None:
            program = Program(id=ids[name], run_id=r, source=SOURCE.format(x=x), parent_id=ids[parent],
                              generation=generation, proposer=f"llm:{proposal['model']}", proposal=proposal)
            _evaluate(store, program, fitness)

        _evaluate(store, Program(id=ids["root"], run_id=r, source=SOURCE.format(x=0.0)), 1.0)
        store.add_knowledge(KnowledgeEntry(ids["K_old"], OLD_TRANSFORMATION, {"kind": "program", "language": "python"},
                                           gain=0.3, run_id="e" * 32, uses=4, wins=3, created_at=1.0))
        store.add_knowledge(KnowledgeEntry(ids["K_low"], "Unroll every loop by 16", {"kind": "program"}, gain=0.01,
                                           run_id="e" * 32, uses=6, wins=0, demoted=True, created_at=2.0))
        store.add_plan(Plan(ids["P1"], r, ids["root"], PLAN_TEXT, call_id=_id("callplan1"), created_at=10.0))
        child("c1", "root", 1.0, 1.5, 1, role="draft", model=MINI, meta_prompt_id=ids["M0"], plan_id=ids["P1"],
              knowledge_ids=[ids["K_old"]])
        store.set_plan_outcome(ids["P1"], ids["c1"], 0.5)
        child("c2", "root", 2.0, None, 1, role="draft", model=BIG, meta_prompt_id=ids["M1"],
              knowledge_ids=[ids["K_old"], ids["K_gone"]])
        child("c3", "c2", 2.5, 1.2, 2, role="fix", model=BIG, meta_prompt_id=ids["M1"])
        store.add_plan(Plan(ids["P2"], r, ids["c1"], "Hoist the constant out of the loop.", created_at=11.0))
        child("c4", "c1", 1.1, 1.4, 2, role="draft", model=MINI, meta_prompt_id=ids["M2"], plan_id=ids["P2"])
        store.set_plan_outcome(ids["P2"], ids["c4"], -0.1)
        store.add_plan(Plan(ids["P3"], r, ids["c4"], "Cache the result between calls.", created_at=12.0))

        _call(store, r, "plan1", BIG, "plan", program_id=ids["c1"], response=PLAN_TEXT, cost=0.01)
        _call(store, r, "c1", MINI, "draft", program_id=ids["c1"], cost=0.001, reward=0.5)
        _call(store, r, "c2", BIG, "draft", program_id=ids["c2"], cost=0.01, reward=0.0)
        _call(store, r, "c3", BIG, "fix", program_id=ids["c3"], cost=0.01)
        _call(store, r, "plan2", BIG, "plan", program_id=ids["c4"], cost=0.01)
        _call(store, r, "c4", MINI, "draft", program_id=ids["c4"], cost=0.001, reward=0.0)
        _call(store, r, "lost", MINI, "draft", error="the model did not answer")
        _call(store, r, "distil", MINI, "distil", cost=0.002)
        store.add_knowledge(KnowledgeEntry(ids["K_new"], "Start from the best value found so far", {"kind": "program"},
                                           gain=0.5, run_id=r, program_ids=(ids["root"], ids["c1"]), created_at=20.0))
    return ProposerStore(url, r, plain.id, ids)

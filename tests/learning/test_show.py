"""`agent show`'s lines about the learning proposer (agent/learning/show.py) over a real SQLite
store filled through the Store's methods (tests/viewer/proposer_fixture.py): models by role
with their calls, dollars and mean reward; meta-prompts in lineage order with their children's
gains; plans best first; knowledge used and distilled; nothing at all for a run without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.learning.audit import proposer_audit
from agent.learning.show import clip, program_lines, run_lines
from archives.store import Store
from tests.viewer.proposer_fixture import BIG, MINI, PLAN_TEXT, ProposerStore, fill_proposer_store


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> ProposerStore:
    return fill_proposer_store(tmp_path_factory.mktemp("show"))


@pytest.fixture
def store(filled: ProposerStore):
    with Store(filled.url, read_only=True) as s:
        yield s


def _section(lines: list[str], head: str) -> list[str]:
    """The indented lines under the line that starts with `  {head}`."""
    start = next(i for i, line in enumerate(lines) if line.startswith("  " + head))
    rest = lines[start + 1 :]
    end = next((i for i, line in enumerate(rest) if not line.startswith("    ")), len(rest))
    return [lines[start], *rest[:end]]


def test_models_by_role_count_calls_dollars_and_mean_reward(store, filled):
    lines = _section(run_lines(store, filled.run_id), "models by role")
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        ("draft", BIG), ("draft", MINI), ("fix", BIG), ("plan", BIG), ("meta", BIG), ("distil", MINI),
    ]  # fmt: skip
    draft_mini = lines[2]
    assert "3 calls, 1 failed" in draft_mini and "$0.0020" in draft_mini
    assert "mean reward 0.25 (2 rewarded)" in draft_mini  # rewards 0.5 and 0; the failed call has none
    assert "1 call " in lines[3] and "mean reward -" in lines[3]
    assert "2 calls" in lines[4] and "$0.0200" in lines[4]


def test_meta_prompts_follow_their_lineage_with_their_childrens_gains(store, filled):
    ids = filled.ids
    lines = _section(run_lines(store, filled.run_id), "meta-prompts")
    assert lines[0].startswith("  meta-prompts: 3 (2 rewritten by the LLM)")
    assert lines[1].startswith(f"    {ids['M0'][:8]}  initial: 1 child, 1 of 1 compared gained, mean gain +0.5")
    assert lines[2].startswith(f"      {ids['M1'][:8]}  rewrite of {ids['M0'][:8]}: 2 children, none compared")
    assert lines[3].startswith(f"        {ids['M2'][:8]}  rewrite of {ids['M1'][:8]}: 1 child, 0 of 1 compared")
    assert lines[3].endswith("mean gain -0.1")


def test_plans_show_counts_and_the_best_gains_first(store, filled):
    ids = filled.ids
    lines = _section(run_lines(store, filled.run_id), "plans")
    assert lines[0] == "  plans: 3 written, 2 implemented, 1 gained"
    assert [line.split()[0] for line in lines[1:]] == [ids["P1"][:8], ids["P2"][:8], ids["P3"][:8]]
    assert f"gain +0.5  {ids['root'][:8]} -> {ids['c1'][:8]}" in lines[1]
    assert lines[1].endswith("…") and len(lines[1].split("  ")[-1]) == 100  # LLM text clipped to one line
    assert "gain -  " in lines[3] and "(not implemented)" in lines[3]


def test_knowledge_used_by_the_runs_programs_and_distilled_by_it(store, filled):
    ids = filled.ids
    used = _section(run_lines(store, filled.run_id), "knowledge used")
    assert used[0] == "  knowledge used: 2 entries"
    assert used[1].startswith(f"    {ids['K_old'][:8]}  by 2 programs (1 gained)  Replace the Python loop")
    assert used[1].endswith("(gain +0.3, 4 uses, 3 wins, from run eeeeeeee)")
    assert used[2] == f"    {ids['K_gone'][:8]}  by 1 program (0 gained)  (no longer in the store)"
    written = _section(run_lines(store, filled.run_id), "knowledge distilled")
    assert written == [
        "  knowledge distilled by this run: 1 entry",
        f"    {ids['K_new'][:8]}  Start from the best value found so far  (gain +0.5, 0 uses, 0 wins)",
    ]
    assert ids["K_low"][:8] not in "\n".join(run_lines(store, filled.run_id))  # demoted and unused


def test_a_program_shows_its_choices_its_plan_and_its_calls_rewards(store, filled):
    ids = filled.ids
    c1 = store.get_program(ids["c1"])
    lines = program_lines(c1, store.llm_calls(program_id=c1.id))
    assert lines == [
        f"proposal: role draft · model {MINI} · meta-prompt {ids['M0'][:8]} · plan {ids['P1'][:8]} · "
        f"knowledge {ids['K_old'][:8]}",
        "plan: " + clip(PLAN_TEXT, 200),
        f"calls: plan {BIG} reward - · draft {MINI} reward 0.5",
    ]
    plan = next(p for p in store.plans(filled.run_id) if p.id == ids["P2"])
    c4 = store.get_program(ids["c4"])
    assert program_lines(c4, store.llm_calls(program_id=c4.id), plan)[1] == "plan: Hoist the constant out of the loop."
    c3 = store.get_program(ids["c3"])
    assert program_lines(c3, store.llm_calls(program_id=c3.id)) == [
        f"proposal: role fix · model {BIG} · meta-prompt {ids['M1'][:8]}",
        f"calls: fix {BIG} reward -",
    ]


def test_a_run_and_programs_without_learning_records_show_nothing(store, filled):
    assert not proposer_audit(store, filled.plain_run_id).recorded
    assert run_lines(store, filled.plain_run_id) == []
    for program in store.programs(filled.plain_run_id):
        assert program_lines(program, store.llm_calls(program_id=program.id)) == []
    root = store.get_program(filled.ids["root"])
    assert program_lines(root, []) == []


def test_an_upgraded_version_3_store_shows_nothing_for_its_runs(tmp_path: Path, filled):
    """A store written before schema version 4 is upgraded when opened for writing; its runs
    have no proposal, role or reward, so they show as before."""
    import sqlite3

    path = tmp_path / "old.db"
    path.write_bytes(Path(filled.url.removeprefix("sqlite:///")).read_bytes())
    with sqlite3.connect(path) as db:
        for table in ("meta_prompts", "plans", "knowledge"):
            db.execute(f"DROP TABLE {table}")
        db.execute("ALTER TABLE programs DROP COLUMN proposal")
        for column in ("role", "reward"):
            db.execute(f"ALTER TABLE llm_calls DROP COLUMN {column}")
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with Store(f"sqlite:///{path}") as old:
        assert old.programs(filled.run_id)[1].proposal == {}
        assert run_lines(old, filled.run_id) == []
        assert run_lines(old, filled.plain_run_id) == []


def test_agent_show_prints_the_proposer_lines_and_nothing_more_for_a_plain_run(tmp_path: Path, filled):
    from tests.e2e.helpers import run_agent

    ids = filled.ids
    shown = run_agent("show", filled.run_id[:8], "--store", filled.url, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    with Store(filled.url, read_only=True) as store:
        expected = run_lines(store, filled.run_id)
    assert "\n".join(expected) in shown.stdout  # markup in LLM text printed as it is, not as rich markup
    best = shown.stdout.split(f"best program {ids['c1'][:8]}\n", 1)[1].splitlines()
    assert best[0] == f"  proposal: role draft · model {MINI} · meta-prompt {ids['M0'][:8]} · plan {ids['P1'][:8]} · " \
                      f"knowledge {ids['K_old'][:8]}"  # fmt: skip
    assert best[1] == "  plan: " + clip(PLAN_TEXT, 200)
    plain = run_agent("show", filled.plain_run_id[:8], "--store", filled.url, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "learning proposer" not in plain.stdout and "proposal:" not in plain.stdout
    after_table = plain.stdout.rstrip().rsplit("└", 1)[1].splitlines()[1:]  # after the best-programs table
    assert after_table[0] == "LLM spend by outcome" and all(line.startswith("  ") for line in after_table[1:])

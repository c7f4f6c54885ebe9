"""What two real runs with every learning part on recorded, as `agent show` and the viewer's API
show it: `agent evolve` twice into one store (bench/learning.py's "all" arm: the simulated LLM of
tests/fakes/learning_llm.py behind the fake OpenAI server), the first writing knowledge that
the second reads; then `agent show` and `agent view`'s JSON API over that store."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agent.learning.show import run_lines
from agent.viewer.app import create_app
from agent.viewer.catalog import Catalog
from archives.store import Store
from bench.learning import evolve, task_config
from tests.e2e.helpers import run_agent

EVALUATIONS = 10


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str, Path]:
    folder = tmp_path_factory.mktemp("show_e2e")
    url = f"sqlite:///{folder / 'store.db'}"
    evolve(folder / "first", task_config("all", 11, EVALUATIONS, 1), url, 11)
    evolve(folder / "second", task_config("all", 12, EVALUATIONS, 1), url, 12)
    with Store(url, read_only=True) as store:
        runs = sorted(store.list_runs(), key=lambda s: s.run.started_at)
    return url, runs[0].run.id, runs[1].run.id, folder


def test_agent_show_prints_what_each_part_recorded(two_runs):
    url, first, second, folder = two_runs
    with Store(url, read_only=True) as store:
        written = [e for e in store.knowledge(include_demoted=True) if e.run_id == first]
        plans = store.plans(second)
        best = store.best_programs(second, 1)[0]
    assert written, "the first run distilled no knowledge"  # it gains within 10 evaluations
    assert best.proposal, "no child of the second run beat the initial program"  # the same
    shown = run_agent("show", second[:8], "--store", url, cwd=folder)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout.splitlines()
    section = out[out.index("learning proposer") :]
    heads = [line.split(":")[0].strip() for line in section if line.startswith("  ") and not line.startswith("    ")]
    assert heads[:4] == ["models by role (calls, dollars, mean reward)", "meta-prompts", "plans", "knowledge used"]
    role_rows = section[2 : section.index(next(line for line in section if line.startswith("  meta-prompts")))]
    assert {"draft", "plan", "meta"} <= {line.split()[0] for line in role_rows}
    metas = section[len(role_rows) + 3 :]
    assert metas[0].startswith("    ") and "initial: " in metas[0]
    assert f"  plans: {len(plans)} written, " in shown.stdout
    assert f"from run {first[:8]})" in shown.stdout  # knowledge the first run wrote, used by the second
    assert f"best program {best.id[:8]}" in out and f"  proposal: role {best.proposal['role']} · " in shown.stdout
    with Store(url, read_only=True) as store:
        assert "\n".join(run_lines(store, second)) in shown.stdout
    first_shown = run_agent("show", first[:8], "--store", url, cwd=folder)
    assert f"  knowledge distilled by this run: {len(written)} " in first_shown.stdout


def test_the_viewer_api_shows_the_runs_choices_and_a_programs(two_runs):
    url, first, second, _ = two_runs
    catalog = Catalog([url])
    try:
        with TestClient(create_app(catalog), base_url="http://127.0.0.1:8765") as client:
            answer = client.get(f"/api/runs/{second}/proposer").json()
            with Store(url, read_only=True) as store:
                best = next(p for p in store.best_programs(second, EVALUATIONS) if p.proposal.get("plan_id"))
            program = client.get(f"/api/runs/{second}/programs/{best.id}").json()
    finally:
        catalog.close()
    assert answer["recorded"] and {"draft", "plan"} <= {r["role"] for r in answer["roles"]}
    assert answer["meta_prompts"][0]["origin"] == "initial" and answer["meta_prompts"][0]["depth"] == 0
    assert sum(m["children"] for m in answer["meta_prompts"]) >= 1
    assert answer["plans"] and all(p["parent_program_id"] for p in answer["plans"])
    assert any(k["run_id"] == first for k in answer["knowledge_used"])
    proposal = program["proposal"]
    assert proposal["choices"] == best.proposal
    assert proposal["plan"]["program_id"] == best.id and proposal["plan"]["text"].startswith("Change:")
    assert proposal["meta_prompt"]["id"] == best.proposal["meta_prompt_id"]
    assert {c["role"] for c in program["llm_calls"]} == {"plan", best.proposal["role"]}

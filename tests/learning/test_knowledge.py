"""The knowledge base across runs: distilled through the real LLM gateway and a fake OpenAI
server over HTTP, stored in real SQLite, retrieved by later runs, demoted, exported and
imported with `agent knowledge` in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import KnowledgeConfig, LLMConfig, ModelSpec
from agent.learning.knowledge import KnowledgeBase
from agent.learning.knowledge_distil import DistilAnswerError, parse_drafts
from agent.learning.knowledge_match import code_similarity, op_overlap
from agent.llm import LLMGateway
from archives.records import EvalResult, KnowledgeEntry, Program, Status
from archives.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply

ROOT = Path(__file__).resolve().parents[2]

SOFTMAX_REF = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """Softmax over the last dimension of a (batch, dim) matrix."""

    def forward(self, x):
        return torch.softmax(x, dim=1)


batch_size = 4096
dim = 8192


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
'''
# The same op at other sizes and with other names: a similar task.
SOFTMAX_LIKE = SOFTMAX_REF.replace("4096", "512").replace("8192", "1000").replace("(batch, dim)", "(rows, cols)")
MATMUL_REF = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """Matrix product A @ B."""

    def forward(self, A, B):
        return torch.matmul(A, B)


M, K, N = 1024, 512, 2048


def get_inputs():
    return [torch.rand(M, K), torch.rand(K, N)]


def get_init_inputs():
    return []
'''
SOFTMAX_CONTEXT = {"kind": "kernel", "language": "triton", "op": "softmax_triton", "gpu": "NVIDIA H100"}
ANSWER = """Here is what I found.
```json
[{"pairs": [1], "transformation": "Read each row once: fuse the max and sum passes into one online-softmax loop.",
  "gain": 99, "avoid": "Splitting a row across programs without a second reduction gave wrong sums."}]
```"""


def gateway(server: FakeOpenAIServer) -> LLMGateway:
    config = LLMConfig(models=[ModelSpec(name="openai/fake", api_base=server.url)], retries=0, timeout_seconds=30)
    return LLMGateway(config, run_id="r", rng=random.Random(0))


def add(store: Store, run_id: str, pid: str, source: str, parent: str | None, status: str, fitness: float | None,
        error: str | None = None) -> Program:
    store.add_program(Program(id=pid, run_id=run_id, source=source, parent_id=parent))
    return store.finish_program(pid, EvalResult(status=status, fitness=fitness, error=error))


def softmax_run(store: Store) -> str:
    """A run with one improved pair (p0 -> c1), a failed sibling and a sibling that did worse."""
    run = store.create_run("softmax_triton", "task.yaml", "map_elites", 0, {})
    add(store, run.id, "p0", SOFTMAX_REF, None, Status.CORRECT, 1.0)
    add(store, run.id, "c1", SOFTMAX_REF + "# online softmax: one pass\n", "p0", Status.CORRECT, 1.5)
    add(store, run.id, "c2", SOFTMAX_REF + "# split rows\n", "p0", Status.WRONG, None, "max abs diff 0.3")
    add(store, run.id, "c3", SOFTMAX_REF + "# two kernels\n", "p0", Status.CORRECT, 0.7)
    return run.id


def distil(kb: KnowledgeBase, server: FakeOpenAIServer, run_id: str, calls: list):
    return asyncio.run(kb.distil(run_id, gateway(server), SOFTMAX_CONTEXT, calls.append, reference=SOFTMAX_REF))


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'kb.db'}") as s:
        yield s


def test_an_entry_distilled_from_one_run_is_retrieved_for_a_similar_task_and_not_for_an_unrelated_one(
    fake_llm, store, tmp_path
):
    fake_llm.set_replies([ANSWER])
    run_id, calls = softmax_run(store), []
    result = distil(KnowledgeBase(store, config=KnowledgeConfig(enabled=True)), fake_llm, run_id, calls)
    assert result.error is None and result.pairs == 1 and len(result) == 1
    prompt = fake_llm.requests[0]["messages"][-1]["content"]
    assert "fitness 1 -> 1.5 (gain +0.5)" in prompt and "+# online softmax: one pass" in prompt
    assert "failed (wrong: max abs diff 0.3)" in prompt and "did worse (fitness 0.7)" in prompt
    assert "# Known already" not in prompt  # nothing is yet
    assert [c.role for c in calls] == ["distil"] and calls[0].error is None
    # The next run opens the store anew: the entry and its provenance are there.
    with Store(f"sqlite:///{tmp_path / 'kb.db'}") as later:
        [entry] = later.knowledge()
        assert entry.transformation.startswith("Read each row once") and entry.avoid.startswith("Splitting a row")
        assert entry.gain == pytest.approx(0.5)  # measured, not the answer's 99
        assert entry.run_id == run_id and entry.program_ids == ("p0", "c1") and entry.context == SOFTMAX_CONTEXT
        kb = KnowledgeBase(later, config=KnowledgeConfig(enabled=True, retrieve=3))
        similar = {"kind": "kernel", "language": "triton", "op": "softmax_rows"}
        assert [e.id for e in kb.retrieve(similar, SOFTMAX_LIKE)] == [entry.id]
        assert kb.retrieve({"kind": "kernel", "language": "triton", "op": "matmul"}, MATMUL_REF) == []
        assert kb.retrieve({"kind": "program", "language": "python", "op": "softmax"}, SOFTMAX_LIKE) == []
        assert kb.retrieve(similar, SOFTMAX_LIKE, k=0) == []


RESTATED = json.dumps([
    {"pairs": [1], "transformation": "read each row once:  fuse the max and sum passes into one online-softmax loop."},
    {"pairs": [1], "transformation": "Use a larger block."},
])


def test_pairs_are_distilled_once_and_a_new_improvement_is_distilled_alone(fake_llm, store):
    fake_llm.set_replies([ANSWER, RESTATED])
    run_id, calls = softmax_run(store), []
    kb = KnowledgeBase(store, config=KnowledgeConfig(enabled=True))
    distil(kb, fake_llm, run_id, calls)
    nothing = distil(kb, fake_llm, run_id, calls)
    assert len(nothing) == 0 and nothing.error is None and len(fake_llm.requests) == 1
    add(store, run_id, "c4", SOFTMAX_REF + "# online softmax: one pass\n# BLOCK = 4096\n", "c1", Status.CORRECT, 2.5)
    # A knowledge base of a resumed session knows from the store what was distilled.
    fresh = KnowledgeBase(store, config=KnowledgeConfig(enabled=True))
    assert [(p.parent.id, p.child.id) for p in fresh.pending(run_id)] == [("c1", "c4")]
    second = distil(fresh, fake_llm, run_id, calls)
    prompt = fake_llm.requests[1]["messages"][-1]["content"]
    assert "## Pair 1: fitness 1.5 -> 2.5" in prompt and "## Pair 2" not in prompt and "+# BLOCK = 4096" in prompt
    assert "# Known already" in prompt and "- Read each row once: fuse the max" in prompt
    # The restated entry is not stored twice.
    assert [(e.transformation, e.program_ids) for e in second] == [("Use a larger block.", ("c1", "c4"))]
    assert len(store.knowledge()) == 2


def test_a_separate_knowledge_store_gets_the_entries_of_a_run_kept_in_the_run_store(fake_llm, store, tmp_path):
    fake_llm.set_replies([ANSWER])
    run_id = softmax_run(store)
    with Store(f"sqlite:///{tmp_path / 'shared-knowledge.db'}") as shared:
        kb = KnowledgeBase(shared, config=KnowledgeConfig(enabled=True), run_store=store)
        assert len(distil(kb, fake_llm, run_id, [])) == 1
        assert [e.program_ids for e in shared.knowledge()] == [("p0", "c1")] and store.knowledge() == []


@pytest.mark.parametrize("reply", [
    "Sorry, I cannot help with that.",
    '```json\n[{"avoid": "nothing"}, "a string"]\n```',
    '[{"transformation": "unterminated',
])  # fmt: skip
def test_a_malformed_answer_stores_nothing_returns_an_error_and_the_pairs_are_offered_again(fake_llm, store, reply):
    fake_llm.set_replies([reply, ANSWER])
    run_id, calls = softmax_run(store), []
    kb = KnowledgeBase(store, config=KnowledgeConfig(enabled=True))
    failed = distil(kb, fake_llm, run_id, calls)
    assert failed.error is not None and "was not used" in failed.error and len(failed) == 0
    assert store.knowledge(include_demoted=True) == [] and calls[0].role == "distil"
    again = distil(kb, fake_llm, run_id, calls)
    assert again.error is None and len(again) == 1 and len(fake_llm.requests) == 2


def test_a_failed_call_is_recorded_and_returned_as_an_error_not_raised(fake_llm, store):
    fake_llm.set_replies([Reply(status=400, error_message="bad request")])
    run_id, calls = softmax_run(store), []
    result = distil(KnowledgeBase(store, config=KnowledgeConfig(enabled=True)), fake_llm, run_id, calls)
    assert result.error is not None and result.error.startswith("the distillation call failed")
    assert [(c.role, c.error is not None) for c in calls] == [("distil", True)] and store.knowledge() == []


def test_a_task_distil_template_that_fails_is_an_error_naming_it_and_nothing_is_sent(fake_llm, store, tmp_path):
    (tmp_path / "distil.j2").write_text("# What worked\n{% for pair in pairs %}{{ pair.nonsense }\n")
    kb = KnowledgeBase(store, config=KnowledgeConfig(enabled=True), templates_dir=tmp_path)
    result = distil(kb, fake_llm, softmax_run(store), [])
    assert result.error is not None and result.error.startswith("prompt template") and "distil.j2, line" in result.error
    assert fake_llm.requests == [] and store.knowledge() == []


def test_the_answer_parser_takes_the_usual_wrappings_and_measures_pairs_by_number():
    entry = {"pairs": [2, 7, "1"], "transformation": "Vectorise  the\nloads.", "gain": "1.8x", "avoid": ["a", "b"]}
    for text in (f"```json\n{json.dumps([entry])}\n```", json.dumps([entry]), json.dumps({"entries": [entry]}),
                 f"Sure: {json.dumps(entry)} done"):  # fmt: skip
        [draft] = parse_drafts(text, pair_count=2, max_entries=4)
        assert draft.transformation == "Vectorise the loads." and draft.gain == 1.8 and draft.avoid == "a; b"
        assert draft.pairs == (1, 0)  # 7 is no pair shown; numbers become indexes
    assert parse_drafts("```json\n[]\n```", 1, 4) == []
    assert len(parse_drafts(json.dumps([entry] * 9), 2, 3)) == 3
    with pytest.raises(DistilAnswerError):
        parse_drafts("no json here", 1, 4)


def test_relevance_compares_the_computation_not_the_boilerplate_of_the_format():
    assert code_similarity(SOFTMAX_REF, SOFTMAX_LIKE) > 0.8
    assert code_similarity(SOFTMAX_REF, MATMUL_REF) < 0.1
    assert op_overlap("19_ReLU", "relu_triton") == 1.0 and op_overlap("softmax_triton", "gelu_cuda") == 0.0


def entry(eid: str, **fields) -> KnowledgeEntry:
    values = {"transformation": f"trick {eid}", "context": {"kind": "kernel", "language": "triton", "op": "softmax"},
              "reference_excerpt": SOFTMAX_REF, "created_at": 1000.0}  # fmt: skip
    values.update(fields)
    return KnowledgeEntry(id=eid, **values)


def test_an_entry_whose_use_does_not_pay_is_demoted_and_no_longer_retrieved(store):
    store.add_knowledge(entry("losing"))
    store.add_knowledge(entry("paying"))
    kb = KnowledgeBase(store, config=KnowledgeConfig(enabled=True, demote_after=3, demote_below=0.5))
    task = {"kind": "kernel", "language": "triton", "op": "softmax"}
    for improvement in (None, 0.2, -0.1):
        kb.credit(["losing", "paying"] if improvement != -0.1 else ["losing"], improvement)
    kb.credit(["paying"], 0.3)
    losing, paying = store.get_knowledge("losing"), store.get_knowledge("paying")
    assert (losing.uses, losing.wins, losing.demoted) == (3, 1, True)  # 1/3 < 0.5 after 3 uses
    assert (paying.uses, paying.wins, paying.demoted) == (3, 2, False)
    assert [e.id for e in kb.retrieve(task, SOFTMAX_LIKE)] == ["paying"]
    kb.credit(["gone"], 1.0)  # an entry pruned meanwhile is passed over


def agent_knowledge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "agent.knowledge_cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_export_then_import_round_trips_and_skips_entries_already_present(store, tmp_path):
    store.add_knowledge(entry("a" * 32, program_ids=("p0", "c1"), run_id="r1", gain=0.5, uses=4, wins=3))
    store.add_knowledge(entry("b" * 32, demoted=True, created_at=2000.0))
    source, target = store.url, f"sqlite:///{tmp_path / 'other.db'}"
    exported = agent_knowledge("export", "kb.jsonl", "--store", source, cwd=tmp_path)
    assert exported.returncode == 0 and "2 entries -> kb.jsonl" in exported.stdout
    imported = agent_knowledge("import", "kb.jsonl", "--store", target, cwd=tmp_path)
    assert imported.returncode == 0 and "imported 2 entries" in imported.stdout
    with Store(target) as other:
        assert other.knowledge(include_demoted=True) == store.knowledge(include_demoted=True)
    again = agent_knowledge("import", "kb.jsonl", "--store", target, cwd=tmp_path)
    assert "imported 0 entries" in again.stdout and "skipped 2 already present" in again.stdout
    listed = agent_knowledge("list", "--store", target, cwd=tmp_path).stdout.splitlines()
    assert [line[:8] for line in listed] == ["aaaaaaaa", "bbbbbbbb"] and "demoted" in listed[1]
    shown = agent_knowledge("show", "aaaa", "--store", target, cwd=tmp_path)
    assert "programs p0, c1" in shown.stdout and "3 wins in 4 uses" in shown.stdout
    pruned = agent_knowledge("prune", "--store", target, cwd=tmp_path)
    assert "deleted 1 entries" in pruned.stdout
    with Store(target) as other:
        assert [e.id for e in other.knowledge(include_demoted=True)] == ["a" * 32]


def test_import_mistakes_are_one_line_errors(store, tmp_path):
    missing = agent_knowledge("import", "nope.jsonl", "--store", store.url, cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: nope.jsonl: no such file"
    (tmp_path / "bad.jsonl").write_text('{"transformation": "ok"}\n{"transformation": \n')
    bad = agent_knowledge("import", "bad.jsonl", "--store", store.url, cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("error: bad.jsonl line 2: not JSON")
    (tmp_path / "odd.jsonl").write_text('{"transformation": "ok", "colour": "red"}\n')
    odd = agent_knowledge("import", "odd.jsonl", "--store", store.url, cwd=tmp_path)
    assert odd.returncode == 2 and "odd.jsonl line 1: unknown key 'colour'" in odd.stderr
    assert store.knowledge(include_demoted=True) == []  # nothing of a bad file is added
    unknown = agent_knowledge("show", "zzz", "--store", store.url, cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: no knowledge entry 'zzz'"

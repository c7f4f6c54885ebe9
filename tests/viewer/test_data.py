"""The viewer's data layer: answers cached until the store changes, the kernel panel."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from agent.viewer.catalog import Catalog
from agent.viewer.data import ViewData
from archives.records import EvalResult, Program, Status
from archives.store import Store


def test_answers_are_reused_until_the_store_changes_then_recomputed(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Store(url) as writer:
        run = writer.create_run("t", "/t.yaml", "map_elites", 0, {})
        writer.add_program(Program(id="root", run_id=run.id, source="x"))
        catalog = Catalog([url])
        data = ViewData(catalog)
        first = data.run(run.id)
        assert data.run(run.id) is first  # unchanged store: the cached answer
        assert first["run"]["counts"] == {Status.PENDING: 1}
        writer.finish_program("root", EvalResult(Status.CORRECT, fitness=2.0))
        second = data.run(run.id)
        assert second is not first and second["run"]["counts"] == {Status.CORRECT: 1}
        assert second["run"]["best_fitness"] == 2.0
        writer.add_program(Program(id=uuid.uuid4().hex, run_id=run.id, source="y", parent_id="root", generation=1))
        assert data.tree(run.id)["total"] == 2 and data.points(run.id)["pending"] == 1
    catalog.close()


def test_only_sqlite_files_are_cached(tmp_path):
    catalog = Catalog(folder=tmp_path)
    assert catalog.version(SimpleNamespace(url="postgresql://user@host/db")) is None
    assert catalog.version(SimpleNamespace(url="sqlite://")) is None
    catalog.close()


def test_kernel_metrics_get_a_kernel_panel_and_other_metrics_do_not(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    metrics = {"speedup": 1.8, "speedup_vs_compile": 1.1, "roofline_fraction": 0.42, "runtime_ms": 0.5,
               "ncu_dram_pct": 71.0, "max_abs_err": 1e-6, "launches": 2.0}  # fmt: skip
    with Store(url) as writer:
        run = writer.create_run("k", "/k.yaml", "map_elites", 0, {"kind": "kernel", "program": "kernel.cu"})
        for pid, m in (("fast", metrics), ("plain", {"combined_score": 1.0})):
            writer.add_program(Program(id=pid, run_id=run.id, source="x"))
            writer.finish_program(pid, EvalResult(Status.CORRECT, fitness=1.0, metrics=m))
    catalog = Catalog([url])
    data = ViewData(catalog)
    kernel = data.program(run.id, "fast")["kernel"]
    assert kernel["headline"] == {k: metrics[k] for k in ("speedup", "speedup_vs_compile", "roofline_fraction", "runtime_ms", "max_abs_err")}
    assert kernel["profiler"] == {"ncu_dram_pct": 71.0}
    assert data.program(run.id, "plain")["kernel"] is None
    assert data.program(run.id, "fast")["language"] == "cpp"  # from the task's program file
    catalog.close()

"""The one-line diagnosis from an evaluator's metrics (agent/learning/diagnosis.py)."""

from __future__ import annotations

from archives.records import Program, Status
from agent.learning.diagnosis import diagnose

# ncu metrics of a real H100 judgement (bench/results/h100-judge-selfcheck.json, a softmax kernel)
H100_SOFTMAX = {"ncu_dram_pct": 84.44105, "ncu_sm_pct": 23.061887, "ncu_occupancy_pct": 46.840371,
                "ncu_registers": 54.0, "ncu_spills": 0.0, "roofline_fraction": 0.79, "speedup": 1.43,
                "runtime_ms": 0.2336, "work_bytes": 536870912.0, "work_flops": 0.0}


def _program(metrics: dict[str, float], status: str = Status.CORRECT, fitness: float | None = 1.0) -> Program:
    return Program(id="p1", run_id="r1", source="x = 1\n", status=status, fitness=fitness, metrics=metrics)


def test_ncu_dram_above_sm_reads_memory_bound_with_roofline_and_speedup():
    line = diagnose(_program(H100_SOFTMAX), "triton")
    assert line == ("memory-bound at 84% of DRAM bandwidth (SM 23%); at 79% of the roofline floor; "
                    "1.43x the reference's speed")


def test_ncu_sm_above_bound_reads_compute_bound():
    line = diagnose(_program({"ncu_dram_pct": 30.0, "ncu_sm_pct": 91.0, "ncu_occupancy_pct": 70.0}), "cuda")
    assert line == "compute-bound at 91% of SM throughput (DRAM 30%)"


def test_neither_unit_busy_reads_latency_bound_and_names_low_occupancy_with_many_registers():
    metrics = {"ncu_dram_pct": 45.2, "ncu_sm_pct": 20.0, "ncu_occupancy_pct": 18.0, "ncu_registers": 168.0}
    line = diagnose(_program(metrics), "triton")
    assert line.startswith("latency-bound: neither DRAM (45%) nor SM (20%) is near its peak")
    assert "achieved occupancy 18% (168 registers/thread)" in line


def test_spills_are_named_with_a_cure_for_the_language():
    metrics = {"ncu_dram_pct": 70.0, "ncu_sm_pct": 10.0, "ncu_registers": 255.0, "ncu_spills": 4096.0}
    triton = diagnose(_program(metrics), "triton")
    cuda = diagnose(_program(metrics), "cuda")
    assert "4096 register spill accesses at 255 registers/thread: smaller tiles" in triton
    assert "__launch_bounds__" in cuda and "smaller tiles" not in cuda


def test_without_a_profile_a_flopless_op_is_memory_bound_with_its_bandwidth():
    metrics = {"runtime_ms": 0.5, "work_bytes": 1e9, "work_flops": 0.0, "roofline_fraction": 0.45,
               "launches": 3.0}
    line = diagnose(_program(metrics), "triton")
    assert line == ("memory-bound op (0 FLOP/byte): moves 2000 GB/s; at 45% of the roofline floor; "
                    "3 kernel launches per forward")


def test_without_a_profile_a_matmul_reports_its_flop_rate():
    metrics = {"runtime_ms": 2.0, "work_bytes": 1e8, "work_flops": 2e12, "roofline_fraction": 0.6}
    line = diagnose(_program(metrics), "cuda")
    assert line.startswith("20000 FLOP/byte: reaches 1000.0 TFLOP/s and 50 GB/s")


def test_program_profile_names_the_hottest_part_and_the_next():
    metrics = {"combined_score": 3.0, "profile_parse": 2.0, "profile_solve": 6.2, "profile_output": 1.8}
    line = diagnose(_program(metrics), "python")
    assert line == "`solve` takes 62% of the profiled time (of 3 parts; next: parse 20%)"


def test_nothing_to_read_gives_none():
    assert diagnose(_program({"combined_score": 3.0, "x0": 1.0}), "python") is None
    assert diagnose(_program({}), "triton") is None
    assert diagnose(_program({"profile_a": 0.0}), "python") is None


def test_a_failed_program_gets_no_diagnosis():
    failed = _program(H100_SOFTMAX, status=Status.WRONG, fitness=None)
    assert diagnose(failed, "triton") is None


def test_the_line_is_one_line_of_bounded_length():
    metrics = {**H100_SOFTMAX, "ncu_occupancy_pct": 10.0, "ncu_registers": 200.0, "ncu_spills": 9.0, "launches": 7.0}
    line = diagnose(_program(metrics), "cuda")
    assert "\n" not in line and len(line) <= 300

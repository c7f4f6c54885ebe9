"""Failure-aware proposing (issue 20): outcomes per parent and model, the ladder of changes, the stop line."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from agent.config import ModelSpec
from agent.edits import EditError, apply_answer
from agent.failure_memory import Advice, FailureMemory, edit_error_class, outcome_kind
from archives.records import LLMCall, Program, Status
from archives.store import Store

PARENT_SOURCE = """\
import math

# EVOLVE-BLOCK-START
def area(r):
    return 3.14 * r * r


def perimeter(r):
    return 3.14 * r * r
# EVOLVE-BLOCK-END


def main():
    print(area(2.0))
"""
PARENT = Program(id="ab12cd34ef", run_id="r", source=PARENT_SOURCE, status=Status.CORRECT, fitness=1.0)
A, B = ModelSpec(name="openai/a"), ModelSpec(name="openai/b")
_ids = itertools.count(1)


def edit_error(answer: str) -> str:
    """The message agent/edits.py gives for `answer` against the parent, as a proposal stores it."""
    with pytest.raises(EditError) as caught:
        apply_answer(PARENT_SOURCE, answer)
    return f"the edit did not apply: {caught.value}"


OUTSIDE = edit_error("```python\nimport cmath\n\n# EVOLVE-BLOCK-START\ndef area(r):\n    return 3.1416 * r * r\n\n\n"
                     "def perimeter(r):\n    return 3.14 * r * r\n# EVOLVE-BLOCK-END\n\n\ndef main():\n"
                     "    print(area(2.0))\n```")  # fmt: skip


def child(status: str = Status.APPLY_FAILED, *, error: str | None = OUTSIDE, model: str = "openai/a",
          diff: str | None = None, parent: Program = PARENT, proposer: str | None = None,
          answer_format: str | None = None) -> Program:  # fmt: skip
    n = next(_ids)
    proposal = {"role": "draft", "model": model, **({"answer_format": answer_format} if answer_format else {})}
    return Program(
        id=f"c{n:07d}", run_id="r", source="" if status == Status.APPLY_FAILED else f"x = {n}\n",
        parent_id=parent.id, status=status, error=error, diff=diff, proposer=proposer or f"llm:{model}",
        proposal=proposal, seq=n,
    )  # fmt: skip


def fail(memory: FailureMemory, times: int, **kwargs) -> None:
    for _ in range(times):
        memory.record(child(**kwargs))


def test_edit_errors_of_agent_edits_fall_into_their_classes():
    assert edit_error_class(OUTSIDE) == "outside_evolve"
    block = "<<<<<<< SEARCH\n{}\n=======\n{}\n>>>>>>> REPLACE\n"
    assert edit_error_class(edit_error(block.format("    return 2 * r", "    return 3 * r"))) == "search_mismatch"
    assert edit_error_class(edit_error(block.format("    return 3.14 * r * r  ", "    return r"))) == "search_mismatch"
    assert edit_error_class(edit_error("I would rather not change anything.")) == "no_code"
    assert edit_error_class(edit_error("```diff\n-a\n+b\n```")) == "no_code"
    assert edit_error_class(edit_error("```python\ndef area(r):\n    return r\n")) == "malformed"
    assert edit_error_class(edit_error("<<<<<<< SEARCH\n    return 3.14 * r * r\n=======\n")) == "malformed"
    same = block.format("def area(r):\n    return 3.14 * r * r", "def area(r):\n    return 3.14 * r * r")
    assert edit_error_class(edit_error(same)) == "no_change"
    assert edit_error_class("something else entirely") == "other"


def test_outcome_kinds_of_stored_children():
    assert outcome_kind(child(Status.PENDING, error=None)) is None
    assert outcome_kind(child(Status.CORRECT, error=None)) is None
    assert outcome_kind(child()) == "unapplied:outside_evolve"
    assert outcome_kind(child(error="LLM call failed: openai/a: timed out")) == "llm_error"
    assert outcome_kind(child(Status.DUPLICATE, error="same source as program 1234abcd")) == "duplicate"
    assert outcome_kind(child(Status.WRONG, error="output differs")) == "wrong"
    assert outcome_kind(child(Status.ERROR, error="judge error: the harness crashed")) == ""


def test_max_same_is_between_one_and_five():
    for bad in (0, 6):
        with pytest.raises(ValueError, match="max_same"):
            FailureMemory(bad)
    memory = FailureMemory(2)
    fail(memory, 2)
    assert memory.advise(PARENT, (A,), "diff").answer_format == "full"


def test_four_failures_change_nothing_and_the_fifth_switches_the_format():
    memory = FailureMemory()
    fail(memory, 4)
    assert memory.advise(PARENT, (A, B), "diff") == Advice()
    fail(memory, 1)
    advice = memory.advise(PARENT, (A, B), "diff")
    assert advice.answer_format == "full" and advice.model is None and advice.changes == ("format",)
    assert "the edit changes code outside the EVOLVE blocks" in advice.notes[0]
    assert memory.advise(PARENT, (A, B), "full").answer_format == "diff"  # "or back"


def test_then_the_model_changes_to_the_next_of_the_list():
    memory = FailureMemory()
    fail(memory, 10)
    advice = memory.advise(PARENT, (A, B), "diff")
    assert advice.changes == ("format", "model") and advice.model.name == "openai/b"
    assert advice.answer_format == "full"  # what was changed before stays changed


def test_one_model_climbs_every_rung_then_stops_with_one_line():
    memory = FailureMemory()
    seen = []
    for n in range(1, 21):
        fail(memory, 1)
        advice = memory.advise(PARENT, (A,), "diff")
        if advice.changes and (not seen or seen[-1][1] != advice.changes):
            seen.append((n, advice.changes))
        if n < 20:
            assert advice.stop is None
    assert seen == [(5, ("format",)), (10, ("format", "cooler")), (15, ("format", "cooler", "parent"))]
    assert advice.temperature == pytest.approx(0.3) and advice.model.temperature == pytest.approx(0.3)
    assert advice.stop == (
        "stopped: 5 proposals in a row for program ab12cd34 ended 'the edit changes code outside the EVOLVE "
        "blocks', after trying full rewrites, a lower temperature and other parents"
    )
    assert "\n" not in advice.stop


def test_a_success_breaks_the_streak_and_clears_the_parent_flag():
    memory = FailureMemory()
    fail(memory, 4)
    memory.record(child(Status.PENDING, error=None))
    fail(memory, 4)
    assert memory.advise(PARENT, (A,), "diff") == Advice()
    fail(memory, 11)  # 15 in a row since the success: format at 5, cooler at 10, parent at 15
    assert memory.advise(PARENT, (A,), "diff").other_parent
    memory.record(child(Status.CORRECT, error=None))
    advice = memory.advise(PARENT, (A,), "diff")
    assert not advice.other_parent and advice.answer_format == "full"


def test_a_model_failing_alone_is_given_up_while_the_other_succeeds():
    memory = FailureMemory()
    for _ in range(5):
        fail(memory, 1, model="openai/a")
        memory.record(child(Status.PENDING, error=None, model="openai/b"))
    advice = memory.advise(PARENT, (A, B), "diff")
    assert advice.changes == ("format",)  # the first rung of the ladder, for the parent
    fail(memory, 5, model="openai/a")
    advice = memory.advise(PARENT, (A, B), "diff")
    assert advice.model.name == "openai/b"
    assert memory.advise(PARENT, (B, A), "diff").model.name == "openai/b"


def test_failures_spread_over_models_count_for_the_parent():
    memory = FailureMemory()
    for model in ("openai/a", "openai/b", "openai/a", "openai/b", "openai/a"):
        fail(memory, 1, model=model)
    assert memory.advise(PARENT, (A, B), "diff").changes == ("format",)


def test_duplicates_get_the_list_of_what_to_avoid_then_warmer_then_stop():
    memory = FailureMemory()
    values = (1, 2, 3, 4, 5, 6, 7)
    diffs = [f"--- parent\n+++ child\n@@ -5 +5 @@\n-    return 3.14 * r * r\n+    return {k} * r * r\n" for k in values]
    for n in range(20):
        memory.record(child(Status.DUPLICATE, error="same source as program 1234abcd", diff=diffs[n % len(values)]))
        advice = memory.advise(PARENT, (A,), "diff")
        if n == 4:
            assert advice.changes == ("different",) and advice.temperature is None
            assert [a.splitlines()[-1] for a in advice.avoid] == [f"+    return {k} * r * r" for k in (5, 4, 3, 2, 1)]
            assert advice.avoid[0].startswith("Already exists")
        if n == 9:
            assert advice.changes == ("different", "warmer") and advice.temperature == pytest.approx(1.3)
            assert len(advice.avoid) == len(values)  # every duplicate of the parent, not only the newest few
    assert advice.stop == (
        "stopped: 5 proposals in a row for program ab12cd34 ended as duplicates of existing programs, "
        "after trying a list of what to avoid, a higher temperature and other parents"
    )


def test_evaluated_failures_end_with_another_parent_and_never_stop():
    memory = FailureMemory()
    fail(memory, 40, status=Status.WRONG, error="output differs")
    advice = memory.advise(PARENT, (A, B), "diff")
    assert advice.changes == ("model", "cooler", "format", "parent")
    assert advice.other_parent and advice.stop is None


def test_a_pending_child_is_updated_in_place_once_evaluated():
    memory = FailureMemory()
    pending = [child(Status.PENDING, error=None) for _ in range(5)]
    for program in pending:
        memory.record(program)
    assert memory.advise(PARENT, (A, B), "diff") == Advice()
    for program in pending:
        memory.record(replace(program, status=Status.BUILD_FAILED, error="syntax error"))
    advice = memory.advise(PARENT, (A, B), "diff")
    assert advice.model.name == "openai/b" and "in build failures" in advice.notes[0]


def test_judge_errors_and_the_tuner_count_for_nothing():
    memory = FailureMemory()
    fail(memory, 4)
    fail(memory, 3, status=Status.ERROR, error="judge error: the harness crashed")
    fail(memory, 3, proposer="tuner", error="the program has no tunable constants left to change")
    assert memory.advise(PARENT, (A,), "diff") == Advice()
    fail(memory, 1)
    assert memory.advise(PARENT, (A,), "diff").changes == ("format",)


def test_a_resumed_run_rebuilds_the_same_advice_from_the_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        run = store.create_run("t", "t.yaml", "map_elites", 0, {})
        parent = store.add_program(Program(id="ab12cd34ef", run_id=run.id, source=PARENT_SOURCE, proposer="initial"))
        live = FailureMemory()
        for n in range(12):
            program = child(parent=parent, model="openai/a", error=OUTSIDE if n % 6 else "LLM call failed: timeout")
            program = store.add_program(replace(program, run_id=run.id))
            # who really answered is the call's model: the label says a, the call says b for odd children
            answered = "openai/b" if n % 2 else "openai/a"
            store.add_llm_call(LLMCall(id=f"call{n}", run_id=run.id, model=answered, prompt="[]", program_id=program.id,
                                       role="draft"))  # fmt: skip
            live.record(program, answered)
        resumed = FailureMemory()
        resumed.rebuild(store.programs(run.id), store.llm_calls(run.id))
        for models in ((A, B), (B, A), (A,)):
            assert resumed.advise(parent, models, "diff") == live.advise(parent, models, "diff")
        # 5 in a row over both models at n=5 (format), again at n=11: both models failed, so cooler
        assert live.advise(parent, (A, B), "diff").changes == ("format", "cooler")
    finally:
        store.close()


def test_two_models_each_given_their_turn_before_the_stop_names_every_model():
    memory = FailureMemory()
    fail(memory, 10, model="openai/a")  # format at 5, then b instead of a at 10
    assert memory.advise(PARENT, (A, B), "diff").model.name == "openai/b"
    fail(memory, 15, model="openai/b")  # no model left: cooler at 15, parent at 20, stop at 25
    advice = memory.advise(PARENT, (A, B), "diff")
    assert advice.stop == (
        "stopped: 5 proposals in a row for program ab12cd34 ended 'the edit changes code outside the EVOLVE "
        "blocks', after trying full rewrites, every model, a lower temperature and other parents"
    )


def test_a_child_recorded_late_takes_its_place_in_the_order_of_proposals():
    memory = FailureMemory()
    fail(memory, 2)
    late = child(Status.CORRECT, error=None)  # proposed third, recorded only once evaluated
    fail(memory, 3)
    assert memory.advise(PARENT, (A,), "diff").changes == ("format",)  # five failures in a row so far
    memory.record(late)
    assert memory.advise(PARENT, (A,), "diff") == Advice()  # it broke the streak after all


def test_avoids_says_whether_the_last_advice_asked_for_another_parent_brought_up_to_date():
    memory = FailureMemory()
    fail(memory, 15)
    assert not memory.avoids(PARENT.id)  # never advised on: nothing to go by
    assert memory.advise(PARENT, (A,), "diff").other_parent
    assert memory.avoids(PARENT.id)
    memory.record(child(Status.PENDING, error=None))
    assert not memory.avoids(PARENT.id)


MISMATCH = "the edit did not apply: SEARCH/REPLACE block 1 did not apply: its SEARCH part is not in the program."


def answered(memory: FailureMemory, answer_format: str, applied: bool, times: int = 1) -> None:
    """Record `times` answers of model a in `answer_format`, each from a parent of its own."""
    for _ in range(times):
        parent = Program(id=f"p{next(_ids)}", run_id="r", source=PARENT_SOURCE)
        status, error = (Status.PENDING, None) if applied else (Status.APPLY_FAILED, MISMATCH)
        memory.record(child(status, error=error, parent=parent, answer_format=answer_format))


def test_a_model_whose_diffs_fail_half_of_the_time_is_asked_for_whole_programs_from_every_parent():
    memory = FailureMemory()
    answered(memory, "diff", applied=True)
    assert memory.advise(PARENT, (A, B), "diff") == Advice()
    answered(memory, "diff", applied=False)
    advice = memory.advise(PARENT, (A, B), "diff")  # one of two, from two other parents
    assert advice.answer_format == "full" and advice.changes == ("model format",) and advice.notes == ()
    assert memory.advise(PARENT, (B, A), "diff") == Advice()  # the other model's diffs are not in question
    assert memory.advise(PARENT, (A,), "full") == Advice()  # already asked for whole programs
    fail(memory, 2, answer_format="full")  # whole programs fail as often: no format is better
    assert memory.advise(Program(id="new", run_id="r", source=""), (A,), "diff") == Advice()


def test_a_first_answer_that_did_not_apply_switches_the_format_and_a_later_one_does_not():
    memory = FailureMemory()
    answered(memory, "diff", applied=False)
    assert memory.advise(PARENT, (A,), "diff").answer_format == "full"
    reliable = FailureMemory()
    answered(reliable, "diff", applied=True, times=2)
    answered(reliable, "diff", applied=False)
    assert reliable.advise(PARENT, (A,), "diff") == Advice()  # one of three
    answered(reliable, "diff", applied=False)
    assert reliable.advise(PARENT, (A,), "diff").answer_format == "full"  # two of four


def test_the_proposers_format_is_probed_again_and_trusted_after_two_probes_that_apply():
    memory = FailureMemory()
    answered(memory, "diff", applied=False)
    answered(memory, "full", applied=True, times=7)
    assert memory.advise(PARENT, (A,), "diff").changes == ("model format",)
    answered(memory, "full", applied=True)
    probe = memory.advise(PARENT, (A,), "diff")  # 8 whole programs applied since the diff that did not
    assert probe.answer_format is None and probe.changes == ("format probe",)
    answered(memory, "diff", applied=True)
    assert memory.advise(PARENT, (A,), "diff").changes == ("model format",)  # one of two still did not apply
    answered(memory, "full", applied=True, times=8)
    assert memory.advise(PARENT, (A,), "diff").changes == ("format probe",)
    answered(memory, "diff", applied=True)
    assert memory.advise(PARENT, (A,), "diff") == Advice()  # two probes in a row applied: diffs again


def test_each_probe_that_does_not_apply_makes_the_next_wait_longer():
    memory = FailureMemory()
    answered(memory, "diff", applied=False)
    answered(memory, "full", applied=True, times=8)
    assert memory.advise(PARENT, (A,), "diff").changes == ("format probe",)
    answered(memory, "diff", applied=False)
    answered(memory, "full", applied=True, times=15)
    assert memory.advise(PARENT, (A,), "diff").changes == ("model format",)
    answered(memory, "full", applied=True)
    assert memory.advise(PARENT, (A,), "diff").changes == ("format probe",)  # 8 for each of the two failures


def test_a_model_that_repeats_itself_gets_the_long_already_tried_list_for_every_parent():
    memory = FailureMemory()
    fresh = Program(id="fresh", run_id="r", source=PARENT_SOURCE)
    for k in range(2):
        other = Program(id=f"dup-parent{k}", run_id="r", source=PARENT_SOURCE)
        memory.record(child(Status.DUPLICATE, error="same source as program 1234abcd", parent=other,
                            answer_format="diff"))  # fmt: skip
        memory.record(child(Status.PENDING, error=None, parent=other, answer_format="diff"))
    advice = memory.advise(fresh, (A, B), "diff")
    assert advice.tried_limit == 20 and advice.changes == ("model repeats",) and advice.answer_format is None
    assert memory.advise(fresh, (B, A), "diff").tried_limit == 5  # the other model does not repeat itself

"""bench/waste.py reads a run's spend right, and the scripted behaviours answer as documented."""

from __future__ import annotations

import json
from dataclasses import asdict

from archives.records import EvalResult, LLMCall, Program, Status
from archives.store import Store
from bench.waste import WasteRow, longest_failure, merged, read_waste, report, run_behaviour
from tests.fakes.behaviours import NOTHING_NEW, UNUSABLE_SEARCH, Half, Repeater, Stubborn

SOURCE = '# EVOLVE-BLOCK-START\nX = -4.0\n# EVOLVE-BLOCK-END\n\nif __name__ == "__main__":\n    print(X)\n'


def request(prompt: str) -> dict:
    return {"model": "m", "messages": [{"role": "system", "content": "Edit."}, {"role": "user", "content": prompt}]}


def proposal_prompt(source: str = SOURCE, whole: bool = False, extra: str = "") -> str:
    answer = (
        "Then give the complete new program in one fenced code block:\n\n- Send the whole program, not a fragment."
        if whole
        else "Then give the change as one or more SEARCH/REPLACE blocks:"
    )
    program = f"# Current program\nFitness: -49.0\n\n```python\n{source}```\n"
    return f"# Task: t\n\n{program}{extra}\n# Your answer\n{answer}\n"


def test_the_half_behaviours_run_is_read_back_as_the_store_holds_it(tmp_path):
    row = run_behaviour("half", tmp_path / "half", evaluations=4, strategy="pq", model="openai/gpt-4o-mini")

    with Store(f"sqlite:///{tmp_path / 'half' / 'store.db'}") as store:
        run = store.list_runs()[0].run
        programs = store.programs(run.id)
        calls = store.llm_calls(run.id)
        bought = sum(c.cost for p in programs if p.status in Status.EVALUATED for c in store.llm_calls(program_id=p.id))
    assert row.calls == len(calls) and row.calls >= 4
    assert row.dollars == sum(c.cost for c in calls) > 0
    assert 0 < row.evaluated_share < 1
    assert abs(row.evaluated_share - bought / row.dollars) < 1e-9
    assert sum(row.calls_by_outcome.values()) == row.calls
    # Each evaluated program but the initial one was bought by one call; the others failed to apply.
    assert row.evaluations == sum(p.status in Status.EVALUATED for p in programs) == 4
    assert row.calls_by_outcome["evaluated"] == 3
    assert row.calls_by_outcome["apply_failed"] == sum(p.status == Status.APPLY_FAILED for p in programs) >= 1
    assert row.longest_failure >= 1 and row.longest_failure_kind.startswith("apply_failed: the edit did not apply")
    assert row.stop_reason == "finished: budget: evaluations"


def test_a_run_without_the_summarizer_has_no_summary_calls_and_counts_its_format_probe(tmp_path):
    row = run_behaviour("stubborn", tmp_path / "stubborn", evaluations=12, strategy="pq", model="openai/gpt-4o-mini",
                        summarizer="off")  # fmt: skip
    assert row.summarizer == "off" and "summary" not in row.calls_by_outcome
    # Its first SEARCH/REPLACE answer, then whole programs; after 8 of them one probe, which fails again.
    assert row.calls_by_outcome["apply_failed"] == 2 and row.probes == 1 and row.probes_unapplied == 1
    text = report({"after": {"command": "c", "tree": "t", "date": "d", "model": "m", "strategy": "pq",
                             "evaluations": 12, "rows": [asdict(row)]}})  # fmt: skip
    assert "| stubborn, summarizer off | " in text and " | 1 (1 unapplied) | " in text


def test_a_failed_run_is_read_back_with_its_stored_status_and_notes(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store(url) as store:
        run = store.create_run("t", "t.yaml", "pq", 0, {})
        parent = store.add_program(Program(id="p" * 10, run_id=run.id, source="X = 1\n", proposer="initial"))
        store.finish_program(parent.id, EvalResult(Status.CORRECT, fitness=1.0))
        child = store.add_program(Program(id="c" * 10, run_id=run.id, source="", parent_id=parent.id,
                                          status=Status.APPLY_FAILED, error="the edit did not apply: x"))  # fmt: skip
        store.add_llm_call(LLMCall(id="call1", run_id=run.id, model="m", prompt="[]", cost=0.01, program_id=child.id))
        store.set_run_status(run.id, "failed", "stopped: 5 proposals in a row for program pppppppp ended ...")
    row = read_waste(url, "stubborn", None, 1.0, exit_code=1)
    assert row.stop_reason == "failed: stopped: 5 proposals in a row for program pppppppp ended ..."
    assert row.calls_by_outcome == {"apply_failed": 1} and row.evaluated_share == 0.0 and row.exit_code == 1
    text = report({"l": {"command": "c", "tree": "t", "date": "d", "model": "m", "strategy": "pq",
                         "evaluations": 3, "rows": [asdict(row)]}})  # fmt: skip
    assert "| failed: stopped: 5 proposals in a row for program pppppppp ended ... (exit 1) |" in text


def test_longest_failure_counts_the_longest_run_of_one_kind():
    kinds = ["dup", "dup", None, "a", "a", "a", "b", "a", None, "dup"]
    assert longest_failure(kinds) == (3, "a")
    assert longest_failure([None, None]) == (0, "")


def test_labels_are_kept_side_by_side(tmp_path):
    path = tmp_path / "waste.json"
    meta = {"command": "c", "tree": "t", "date": "d", "model": "m", "strategy": "pq", "evaluations": 4}

    def row(share: float) -> WasteRow:
        by_outcome = {"evaluated": 5, "duplicate": 5}
        return WasteRow("half", 10, 0.01, share, 2, "duplicate", by_outcome, 6, "finished: x", 1.0)

    path.write_text(json.dumps(merged(path, "before", [row(0.5)], meta)))
    path.write_text(json.dumps(merged(path, "after", [row(0.97)], meta)))
    results = merged(path, "before", [row(0.4)], meta)  # a label run again replaces its rows
    assert list(results) == ["before", "after"]
    assert results["before"]["rows"][0]["evaluated_share"] == 0.4
    text = report(results)
    assert "## Side by side" in text and "| half | 10 / $0.0100 / 40% / 2 | 10 / $0.0100 / 97% / 2 |" in text


def test_stubborn_breaks_the_rules_until_asked_for_a_whole_program():
    stubborn = Stubborn()
    diff = stubborn(request(proposal_prompt(extra="## Your last attempts on this program failed\n1. outside")))
    assert "<<<<<<< SEARCH\n    print(X)\n" in diff.text
    whole = stubborn(request(proposal_prompt(whole=True)))
    assert "```python\n# EVOLVE-BLOCK-START\nX = -0.499999\n# EVOLVE-BLOCK-END" in whole.text
    assert 'if __name__ == "__main__":\n    print(X)\n```' in whole.text


def test_repeater_repeats_until_its_change_is_listed_as_tried():
    repeater = Repeater()
    assert "X = 2.5\n>>>>>>> REPLACE" in repeater(request(proposal_prompt())).text
    assert "X = 2.0\n>>>>>>> REPLACE" in repeater(request(proposal_prompt(SOURCE.replace("-4.0", "2.5")))).text
    # The parent's own source and other programs' code are not a list of tried changes.
    shown = "\n# Other programs, for inspiration\n\n## Inspiration 1\n```python\nX = 2.5\n```\n"
    assert "X = 2.5\n>>>>>>> REPLACE" in repeater(request(proposal_prompt(extra=shown))).text
    removed = "\n## Already tried on this program\n-X = 2.5\n+X = 7.0\n"  # only an added line is a change tried
    answer = repeater(request(proposal_prompt(SOURCE.replace("-4.0", "7.0"), extra=removed))).text
    assert "X = 2.5\n>>>>>>> REPLACE" in answer
    tried = "\n## Already tried on this program (do not propose again)\n-X = -4.0\n+X = 2.5\n\n-X = -4.0\n+X = 2.0\n"
    assert "X = 2.51\n>>>>>>> REPLACE" in repeater(request(proposal_prompt(extra=tried))).text
    whole = repeater(request(proposal_prompt(whole=True, extra=tried))).text
    assert "```python\n# EVOLVE-BLOCK-START\nX = 2.51\n" in whole


def test_half_alternates_in_search_replace_and_always_answers_a_whole_program_well():
    half = Half()
    answers = [half(request(proposal_prompt())).text for _ in range(4)]
    assert [UNUSABLE_SEARCH in a for a in answers] == [False, True, False, True]
    assert all(UNUSABLE_SEARCH not in half(request(proposal_prompt(whole=True))).text for _ in range(3))


def test_summaries_and_prompts_without_a_program_get_nothing_new():
    summary = "A search keeps a memory of its most promising, mutually different programs.\n```python\nX = 1.0\n```"
    for behaviour in (Stubborn(), Repeater(), Half()):
        assert behaviour(request(summary)).text == NOTHING_NEW
        assert behaviour(request("Say something.")).text == NOTHING_NEW

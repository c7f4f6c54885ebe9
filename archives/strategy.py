"""The ask/tell protocol every search strategy implements.

Lifecycle: the controller builds a strategy from the task's `search` config, calls `rebuild`
once with the run's evaluated programs in evaluation order (empty for a new run, the store's
contents on `--resume`), then loops: `ask(n)` for proposal requests, and `tell(program)` for
each program once it is evaluated (any status; failures are told too, so a strategy can learn
from them). A strategy holds only in-memory state that `rebuild` can recreate; it never
touches the store, the LLM or the sandbox.

Optional hooks the controller calls when a strategy defines them:

- `discard(request)`: the request produced nothing to evaluate (the edit did not apply, the
  child duplicated an existing program, or a budget ran out), so whatever the strategy
  reserved for it (a pending count, a virtual visit) can be released.
- Re-evaluation: a strategy may return a request with `reevaluate=True`; the program is then
  evaluated again and told again (same id, `fitness` the mean of its attempts; see
  archives/repeats.py). Only strategies that ask for re-evaluations see a program twice.

A strategy may also define `snapshot() -> dict`: a JSON-able view of its state (grid and
elites, tree visit counts, queue contents) with a "kind" key. The controller stores the latest
snapshot with the run (`runs.strategy_state`) so the viewer can draw the search's own view.
"""

from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

from archives.records import Insertion, Program, ProposalRequest


@runtime_checkable
class Strategy(Protocol):
    name: str

    def ask(self, n: int) -> list[ProposalRequest]:
        """Return up to `n` requests; fewer (even none) when nothing can be proposed yet."""
        ...

    def tell(self, program: Program) -> Insertion:
        """Record an evaluated program and say what it did to the archive."""
        ...

    def rebuild(self, programs: Iterable[Program]) -> None:
        """Recreate the in-memory state from stored programs, in evaluation order."""
        ...

    def best(self) -> Program | None:
        """The best correct program seen so far."""
        ...

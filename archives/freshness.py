"""How fresh a parent is: the bookkeeping pq and MAP-Elites share for choosing parents.

A parent whose children keep failing or being dropped fades, and so does one with children
still pending (asked for, not yet told), so that concurrent proposals spread over parents:

    freshness = 1 / (1 + 0.25 barren + 0.5 failed + 0.5 pending)

*barren* counts told children that changed nothing (incorrect, or correct but not kept),
*failed* those that did not build or run (`Status.FAILED`).
"""

from __future__ import annotations

from collections import Counter

from archives.records import Program, Status

BARREN_WEIGHT = 0.25
FAILED_WEIGHT = 0.5
PENDING_WEIGHT = 0.5


class Freshness:
    """Per-parent counts of barren, failed and pending children, and the weight they give."""

    def __init__(self) -> None:
        self.barren: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.pending: Counter[str] = Counter()

    def asked(self, parent_id: str) -> None:
        """A child of this parent was asked for."""
        self.pending[parent_id] += 1

    def release(self, parent_id: str | None) -> bool:
        """A child was told, or its request gave nothing: one fewer pending. False when none was
        pending (a resumed run's children, told before any request)."""
        if parent_id is None or self.pending[parent_id] <= 0:
            return False
        self.pending[parent_id] -= 1
        return True

    def incorrect(self, child: Program) -> None:
        """A told child that is not correct counts against its parent."""
        if child.parent_id is not None:
            self.barren[child.parent_id] += 1
            self.failed[child.parent_id] += child.status in Status.FAILED

    def dropped(self, parent_id: str | None) -> None:
        """A correct child was not kept."""
        if parent_id is not None:
            self.barren[parent_id] += 1

    def weight(self, parent_id: str) -> float:
        load = BARREN_WEIGHT * self.barren[parent_id] + FAILED_WEIGHT * self.failed[parent_id]
        return 1.0 / (1.0 + load + PENDING_WEIGHT * self.pending[parent_id])

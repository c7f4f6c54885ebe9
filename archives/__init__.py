"""Search strategies behind one ask/tell protocol, their records, and the lineage store.

Re-exports are lazy, so importing a record does not import SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Program": "archives.records",
    "ProposalRequest": "archives.records",
    "Insertion": "archives.records",
    "LLMCall": "archives.records",
    "Status": "archives.records",
    "Strategy": "archives.strategy",
    "make_strategy": "archives.registry",
    "StrategyError": "archives.registry",
    "MapElites": "archives.map_elites",
    "PriorityQueue": "archives.pq",
    "MCTS": "archives.mcts",
    "Pareto": "archives.pareto",
    "Greedy": "archives.baselines",
    "BestOfN": "archives.baselines",
    "NoveltyIndex": "archives.novelty",
    "Store": "archives.store",
    "StoreError": "archives.store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

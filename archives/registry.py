"""Strategy registry: build the task's search strategy by short name or dotted import path.

`STRATEGIES` maps a short name to the dotted path of its class; a class is imported only when
its strategy is chosen. To add a built-in strategy, add one entry. A user plugin needs no
entry: `search.strategy: "mypkg.module:MyStrategy"` works for any class whose constructor
takes `(config: SearchConfig, rng: random.Random)` and whose instances follow the `Strategy`
protocol (archives/strategy.py).
"""

from __future__ import annotations

import importlib
import inspect
import random
from typing import TYPE_CHECKING

from archives.strategy import Strategy

if TYPE_CHECKING:
    from agent.config import SearchConfig


class StrategyError(Exception):
    """A strategy cannot be built or used as configured; the message is one readable line."""


STRATEGIES: dict[str, str] = {
    "map_elites": "archives.map_elites:MapElites",
    "pq": "archives.pq:PriorityQueue",
    "mcts": "archives.mcts:MCTS",
    "greedy": "archives.baselines:Greedy",
    "best_of_n": "archives.baselines:BestOfN",
}


def make_strategy(config: SearchConfig, rng: random.Random) -> Strategy:
    """Build the strategy `config.strategy` names: a key of STRATEGIES or "package.module:Class"."""
    name = config.strategy
    target = STRATEGIES.get(name, name)
    if ":" not in target:
        known = ", ".join(sorted(STRATEGIES))
        raise StrategyError(
            f"unknown strategy {name!r}: known strategies are {known}, "
            "or give a dotted path 'package.module:Class'"
        )
    cls = _import(target)
    try:
        inspect.signature(cls).bind(config, rng)
    except TypeError:
        raise StrategyError(f"strategy {target!r}: its constructor must take (config, rng)") from None
    except ValueError:  # no signature to inspect (some builtins): let the call decide
        pass
    strategy = cls(config, rng)
    if not isinstance(strategy, Strategy):
        raise StrategyError(
            f"strategy {target!r} does not follow the Strategy protocol "
            "(needs a name and ask, tell, rebuild, best)"
        )
    return strategy


def _import(target: str) -> type:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise StrategyError(f"strategy {target!r}: expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StrategyError(f"strategy {target!r}: cannot import {module_name!r}: {exc}") from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise StrategyError(f"strategy {target!r}: {module_name!r} has no {attr!r}") from None
    if not callable(obj):
        raise StrategyError(f"strategy {target!r}: {attr!r} is not a class")
    return obj

"""Strategy registry: build the task's search strategy by short name or dotted import path.

`STRATEGIES` maps a short name to the dotted path of its class; a class is imported only when
its strategy is chosen. To add a built-in strategy, add one entry. A user plugin needs no
entry: `search.strategy: "mypkg.module:MyStrategy"` (or the name of an `evoforge.strategies`
entry point) works for any class whose constructor takes `(config: SearchConfig,
rng: random.Random)` and whose instances follow the `Strategy` protocol (archives/strategy.py).
Names are resolved by the plugin registry (agent/plugins.py). A class with a `config_model`
(a pydantic model) gets its own options, validated from `search.options`, as `config.options`.
"""

from __future__ import annotations

import inspect
import random
from typing import TYPE_CHECKING

from archives.strategy import Strategy

if TYPE_CHECKING:
    from archives.options import SearchConfig


class StrategyError(Exception):
    """A strategy cannot be built or used as configured; the message is one readable line."""


STRATEGIES: dict[str, str] = {
    "map_elites": "archives.map_elites:MapElites",
    "pq": "archives.pq:PriorityQueue",
    "mcts": "archives.mcts:MCTS",
    "pareto": "archives.pareto:Pareto",
    "greedy": "archives.baselines:Greedy",
    "best_of_n": "archives.baselines:BestOfN",
}


def make_strategy(config: SearchConfig, rng: random.Random) -> Strategy:
    """Build the strategy `config.strategy` names: a key of STRATEGIES, "package.module:Class",
    or an entry point of the `evoforge.strategies` group (resolved by agent/plugins.py)."""
    from agent.plugins import PluginError, resolve  # a standard-library-only module

    try:
        cls = resolve("strategies", config.strategy)
    except PluginError as exc:
        raise StrategyError(str(exc)) from None
    target = STRATEGIES.get(config.strategy, config.strategy)
    if not callable(cls):
        raise StrategyError(f"strategy {target!r}: {target.rpartition(':')[2]!r} is not a class")
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

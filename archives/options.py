"""The search section of a task file: the options of the built-in strategies, validated.

These models belong to the strategies (archives/), so they live here; agent/config.py puts
them under `search:` in the task file and re-exports them. Like every config model they
forbid unknown keys, so a typo is an error that names the key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class DescriptorSpec(_Model):
    name: str = Field(min_length=1)
    """A metric the evaluator reports (or a built-in: "lines", "diversity")."""
    low: float | None = None
    high: float | None = None
    """The range split into `bins`; values outside fall into the end bins."""
    bins: int = Field(8, ge=1, le=1000)
    log: bool = False
    """Space the bins logarithmically (both bounds must then be positive)."""


class MapElitesConfig(_Model):
    descriptors: tuple[DescriptorSpec, ...] = ()
    """Behaviour descriptors of the grid; empty: the first two numeric metrics the evaluator
    reports other than the score (combined_score, score, fitness), else the built-in "lines"
    and "diversity"."""
    exploit_ratio: float = Field(0.7, ge=0, le=1)
    """Chance a parent is drawn from the best elites rather than from all filled cells."""
    selection: Literal["ranked", "uniform"] = "ranked"
    """How the other parents are drawn from the filled cells: "uniform": each filled cell
    alike; "ranked": weighted 1/sqrt(fitness rank) and by freshness."""
    elite_pool: int = Field(5, ge=1)
    """How many top elites exploitation draws from."""
    inspirations: int = Field(2, ge=0, le=10)
    """How many other elites are shown to the LLM beside the parent."""
    islands: int = Field(1, ge=1, le=64)
    """Separate grids that evolve on their own and exchange elites; 1: no islands."""
    migration_interval: int = Field(25, ge=1)
    """With islands: migrate after every this many correct programs."""
    migrants: int = Field(2, ge=0)
    """With islands: how many of its fittest elites each island sends to the next one."""


class PQConfig(_Model):
    """The priority queue with an epsilon-net memory (archives/pq.py)."""

    capacity: int = Field(8, ge=1)
    """Most programs kept in the memory; beyond it one leaves (see `eviction`). Small, so that
    exploration returns to each member often (bench/results/strategies.md: with 32 the deceptive
    task's false peak was left in 7 of 10 runs, with 8 in 10 of 10)."""
    epsilon: float | Literal["auto"] = "auto"
    """A program joins the memory only if farther than this from every member; otherwise it
    replaces its nearest member when its mean is higher. "auto": the smallest distance between
    two members once the memory is full (the memory keeps its most mutually distant programs)."""
    distance: Literal["auto", "code", "descriptors"] = "auto"
    """"code": 1 - Jaccard similarity of token shingles (MinHash); "descriptors": scaled
    Euclidean distance of the behaviour descriptors (the metrics when there are none); "auto":
    descriptors where both programs report descriptors or metrics, else the same distance over
    the programs' numeric constants (archives/constants.py), else code."""
    eviction: Literal["crowding", "fitness"] = "crowding"
    """Who leaves a full memory: "crowding": the worse of the two closest members;
    "fitness": the lowest mean."""
    pool: int = Field(4, ge=1)
    """While exploring (see `explore_patience`), the parents not drawn for exploration come from
    this many members with the highest mean fitness (weighted 1/rank)."""
    climb_pool: int = Field(1, ge=1)
    """The same while the best still rises clearly (1: always the leader, as greedy)."""
    explore_share: float = Field(0.5, ge=0, le=1)
    """Share of parents drawn uniformly from all members (freshness-weighted) instead of from
    the `pool` best while the search stagnates: the budget for exploring different programs."""
    explore_patience: int = Field(50, ge=0)
    """Exploration starts once this many evaluations passed without the best mean rising by
    more than 1% of the spread of the members' means; 0: always explore."""
    confidence: float = Field(1.0, ge=0)
    """Width of the confidence bounds in standard errors (mean ± confidence * sd / sqrt(n))."""
    max_evaluations: int = Field(3, ge=1, le=100)
    """Most evaluations of one program when evaluations are noisy; 1: never repeat."""
    reevaluate_share: float = Field(0.1, ge=0, le=1)
    """Most of the evaluations that may go to repeats."""
    summarize_every: int = Field(10, ge=0)
    """With an LLM: summarize the memory into recommendations for the prompts after every this
    many evaluations; 0: never."""
    summary_notes: int = Field(4, ge=1, le=20)
    """Most recommendations a summary may give."""


class MCTSConfig(_Model):
    """Monte Carlo tree search over the lineage (archives/mcts.py)."""

    selection: Literal["uct", "puct"] = "uct"
    """How a child is chosen on the way down: UCT, or PUCT with a uniform prior."""
    exploration: float = Field(0.1, ge=0)
    """The exploration constant c of UCT / PUCT (values are scaled to [0, 1])."""
    widening: float = Field(2.0, gt=0)
    """Progressive widening: a node with N visits may have ceil(widening * N ** exponent) children."""
    widening_exponent: float = Field(0.5, ge=0, le=1)
    """Progressive widening exponent (0: at most `widening` children per node)."""


class NoveltyConfig(_Model):
    """Rejection of duplicate proposals before they are evaluated (agent/controller.py)."""

    similarity: float | None = Field(1.0, gt=0, le=1)
    """A proposal at least this similar to a pending or correct program (Jaccard over token
    shingles, comments and spacing ignored) is not evaluated. 1.0 rejects programs that differ
    only in comments and spacing; lower values also reject small edits (e.g. 0.95), and with
    them the tuner's one-constant changes of long programs. None: exact copies only."""
    shingle: int = Field(3, ge=1, le=20)
    """Tokens per shingle."""


class SearchConfig(_Model):
    strategy: str = "pq"
    """A strategy name ("pq", "map_elites", "mcts", "pareto", "greedy", "best_of_n"), a dotted import
    path "package.module:Class" or an installed `evoforge.strategies` entry point. The default
    is chosen from bench/results/strategies.md."""
    options: Any = None
    """The options of a strategy that declares its own `config_model` (a plugin's), validated
    by that model when the run is built and then given to it as `config.options`."""
    seed: int = 0
    """Seeds the run's random choices (parents, models, tuner)."""
    map_elites: MapElitesConfig = MapElitesConfig()
    pq: PQConfig = PQConfig()
    mcts: MCTSConfig = MCTSConfig()
    novelty: NoveltyConfig = NoveltyConfig()

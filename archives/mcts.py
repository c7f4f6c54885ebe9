"""Monte Carlo tree search over LLM edits: nodes are programs, edges are edits.

The tree is the run's lineage: the initial program is the root and every evaluated program
hangs under its parent. One search step is three small functions, in the manner of mctx:

- `select` walks down from the root. At each node it stops to *expand* (ask for a new child
  of that node) while progressive widening allows another child:
  ``children + pending < ceil(widening * visits ** widening_exponent)``, so a node gets more
  children as it is visited more. Otherwise it descends into the child with the highest
  score: UCT, ``q + c * sqrt(ln N / n)``, or PUCT with a uniform prior,
  ``q + c * sqrt(N) / ((1 + n) * children)``. Failed programs are leaves that are never
  expanded; a node whose every child failed is widened past its limit.
- `expand` is the proposer's job: the request names the node as parent. Requests in flight
  count as visits of every node on their path (a virtual loss), so concurrent asks spread.
- `backup` adds the evaluated child and walks up to the root: every ancestor gains a visit and
  keeps the *best* fitness found below it. `q` is the rank of that best among all correct
  fitness values seen, in (0, 1] (failed subtrees count 0): ranks, not raw values, so one
  disastrous program or a wide range of fitness does not flatten the differences between the
  good ones, and the exploration constant means the same on every task. Because a node is valued
  by the best below it, a path through a temporarily worse program stays attractive once
  something good is found under it: non-monotone improvements are the point.

Selection is deterministic (ties go to the earlier child), so the same programs told in the
same order rebuild the same tree and the same asks.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Iterable

from archives.records import Insertion, Program, ProposalRequest


@dataclass
class Node:
    """One program in the tree and its search statistics."""

    program: Program
    parent: str | None
    children: list[str] = field(default_factory=list)
    visits: int = 1  # programs told in this subtree, itself included
    best: float | None = None  # best correct fitness in this subtree
    pending: int = 0  # requests for children of this node in flight
    inflight: int = 0  # requests in flight anywhere in this subtree (virtual visits)
    terminal: bool = False  # a failed program: never expanded


@dataclass
class Tree:
    nodes: dict[str, Node] = field(default_factory=dict)
    root: str | None = None
    values: list[float] = field(default_factory=list)  # every correct fitness seen, sorted

    def q(self, node: Node) -> float:
        """The rank of the best fitness below `node` among all correct fitness values, in
        (0, 1]; 0 when nothing below is correct."""
        if node.best is None or not self.values:
            return 0.0
        return bisect.bisect_right(self.values, node.best) / len(self.values)

    def path_to(self, node_id: str) -> list[str]:
        """Node ids from the root down to `node_id`."""
        path = []
        current: str | None = node_id
        while current is not None:
            path.append(current)
            current = self.nodes[current].parent
        return path[::-1]


@dataclass(frozen=True)
class Params:
    exploration: float
    widening: float
    widening_exponent: float


Score = Callable[[Tree, Node, Node, Params], float]
"""Scores a child for descent: (tree, parent node, child node, params) -> float."""


def uct(tree: Tree, parent: Node, child: Node, p: Params) -> float:
    n = child.visits + child.inflight
    total = max(1, parent.visits + parent.inflight)
    return tree.q(child) + p.exploration * math.sqrt(math.log(total) / n) if total > 1 else tree.q(child)


def puct(tree: Tree, parent: Node, child: Node, p: Params) -> float:
    n = child.visits + child.inflight
    total = parent.visits + parent.inflight
    prior = 1.0 / len(parent.children)
    return tree.q(child) + p.exploration * prior * math.sqrt(total) / (1 + n)


SCORES: dict[str, Score] = {"uct": uct, "puct": puct}


def widening_limit(visits: int, p: Params) -> int:
    """How many children a node visited `visits` times may have."""
    return max(1, math.ceil(p.widening * visits**p.widening_exponent))


def can_expand(node: Node, p: Params) -> bool:
    return not node.terminal and len(node.children) + node.pending < widening_limit(node.visits + node.inflight, p)


def select(tree: Tree, p: Params, score: Score) -> tuple[list[str], str]:
    """The path from the root to the node to expand, and how it was chosen.

    At each node the options are its open children and, while widening allows, a new child of
    the node itself: a virtual child valued at the node's own fitness rank and visited as
    often as the node has children. The highest score wins; a node with no open child widens.
    """
    assert tree.root is not None
    path = [tree.root]
    node = tree.nodes[tree.root]
    while True:
        open_children = [c for c in node.children if not tree.nodes[c].terminal]
        widen = can_expand(node, p)
        if not open_children:
            return path, "widen" if widen else "all children failed"
        scores = [score(tree, node, tree.nodes[c], p) for c in open_children]
        best = max(scores)
        if widen and score(tree, node, _new_child(node), p) >= best:
            return path, "widen"
        child = open_children[scores.index(best)]
        path.append(child)
        node = tree.nodes[child]


def _new_child(node: Node) -> Node:
    """The "new child" option of `node`, as a node to score."""
    own = node.program.fitness if node.program.is_correct else None
    return Node(node.program, None, visits=1 + len(node.children) + node.pending, best=own)


def add_pending(tree: Tree, path: list[str], delta: int) -> None:
    """Count a request in flight (+1) or done (-1) at the end of `path` and along it."""
    tree.nodes[path[-1]].pending = max(0, tree.nodes[path[-1]].pending + delta)
    for nid in path:
        tree.nodes[nid].inflight = max(0, tree.nodes[nid].inflight + delta)


def backup(tree: Tree, node_id: str) -> None:
    """Propagate a new leaf to its ancestors: one more visit, and the best fitness below."""
    leaf = tree.nodes[node_id]
    current = leaf.parent
    while current is not None:
        node = tree.nodes[current]
        node.visits += 1
        if leaf.best is not None and (node.best is None or leaf.best > node.best):
            node.best = leaf.best
        current = node.parent


class MCTS:
    """The "mcts" strategy (see the module docstring)."""

    name = "mcts"

    def __init__(self, config: Any, rng: random.Random) -> None:
        cfg = config.mcts
        self.config = cfg
        self._params = Params(cfg.exploration, cfg.widening, cfg.widening_exponent)
        self._score = SCORES[cfg.selection]
        self._rng = rng  # selection is deterministic; kept for the protocol
        self._reset()

    def _reset(self) -> None:
        self.tree = Tree()
        self._best: Program | None = None
        self._told = 0

    # ---- ask / tell ---------------------------------------------------------------------------

    def tell(self, program: Program) -> Insertion:
        tree = self.tree
        if program.id in tree.nodes:  # told again (a repeat evaluation): nothing to add
            return Insertion("not_added")
        self._told += 1
        parent = program.parent_id
        if tree.root is None:
            parent = None
        elif parent not in tree.nodes:
            parent = tree.root  # a program from outside this tree: hang it under the root
        fitness = float(program.fitness) if program.is_correct else None  # type: ignore[arg-type]
        node = Node(program, parent, best=fitness, terminal=fitness is None and parent is not None)
        tree.nodes[program.id] = node
        if parent is None:
            tree.root = program.id
        else:
            tree.nodes[parent].children.append(program.id)
            if tree.nodes[parent].pending > 0:
                add_pending(tree, tree.path_to(parent), -1)
        if fitness is not None:
            bisect.insort(tree.values, fitness)
            if self._best is None or fitness > self._best.fitness:  # type: ignore[operator]
                self._best = program
        backup(tree, program.id)
        if fitness is None:
            return Insertion("not_added")
        return Insertion("added")

    def discard(self, request: ProposalRequest) -> None:
        pid = request.parent.id
        if pid in self.tree.nodes and self.tree.nodes[pid].pending > 0:
            add_pending(self.tree, self.tree.path_to(pid), -1)

    def ask(self, n: int) -> list[ProposalRequest]:
        if n <= 0 or self.tree.root is None:
            return []
        requests = []
        for _ in range(n):
            path, why = select(self.tree, self._params, self._score)
            add_pending(self.tree, path, +1)
            requests.append(self._request(path, why))
        return requests

    def _request(self, path: list[str], why: str) -> ProposalRequest:
        node = self.tree.nodes[path[-1]]
        shown = " > ".join(nid[:8] for nid in path[-4:])
        more = "... > " if len(path) > 4 else ""
        value = "nothing correct below" if node.best is None else f"best below {node.best:.4g}"
        limit = widening_limit(node.visits + node.inflight - 1, self._params)
        reason = (
            f"mcts: path {more}{shown} (depth {len(path) - 1}); expand {path[-1][:8]}: {why}, "
            f"{len(node.children)} children + {node.pending - 1} pending of {limit}, "
            f"{node.visits} visits, {value}"
        )
        return ProposalRequest(node.program, reason=reason, island=node.program.island, extra={"path": path})

    def rebuild(self, programs: Iterable[Program]) -> None:
        self._reset()
        for program in programs:
            self.tell(program)

    def best(self) -> Program | None:
        return self._best

    # ---- the viewer's view --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The tree for the viewer.

        ``{"kind": "mcts", "root": id | None, "selection": "uct" | "puct", "params":
        {"exploration", "widening", "widening_exponent"}, "nodes": [{"id", "parent",
        "visits", "pending", "inflight", "best", "q", "fitness", "terminal", "children"
        (list of ids)}, ...] in the order told, "best": id | None, "told": int}``.
        """
        tree = self.tree
        return {
            "kind": "mcts",
            "root": tree.root,
            "selection": self.config.selection,
            "params": {
                "exploration": self._params.exploration,
                "widening": self._params.widening,
                "widening_exponent": self._params.widening_exponent,
            },
            "nodes": [
                {
                    "id": nid,
                    "parent": node.parent,
                    "visits": node.visits,
                    "pending": node.pending,
                    "inflight": node.inflight,
                    "best": node.best,
                    "q": tree.q(node),
                    "fitness": node.program.fitness if node.program.is_correct else None,
                    "terminal": node.terminal,
                    "children": list(node.children),
                }
                for nid, node in tree.nodes.items()
            ],
            "best": None if self._best is None else self._best.id,
            "told": self._told,
        }

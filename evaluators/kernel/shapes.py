"""The module-level integers a KernelBench problem's inputs depend on, and shapes made by changing them.

A KernelBench file sets its sizes in module-level assignments that `get_inputs()` and
`get_init_inputs()` read: `N = 2048 * 2`, `h = w = 256`, `M, N = 8192, 4096`,
`input_shape = (32768,)`, `dim = hidden * 4`. This module reads them without running the file
(no torch): each assignment is evaluated by a small constant evaluator, and every maximal
constant integer sub-expression of an assignment the inputs depend on (`2048 * 2`, the `32768`
inside `(32768,)`, the `4` of `hidden * 4`) is a *leaf*.

A shape is made by a mapping of leaf *values* (e.g. every leaf over 64 becomes 64). Mapping by
value keeps equal sizes equal wherever they are written: `level1/100_HingeLoss` has
`batch_size = 32768` and `input_shape = (32768,)`, and its forward broadcasts a (batch, n)
tensor with a (batch,) one, so it only works while both stay equal; shrinking the name alone
(as the first version of new-task did) left the tuple at 32768 and broke it.

`shape_for(mapping)` returns what the judge must set (kernel.cpu_shape, odd_shapes): the
names whose values change and that the judge would not compute again by itself. The judge
(evaluators/kernel/inputs.set_shape) sets those names, then runs again, in file order, every
module-level assignment that reads a changed name and assigns no set one; that rule is
simulated here, and every name it would get wrong is set explicitly.

Used by `agent new-task` (which writes a task's cpu_shape and odd_shapes) and by the judge
(further_shapes.py: further shapes of its own when a task names none), so it imports no torch.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping

Value = Any  # int, float, bool, str, None, or a tuple/list of those
_INPUT_FUNCTIONS = ("get_inputs", "get_init_inputs")


class _Unknown(Exception):
    """The expression is not a constant this evaluator understands (a call, an attribute, ...)."""


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
    ast.Div: operator.truediv, ast.Mod: operator.mod, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
}
_CALLS: dict[str, Callable[..., Any]] = {"int": int, "max": max, "min": min, "abs": abs, "tuple": tuple, "list": list}


def _has_names(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) for n in ast.walk(node))


def _is_int(value: Any) -> bool:
    return type(value) is int


def _evaluate(node: ast.AST, env: Mapping[str, Value], mapping: Mapping[int, int], leaves: list[int] | None) -> Value:
    """The value of `node`; each maximal constant integer sub-expression goes through `mapping`
    (and is appended to `leaves` when given)."""
    if not _has_names(node) and not isinstance(node, (ast.Tuple, ast.List)):
        try:
            value = _fold(node, {}, {}, None)
        except _Unknown:
            value = None
        if _is_int(value):
            if leaves is not None:
                leaves.append(value)
            return mapping.get(value, value)
    return _fold(node, env, mapping, leaves)


def _fold(node: ast.AST, env: Mapping[str, Value], mapping: Mapping[int, int], leaves: list[int] | None) -> Value:
    def sub(child: ast.AST) -> Value:
        return _evaluate(child, env, mapping, leaves)

    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool, str, type(None))):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise _Unknown(node.id)
        return env[node.id]
    if isinstance(node, ast.Tuple):
        return _sequence(node, sub)
    if isinstance(node, ast.List):
        return list(_sequence(node, sub))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = sub(node.operand)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp):
        left, right = sub(node.left), sub(node.right)
        try:
            if isinstance(node.op, ast.Pow):
                if not (isinstance(right, (int, float)) and abs(right) <= 64):
                    raise _Unknown("power")
                return left ** right
            if type(node.op) in _BINARY:
                return _BINARY[type(node.op)](left, right)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise _Unknown(str(exc)) from None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS and not node.keywords:
        try:
            return _CALLS[node.func.id](*[sub(a) for a in node.args])
        except (TypeError, ValueError) as exc:
            raise _Unknown(str(exc)) from None
    raise _Unknown(type(node).__name__)


def _sequence(node: ast.Tuple | ast.List, sub: Callable[[ast.AST], Value]) -> tuple:
    out: list[Value] = []
    for element in node.elts:
        if isinstance(element, ast.Starred):
            value = sub(element.value)
            if not isinstance(value, (tuple, list)):
                raise _Unknown("starred")
            out.extend(value)
        else:
            out.append(sub(element))
    return tuple(out)


@dataclass(frozen=True)
class Assignment:
    """One module-level assignment statement."""

    node: ast.Assign | ast.AnnAssign
    targets: tuple[ast.expr, ...]
    names: frozenset[str]  # every name it assigns
    reads: frozenset[str]  # every name its value reads


def _assignments(tree: ast.Module) -> list[Assignment]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = tuple(node.targets)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = (node.target,)
        else:
            continue
        names = frozenset(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        reads = frozenset(n.id for n in ast.walk(node.value) if isinstance(n, ast.Name))
        found.append(Assignment(node, targets, names, reads))
    return found


def _bind(target: ast.expr, value: Value, env: dict[str, Value]) -> None:
    if isinstance(target, ast.Name):
        env[target.id] = value
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (tuple, list)) \
            and len(value) == len(target.elts) and not any(isinstance(e, ast.Starred) for e in target.elts):
        for element, item in zip(target.elts, value):
            _bind(element, item, env)
    else:
        raise _Unknown("target")


def _forget(target: ast.expr, env: dict[str, Value]) -> None:
    for n in ast.walk(target):
        if isinstance(n, ast.Name):
            env.pop(n.id, None)


class ProblemShapes:
    """The sizes of one KernelBench problem file, read from its source."""

    def __init__(self, tree: ast.Module) -> None:
        self._assignments = _assignments(tree)
        self.depends_on = self._input_dependencies(tree)
        self._relevant = [a for a in self._assignments if a.names & self.depends_on]
        self.values = self._run({})
        leaves: list[int] = []
        self._run({}, leaves)
        self.leaves = tuple(sorted(set(leaves)))
        """Every integer constant (value) written in an assignment the inputs depend on."""
        self.batch_leaves = frozenset(v for a in self._relevant if any("batch" in n.lower() for n in a.names)
                                      for v in self._leaves_of(a))
        """The constants written in assignments to a batch size (`batch_size = 16`): shrinkable to 1."""

    def _leaves_of(self, assignment: Assignment) -> list[int]:
        leaves: list[int] = []
        try:
            _evaluate(assignment.node.value, self.values, {}, leaves)
        except _Unknown:
            pass
        return leaves

    def _input_dependencies(self, tree: ast.Module) -> frozenset[str]:
        """Module-level names get_inputs()/get_init_inputs() read, directly or through other names."""
        assigned = {name for a in self._assignments for name in a.names}
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in _INPUT_FUNCTIONS]
        wanted = {n.id for f in functions for n in ast.walk(f) if isinstance(n, ast.Name)} & assigned
        while True:
            more = {r for a in self._assignments if a.names & wanted for r in a.reads} & assigned
            if more <= wanted:
                return frozenset(wanted)
            wanted |= more

    def _run(self, mapping: Mapping[int, int], leaves: list[int] | None = None) -> dict[str, Value]:
        """The final values of the names the inputs depend on, with constants mapped."""
        env: dict[str, Value] = {}
        for assignment in self._relevant:
            try:
                value = _evaluate(assignment.node.value, env, mapping, leaves)
                for target in assignment.targets:
                    _bind(target, value, env)
            except _Unknown:
                for target in assignment.targets:
                    _forget(target, env)
        return {k: v for k, v in env.items() if k in self.depends_on}

    def values_under(self, mapping: Mapping[int, int]) -> dict[str, Value]:
        return self._run(mapping)

    def shrinkable(self, value: int) -> bool:
        """Sizes (constants of at least SHRINK_FROM, or a batch size); kernel sizes, strides,
        paddings and small channel counts are kept."""
        return value >= SHRINK_FROM or value in self.batch_leaves

    def cap_mapping(self, cap: int) -> dict[int, int]:
        """Every size over `cap` becomes `cap` (equal constants stay equal; the others are kept)."""
        return {v: cap for v in self.leaves if v > cap and self.shrinkable(v)}

    def odd_mapping(self, base: Mapping[int, int], k: int, vary: Callable[[int], bool]) -> dict[int, int]:
        """The CPU shape's mapping `base`, then the sizes (`shrinkable`) that `vary` picks (by their
        original value) made smaller by ODD_RULES[k]. A size the CPU shape made tiny, like a batch of
        1, gets a tiny size that is not a power of two instead, still below the original. Kernel
        sizes, strides, paddings and the like are the operator's parameters, not its shape: kept."""
        _, rule, spread = ODD_RULES[k]
        out: dict[int, int] = {}
        seen: dict[int, int] = {}  # CPU size -> how many original sizes mapped to it so far
        for v in self.leaves:  # ascending
            at_cpu = base.get(v, v)
            new = at_cpu
            if self.shrinkable(v) and vary(v):
                index = seen.get(at_cpu, 0)
                seen[at_cpu] = index + 1
                if at_cpu < MIN_VARIED:
                    if at_cpu != v:
                        new = _small_odd(at_cpu, v, k + index)
                else:
                    smaller = rule(at_cpu) - spread * index
                    while smaller > 3 and is_power_of_two(smaller):
                        smaller -= 1
                    if 3 <= smaller < at_cpu and not is_power_of_two(smaller):
                        new = smaller
            if new != v:
                out[v] = new
        return out

    def proportional_mapping(self, factor: int) -> dict[int, int]:
        """Every size divided by `factor` (at least 1): sizes keep their proportions, for files whose
        operator needs them (a LayerNorm over out_channels that equals twice the width)."""
        return {v: max(1, round(v / factor)) for v in self.leaves if self.shrinkable(v) and factor > 1}

    def shape_for(self, mapping: Mapping[int, int]) -> dict[str, Value]:
        """The names (and values) the judge must set so the file's sizes become `mapping`'s.

        Names the judge computes again from set ones (`dim = hidden * 4` after `hidden`) are left
        out; every other name whose value changes is set, in file order.
        """
        wanted = self.values_under(mapping)
        changed = {k for k, v in wanted.items() if v != self.values.get(k)}
        fixed: set[str] = set()
        for assignment in self._relevant:  # constants written in the statement itself changed: set it
            leaves: list[int] = []
            try:
                _evaluate(assignment.node.value, {**self.values, **wanted}, {}, leaves)
            except _Unknown:
                continue
            if any(mapping.get(v, v) != v for v in leaves):
                fixed |= assignment.names & changed
        while True:
            derived = self._as_the_judge_derives({k: wanted[k] for k in fixed})
            wrong = {k for k in changed - fixed if derived.get(k) != wanted[k]}
            if not wrong:
                break
            fixed |= wrong
        order = [name for a in self._relevant for t in a.targets for name in _target_names(t)]
        return {name: plain(wanted[name]) for name in dict.fromkeys(order) if name in fixed}

    def values_after(self, shape: Mapping[str, Value]) -> dict[str, Value]:
        """The values of the names the inputs depend on once the judge has set `shape`."""
        return {k: v for k, v in self._as_the_judge_derives(shape).items() if k in self.depends_on}

    def _as_the_judge_derives(self, shape: Mapping[str, Value]) -> dict[str, Value]:
        """The values after evaluators/kernel/inputs.set_shape(shape): the shape's names set, then
        the assignments that read a changed name (and assign no set one) run again in file order."""
        env = dict(self.values)
        env.update(shape)
        changed, fixed = set(shape), set(shape)
        for assignment in self._assignments:
            if isinstance(assignment.node, ast.Assign) and assignment.reads & changed and not assignment.names & fixed:
                try:
                    value = _evaluate(assignment.node.value, env, {}, None)
                    for target in assignment.targets:
                        _bind(target, value, env)
                except _Unknown:
                    for target in assignment.targets:
                        _forget(target, env)
                changed |= assignment.names
        return env


def _target_names(target: ast.expr) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def plain(value: Value) -> Value:
    """Tuples as lists (how task.yaml writes them; the judge turns them back into tuples)."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


# ----- mappings -----------------------------------------------------------------------------------

SHRINK_FROM = 16
"""Constants under this are kept at the CPU shape (kernel sizes, strides, paddings, a few
channels), except batch sizes."""
MIN_VARIED = 8
"""CPU sizes under this are varied for further shapes only if the CPU shape shrank them."""


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _odd_below(x: float) -> int:
    n = max(1, int(x))
    return n if n % 2 else max(1, n - 1)


def _three_quarters(v: int) -> int:
    if v % 4 == 0:
        return 3 * v // 4
    n = v - 1
    while n > 2 and is_power_of_two(n):
        n -= 1
    return n


def _five_eighths(v: int) -> int:
    return 5 * v // 8 if v % 8 == 0 else _three_quarters(v)


ODD_RULES: tuple[tuple[str, Callable[[int], int], int], ...] = (
    ("odd sizes", lambda v: _odd_below(0.75 * v), 2),
    ("3/4 of each size", _three_quarters, 4),
    ("3/4 of each size, in proportion", _three_quarters, 0),
    ("5/8 of each size, in proportion", _five_eighths, 0),
    ("odd sizes, about half", lambda v: _odd_below(0.5 * v), 2),
)
"""How further shapes are made from the CPU shape's sizes: (label, rule, spread). A CPU size `v`
becomes `rule(v) - spread * i`, where `i` numbers the different original sizes that the CPU shape
made equal (so M=1024 and N=4096, both 64 at the CPU shape, become 47 and 45: a kernel that
mixes them up fails); without spread, sizes keep their proportions (channels stay divisible by
a group count). Each gives smaller sizes that are not powers of two."""


def _small_odd(at_cpu: int, original: int, k: int) -> int:
    """The k-th size above a tiny CPU size (e.g. a batch of 1) that is not a power of two, below the original."""
    n, found = at_cpu, -1
    while found < k:
        n += 1
        if n >= original:
            return at_cpu
        if n >= 3 and not is_power_of_two(n):
            found += 1
    return n

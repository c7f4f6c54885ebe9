"""Further shapes for the correctness checks: smaller, with sizes that are not powers of two.

A kernel can be right at the benchmark shape alone (it bakes the shape's sizes in, or checks
`x.shape` and returns anything otherwise). `candidates` proposes shapes made from a base shape by
shapes.ODD_RULES, over fewer and fewer sizes (`scopes`: a group count or a pooled dimension can
refuse a size); `agent new-task` keeps the first two the reference runs at as a task's
odd_shapes. When a task names none, the judge calls `derive` for its own, from the reference's
module-level sizes: each varied size is also lowered by a few secret steps (from the judgement's
seed; rules that keep proportions are left alone), so a candidate cannot list the shapes it will
be checked at. The judge runs the reference at each in turn and skips, with a note, any the
reference fails at: such a shape is never charged to the candidate.

No torch here: the agent (new-task) imports it too.
"""

from __future__ import annotations

import ast
import json
from typing import Any, Callable, Iterator, Mapping

from evaluators.kernel.shapes import MIN_VARIED, ODD_RULES, SHRINK_FROM, ProblemShapes, is_power_of_two, plain

CANNOT = "the shape cannot be varied"
MAX_DERIVED = 8  # shapes the judge may try (the reference refusing some) to check the candidate at two
Adjust = Callable[[dict[int, int], int, Mapping[int, int]], dict[int, int]]


def key(shape: Mapping[str, Any]) -> str:
    return json.dumps(shape, sort_keys=True)


def shown(shape: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in shape.items())


def scopes(shapes: ProblemShapes, base: Mapping[int, int]) -> list[tuple[str, Callable[[int], bool]]]:
    """Which sizes a further shape varies, tried in turn: all of them first, then fewer."""
    found: list[tuple[str, Callable[[int], bool]]] = [
        ("every size", lambda v: True),
        ("sizes of 16 or more", lambda v: base.get(v, v) >= 16),
        ("the shrunk sizes", lambda v: base.get(v, v) != v),
    ]
    alone = sorted((v for v in shapes.leaves if shapes.shrinkable(v)), key=lambda v: -base.get(v, v))
    return found + [(f"only the size written {w}", lambda v, w=w: v == w) for w in alone]


def candidates(shapes: ProblemShapes, base_shape: Mapping[str, Any], base: Mapping[int, int],
               adjust: Adjust | None = None) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(shape, rule label, scope) for each distinct further shape, in the order to try them.

    `base_shape` is what the shape is laid over (the judge sets `{**base_shape, **shape}`) and
    `base` its leaf mapping; every name of `base_shape` is named in each shape."""
    seen = {key(base_shape)}
    for scope, vary in scopes(shapes, base):
        for k, (label, _, _) in enumerate(ODD_RULES):
            mapping = shapes.odd_mapping(base, k, vary)
            if adjust is not None:
                mapping = adjust(mapping, k, base)
            shape = shapes.shape_for(mapping)
            wanted = shapes.values_under(mapping)
            for name in base_shape:
                shape.setdefault(name, plain(wanted.get(name, base_shape[name])))
            if key(shape) not in seen:
                seen.add(key(shape))
                yield shape, label, scope


def derive(source: str, shape: Mapping[str, Any] | None, secret: int) -> tuple[list[dict[str, Any]], str]:
    """Up to MAX_DERIVED shapes for the judge to try, each smaller than `shape` (the benchmark
    shape laid over the file's own) in some size and larger in none but tiny ones; or ([], why not)."""
    bench = dict(shape or {})
    try:
        shapes = ProblemShapes(_at_benchmark(ast.parse(source), bench))
    except SyntaxError as exc:
        return [], f"{CANNOT}: the reference's source could not be read ({exc.msg})"
    if not shapes.leaves:
        return [], (f"{CANNOT}: no module-level integer drives get_inputs()/get_init_inputs() (sizes written "
                    "inside those functions cannot be changed)")
    found: list[dict[str, Any]] = []
    for odd, _, _ in candidates(shapes, bench, {}, _jitter(secret)):
        if _smaller(shapes.values_after({**bench, **odd}), shapes.values):
            order = list(shapes.values)  # the file's order, for the messages
            found.append(dict(sorted(odd.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))))
            if len(found) == MAX_DERIVED:
                break
    if not found:
        return [], (f"{CANNOT}: no size at the benchmark shape is large enough to make smaller (sizes of at least "
                    f"{SHRINK_FROM}, batch sizes of at least {MIN_VARIED})")
    return found, ""


def _at_benchmark(tree: ast.Module, bench: Mapping[str, Any]) -> ast.Module:
    """The file as the benchmark shape makes it: `name = value` after each set name's last module-level
    assignment, so sizes the shape made different are different leaves (4096 and 4096 set to 13 and
    1000) and sizes it keeps equal stay one."""
    last: dict[str, int] = {}
    for index, node in enumerate(tree.body):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)):
                if name in bench:
                    last[name] = index
    body: list[ast.stmt] = []
    for index, node in enumerate(tree.body):
        body.append(node)
        body += [ast.parse(f"{name} = {_literal(bench[name])!r}").body[0] for name, at in last.items() if at == index]
    return ast.Module(body, [])


def _literal(value: Any) -> Any:
    return tuple(_literal(v) for v in value) if isinstance(value, (tuple, list)) else value


def _jitter(secret: int) -> Adjust:
    from evaluators.kernel.inputs import derive_seed

    def adjust(mapping: dict[int, int], k: int, base: Mapping[int, int]) -> dict[int, int]:
        if ODD_RULES[k][2] == 0:  # sizes in proportion (a group count divides them): kept as they are
            return mapping
        out, taken = dict(mapping), set(mapping.values())
        for v, new in sorted(mapping.items()):
            if new < MIN_VARIED or new == base.get(v, v):
                continue
            lowered = new - derive_seed(secret, "odd-size", k, v) % (new // 8 + 1)
            while lowered > 3 and is_power_of_two(lowered):
                lowered -= 1
            if lowered != new and lowered >= 3 and lowered not in taken and not is_power_of_two(lowered):
                out[v] = lowered
                taken.add(lowered)
        return out

    return adjust


def _smaller(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Every integer of `new` at most its value in `old` (or, for a tiny one like a batch of 1, still
    under MIN_VARIED: odd_mapping moves those up), one at least below; names and nesting alike."""
    below = False

    def walk(a: Any, b: Any) -> bool:
        nonlocal below
        if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
            return len(a) == len(b) and all(walk(x, y) for x, y in zip(a, b))
        if type(a) is int and type(b) is int:
            below |= a < b
            return a <= b or a < MIN_VARIED
        return a == b

    return set(new) == set(old) and all(walk(new[k], old[k]) for k in old) and below and \
        _product(new.values()) <= _product(old.values())  # no more work, tiny sizes moved up included


def _product(values: Any) -> int:
    n = 1
    for v in values:
        n *= _product(v) if isinstance(v, (tuple, list)) else v if type(v) is int and v > 0 else 1
    return n

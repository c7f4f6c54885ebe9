"""Pack 26 circles in the unit square, maximising the sum of their radii (evoforge example task).

Run:  python initial.py
Prints one JSON line: {"centers": [[x, y], ...], "radii": [...]} with 26 entries each.

A packing is valid when every circle lies inside [0, 1] x [0, 1] and no two circles overlap.
The evaluator checks that itself and scores the sum of the radii; only the construction between
the EVOLVE-BLOCK markers may change.
"""

import json
import math

N_CIRCLES = 26


# EVOLVE-BLOCK-START
INNER_COUNT = 7  # evoforge: tune choices=[5, 6, 7, 8, 9, 10]
INNER_RING = 0.22  # evoforge: tune low=0.1 high=0.4
OUTER_RING = 0.38  # evoforge: tune low=0.25 high=0.5
OUTER_PHASE = 0.0  # evoforge: tune low=0.0 high=1.0
MARGIN = 0.05  # evoforge: tune low=0.0 high=0.2
GROW_PASSES = 1  # evoforge: tune low=0 high=50 int


def construct(n: int) -> list[tuple[float, float]]:
    """Centers: one in the middle, a ring of INNER_COUNT around it, the rest on an outer ring."""
    centers = [(0.5, 0.5)]
    for k in range(INNER_COUNT):
        angle = 2.0 * math.pi * k / INNER_COUNT
        centers.append((0.5 + INNER_RING * math.cos(angle), 0.5 + INNER_RING * math.sin(angle)))
    outer = n - 1 - INNER_COUNT
    for k in range(outer):
        angle = 2.0 * math.pi * (k + OUTER_PHASE) / outer
        centers.append((0.5 + OUTER_RING * math.cos(angle), 0.5 + OUTER_RING * math.sin(angle)))
    # Keep every center a little away from the walls so it can get a positive radius.
    lo, hi = MARGIN, 1.0 - MARGIN
    return [(min(max(x, lo), hi), min(max(y, lo), hi)) for x, y in centers]


def radii_for(centers: list[tuple[float, float]]) -> list[float]:
    """Largest radii found by a simple rule that keeps the packing valid.

    Start from the distance to the nearest wall, shrink every overlapping pair proportionally
    (one pass suffices: radii only ever decrease), then let each circle grow into free space.
    """
    n = len(centers)
    radii = [min(x, y, 1.0 - x, 1.0 - y) for x, y in centers]
    for i in range(n):
        for j in range(i + 1, n):
            d = math.dist(centers[i], centers[j])
            if radii[i] + radii[j] > d:
                scale = d / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    for _ in range(GROW_PASSES):
        for i, (x, y) in enumerate(centers):
            room = min(x, y, 1.0 - x, 1.0 - y)
            for j in range(n):
                if j != i:
                    room = min(room, math.dist(centers[i], centers[j]) - radii[j])
            radii[i] = max(radii[i], room)
    return radii


def pack(n: int) -> tuple[list[tuple[float, float]], list[float]]:
    centers = construct(n)
    return centers, radii_for(centers)


# EVOLVE-BLOCK-END


def main() -> None:
    centers, radii = pack(N_CIRCLES)
    print(json.dumps({"centers": [[float(x), float(y)] for x, y in centers], "radii": [float(r) for r in radii]}))


if __name__ == "__main__":
    main()

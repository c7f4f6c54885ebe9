"""Simulated annealing for a travelling-salesman instance (evoforge example task).

Run:  python initial.py --instance 1 --seed 11
Prints one JSON line: {"tour": [city indices in visiting order]}.

The instance generator, the move budget and the I/O below are the fixed problem; only the
solver between the EVOLVE-BLOCK markers may change. The evaluator regenerates the cities
itself and recomputes the tour length, so nothing this program reports about itself counts.
"""

import argparse
import json
import math
import random

N_CITIES = 80
MOVE_BUDGET = 150_000  # candidate moves per run: keeps the run time roughly constant


def make_cities(instance: int, n: int = N_CITIES) -> list[tuple[float, float]]:
    """The fixed instance: n cities uniformly in a 1000 x 1000 square, from a seeded generator."""
    rng = random.Random(1_000_003 * instance + 17)
    return [(rng.uniform(0.0, 1000.0), rng.uniform(0.0, 1000.0)) for _ in range(n)]


def distance_matrix(cities: list[tuple[float, float]]) -> list[list[float]]:
    return [[math.hypot(ax - bx, ay - by) for (bx, by) in cities] for (ax, ay) in cities]


# EVOLVE-BLOCK-START
TEMP_START = 1000.0  # evoforge: tune low=1 high=10000 log
TEMP_END = 30.0  # evoforge: tune low=0.01 high=1000 log
TWO_OPT_SHARE = 0.5  # evoforge: tune low=0.0 high=1.0
RESTARTS = 5  # evoforge: tune low=1 high=20 int


def tour_length(tour: list[int], dist: list[list[float]]) -> float:
    return sum(dist[tour[k - 1]][tour[k]] for k in range(len(tour)))


def solve(dist: list[list[float]], rng: random.Random, budget: int) -> list[int]:
    """Anneal from random tours with 2-opt reversals and city swaps; return the best tour seen."""
    n = len(dist)
    best_tour: list[int] = list(range(n))
    best_len = tour_length(best_tour, dist)
    restarts = max(1, RESTARTS)
    moves = max(1, budget // restarts)
    cool = (TEMP_END / TEMP_START) ** (1.0 / moves)
    for _ in range(restarts):
        tour = list(range(n))
        rng.shuffle(tour)
        length = tour_length(tour, dist)
        temp = TEMP_START
        for _ in range(moves):
            i = rng.randrange(n)
            j = rng.randrange(n)
            if i == j:
                temp *= cool
                continue
            if i > j:
                i, j = j, i
            if rng.random() < TWO_OPT_SHARE:
                # 2-opt: reverse tour[i..j]; replaces edges (a,b) and (c,d) by (a,c) and (b,d).
                if i == 0 and j == n - 1:
                    temp *= cool
                    continue
                a, b = tour[i - 1], tour[i]
                c, d = tour[j], tour[(j + 1) % n]
                delta = dist[a][c] + dist[b][d] - dist[a][b] - dist[c][d]
                if delta < 0 or rng.random() < math.exp(-delta / temp):
                    tour[i : j + 1] = tour[i : j + 1][::-1]
                    length += delta
            else:
                # Swap two cities: recompute the (at most four) edges that touch them.
                edges = {(i - 1) % n, i, (j - 1) % n, j}
                before = sum(dist[tour[e]][tour[(e + 1) % n]] for e in edges)
                tour[i], tour[j] = tour[j], tour[i]
                delta = sum(dist[tour[e]][tour[(e + 1) % n]] for e in edges) - before
                if delta < 0 or rng.random() < math.exp(-delta / temp):
                    length += delta
                else:
                    tour[i], tour[j] = tour[j], tour[i]
            if length < best_len - 1e-9:
                best_len = length
                best_tour = tour[:]
            temp *= cool
    return best_tour


# EVOLVE-BLOCK-END


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instance", type=int, default=1, help="which fixed instance to solve")
    parser.add_argument("--seed", type=int, default=0, help="seed of the solver's random choices")
    args = parser.parse_args()
    dist = distance_matrix(make_cities(args.instance))
    tour = solve(dist, random.Random(args.seed), MOVE_BUDGET)
    print(json.dumps({"tour": [int(c) for c in tour]}))


if __name__ == "__main__":
    main()

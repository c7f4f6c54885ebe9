"""The `search:` section of a task imported from an OpenEvolve config (agent/openevolve_task.py).

OpenEvolve's database is MAP-Elites with islands, so the task uses `search.strategy: map_elites`
(evoforge's default is pq). `builder` is the importer's `_Builder`: `section`, `number` and
`skip` read values and record what is not carried; `header` collects the file's comments.
"""

from __future__ import annotations

from typing import Any

from agent import openevolve_schema as oe


def search_section(builder: Any) -> dict[str, Any]:
    """The `search:` section: map_elites with the database's islands, ratios and feature dimensions."""
    db = builder.section("database")
    grid: dict[str, Any] = {}
    islands = builder.number("database.num_islands", db.get("num_islands", oe.DEFAULT_ISLANDS), integer=True,
                             low=1, high=64)
    if islands is not None:
        grid["islands"] = islands
    interval = db.get("migration_interval", oe.DEFAULT_MIGRATION_INTERVAL)
    interval = builder.number("database.migration_interval", interval, integer=True, low=1)
    if interval is not None and (islands or 1) > 1:
        grid["migration_interval"] = interval
        builder.header.append("search.map_elites.migration_interval: OpenEvolve counts an island's generations, "
                              "evoforge counts correct programs")
    if "exploitation_ratio" in db:
        ratio = builder.number("database.exploitation_ratio", db["exploitation_ratio"], low=0, high=1)
        if ratio is not None:
            grid["exploit_ratio"] = ratio
    for key in ("elite_selection_ratio", "exploration_ratio"):
        if key in db:
            builder.skip(f"database.{key}", "evoforge draws a parent from the best elites (exploit_ratio) or "
                         "uniformly from all cells")
    shown = [builder.section("prompt").get(k) for k in ("num_top_programs", "num_diverse_programs")]
    if any(v is not None for v in shown):
        top = builder.number("prompt.num_top_programs", shown[0] if shown[0] is not None else 3, integer=True, low=0)
        diverse = builder.number("prompt.num_diverse_programs", shown[1] if shown[1] is not None else 2,
                                 integer=True, low=0)
        if top is not None and diverse is not None:
            grid["inspirations"] = min(10, top + diverse)
            builder.header.append("search.map_elites.inspirations: num_top_programs + num_diverse_programs (at most 10)")
    descriptors = _descriptors(builder, db)
    if descriptors:
        grid["descriptors"] = descriptors
    search: dict[str, Any] = {"strategy": "map_elites", "map_elites": grid}
    seed = db.get("random_seed", builder.raw.get("random_seed"))
    if seed is not None and (seed := builder.number("random_seed", seed, integer=True)) is not None:
        search["seed"] = seed
    builder.header.append("search.strategy: map_elites, OpenEvolve's own algorithm (evoforge's default is pq)")
    return search


def _descriptors(builder: Any, db: dict[str, Any]) -> list[dict[str, Any]]:
    """`feature_dimensions` and `feature_bins` as descriptors."""
    features = db.get("feature_dimensions", list(oe.DEFAULT_FEATURES))
    bins = db.get("feature_bins", oe.DEFAULT_FEATURE_BINS)
    if isinstance(features, str):
        features = [features]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        builder.skip("database.feature_dimensions", f"expected a list of names, got {features!r}")
        return []
    out = []
    for feature in features:
        count = bins.get(feature, oe.DEFAULT_FEATURE_BINS) if isinstance(bins, dict) else bins
        count = builder.number(f"database.feature_bins ({feature})", count, integer=True, low=1, high=1000)
        spec: dict[str, Any] = {"bins": count or oe.DEFAULT_FEATURE_BINS}
        if feature == "complexity":
            spec = {"name": "lines", **spec, "log": True}
            builder.header.append("descriptor lines for complexity: OpenEvolve's complexity is the code's length "
                                  "in characters, evoforge's lines its non-blank code lines")
        elif feature == "diversity":
            spec = {"name": "diversity", "low": 0.0, "high": 1.0, **spec}
        elif feature == "score":
            spec = {"name": "combined_score", **spec}
            builder.header.append("descriptor combined_score for score: OpenEvolve's score is the fitness; an "
                                  "evaluator that returns no combined_score must return the metric instead")
        else:
            spec = {"name": feature, **spec}
        out.append(spec)
    return out

"""`search.strategy: tagged_greedy`: evoforge's greedy strategy with an option of its own
(`search.options.tag`), which it shows in its snapshot."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from archives.baselines import Greedy


class TaggedGreedyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: str


class TaggedGreedy(Greedy):
    name = "tagged_greedy"
    config_model = TaggedGreedyOptions

    def __init__(self, config: Any, rng) -> None:
        super().__init__(config, rng)
        self._tag = config.options.tag

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "tag": self._tag}

"""A strategy plugin with a bug planted on purpose: its fourth `tell` raises (a crash of ours)."""

from __future__ import annotations

from archives.baselines import Greedy
from archives.records import Insertion, Program


class CrashOnFourthTell(Greedy):
    name = "crash_on_fourth_tell"

    def tell(self, program: Program) -> Insertion:
        if self._told >= 3:
            raise RuntimeError("planted strategy bug: tell() after three programs")
        return super().tell(program)

"""Difficulty knobs and the one rule that moves them: halfway, on the knob's own scale."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

SCALES = ("log", "linear", "categorical")


@dataclass(frozen=True)
class Knob:
    name: str
    easy: Any
    hard: Any
    scale: str = "linear"
    values: tuple = ()  # categorical: ordered easy -> hard

    def neighbours(self, a: Any, b: Any) -> bool:
        return abs(self.values.index(a) - self.values.index(b)) == 1

    def halfway(self, easier: Any, harder: Any) -> Any:
        """The value between `easier` and `harder` (rounded toward `easier` for integers).

        Numbers meet at the arithmetic (linear) or geometric (log) mean. Categorical values
        take the middle of the ordered list, or the easier one when they are neighbours.
        """
        if easier == harder:
            return easier
        if self.scale == "categorical":
            i, j = self.values.index(easier), self.values.index(harder)
            return self.values[(i + j) // 2] if abs(i - j) > 1 else self.values[min(i, j)]
        if self.scale == "log":
            mid = math.exp((math.log(easier) + math.log(harder)) / 2)
        else:
            mid = (easier + harder) / 2
        if isinstance(easier, int) and isinstance(harder, int):
            mid = math.floor(mid) if easier < harder else math.ceil(mid)
        return mid


def intermediate(knobs: Mapping[str, Knob], easier: Mapping[str, Any], harder: Mapping[str, Any]) -> dict:
    """Knob values halfway between two stages' settings.

    Each knob meets halfway on its scale. One exception keeps the intermediate stage a problem of
    its own: where two neighbouring categories differ (e.g. first_word -> translate) and some numeric
    knob can still move, the harder stage keeps its category and only the numbers move (translation
    of shorter sentences); falling back to the easier category would just repeat the easier stage.
    """
    middle = {name: knob.halfway(easier[name], harder[name]) for name, knob in knobs.items()}
    numbers_move = any(knob.scale != "categorical" and middle[name] not in (easier[name], harder[name])
                       for name, knob in knobs.items())
    for name, knob in knobs.items():
        if knob.scale == "categorical" and numbers_move and knob.neighbours(easier[name], harder[name]):
            middle[name] = harder[name]
    return middle


def resolve(knobs: Mapping[str, Knob], given: Mapping[str, Any]) -> dict:
    """A stage's full knob setting: what it names, the hard end for what it omits."""
    return {name: given.get(name, knob.hard) for name, knob in knobs.items()}

"""Figures beside their floors, the table they make, and progress lines while they are measured."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One measured figure beside its floor from the same run, and the goal for their ratio.

    ``higher_is_better`` says which way the ratio must go: figure ÷ floor ≥ goal
    for rates, ≤ goal for latencies and costs.
    """

    number: str
    name: str
    figure: float
    floor: float
    unit: str
    goal: float
    higher_is_better: bool
    floor_name: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.figure / self.floor if self.floor else float("inf")

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal

    @property
    def goal_text(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self.goal:g}"


def number_text(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: list[Figure]) -> str:
    """A Markdown table: figure, floor, ratio, goal and whether it is met, one row per figure."""
    rows = ["| # | figure | measured | floor | ratio | goal | met |", "|---|---|---:|---:|---:|---|---|"]
    for f in figures:
        rows.append(f"| {f.number} | {f.name} | {number_text(f.figure)} {f.unit} | {number_text(f.floor)} {f.unit}"
                    f"{' (' + f.floor_name + ')' if f.floor_name else ''} | {f.ratio:.2f} | {f.goal_text} | "
                    f"{'yes' if f.met else 'NO'} |")
    return "\n".join(rows)


class Progress:
    """Prints what is being measured, and a running count on one line while it runs."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self._last = 0.0
        self._open = False

    def say(self, message: str) -> None:
        self._end_line()
        print(message, file=self.stream, flush=True)

    def tick(self, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        if self.stream.isatty():
            self.stream.write("\r  " + message + "\x1b[K")
            self._open = True
        else:
            self.stream.write("  " + message + "\n")
        self.stream.flush()

    def _end_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def result(self, figure: Figure) -> None:
        self.say(f"  => {figure.name}: {number_text(figure.figure)} {figure.unit} against a floor of "
                 f"{number_text(figure.floor)} {figure.unit}: ratio {figure.ratio:.2f}, goal {figure.goal_text}: "
                 f"{'met' if figure.met else 'NOT met'}")

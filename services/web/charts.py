"""Bar charts drawn on the server as SVG: no script, readable by a screen reader through their table.

The chart is a picture of the table the page shows beside it (``role="img"``
with a title naming what it shows); the numbers themselves are in the table.
"""
from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, GAP = 480, 160, 4
LABEL_HEIGHT = 18


def bar_chart(title: str, labels: list[str], values: list[int]) -> Markup:
    """One bar per label, scaled to the largest value; each bar's own title says its label and number."""
    most = max(values, default=0) or 1
    slot = WIDTH / max(len(values), 1)
    bars = []
    for index, (label, value) in enumerate(zip(labels, values)):
        height = round((HEIGHT - LABEL_HEIGHT) * value / most, 1)
        x = round(index * slot + GAP / 2, 1)
        y = round(HEIGHT - LABEL_HEIGHT - height, 1)
        bars.append(f'<rect class="bar" x="{x}" y="{y}" width="{round(slot - GAP, 1)}" height="{height}">'
                    f'<title>{escape(label)}: {value}</title></rect>'
                    f'<text x="{round(x + (slot - GAP) / 2, 1)}" y="{HEIGHT - 4}" text-anchor="middle">'
                    f'{escape(label[-2:])}</text>')
    return Markup(f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
                  f'preserveAspectRatio="none" focusable="false">{"".join(bars)}</svg>')

"""Geometry for the server-rendered SVG charts (bars and lines); templates draw them and add a table fallback.

The default width is about the width a chart is shown at (a column of the page), so that its 11 px text
stays 11 px on screen.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

Number = int | Decimal


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: Number
    series: int  # 0-based index of the series the bar belongs to


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    maximum: Number  # the value at the top of the plot
    bars: list[Bar]
    labels: list[tuple[float, str]]  # x of each group's centre and its label
    line: str = ""  # polyline points, when the chart is a line

    @property
    def baseline(self) -> int:
        return self.height - LABEL_ROOM


LABEL_ROOM = 18  # px under the plot for the group labels


def nice_ceiling(value: Number) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above `value` (1 when there is nothing to plot)."""
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if step * multiple >= value:
                return step * multiple
        step *= 10


def grouped_bars(
    groups: Sequence[tuple[str, Sequence[Number]]], *, width: int = 360, height: int = 150, gap: float = 0.3
) -> Chart:
    """One group of side-by-side bars per label (e.g. earned and redeemed per month), on a common scale."""
    series = max((len(values) for _label, values in groups), default=0)
    maximum = nice_ceiling(max((value for _label, values in groups for value in values), default=0))
    plot = height - LABEL_ROOM
    slot = width / max(len(groups), 1)
    bar_width = slot * (1 - gap) / max(series, 1)
    bars, labels = [], []
    for index, (label, values) in enumerate(groups):
        left = index * slot + slot * gap / 2
        for position, value in enumerate(values):
            bar_height = float(value) / maximum * plot if value > 0 else 0.0
            bars.append(Bar(left + position * bar_width, plot - bar_height, bar_width, bar_height, value, position))
        labels.append((index * slot + slot / 2, label))
    return Chart(width, height, maximum, bars, labels)


def line(points: Sequence[tuple[str, Number]], *, width: int = 360, height: int = 150, maximum: Number = 0) -> Chart:
    """A polyline through the values, left to right, with a label under each point."""
    top = maximum or nice_ceiling(max((value for _label, value in points), default=0))
    plot = height - LABEL_ROOM
    step = width / max(len(points) - 1, 1)
    coordinates = [
        (index * step, plot - float(value) / float(top) * plot) for index, (_label, value) in enumerate(points)
    ]
    return Chart(
        width,
        height,
        top,
        [],
        [(x, label) for (x, _y), (label, _value) in zip(coordinates, points, strict=True)],
        " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates),
    )

"""Server-rendered SVG bar charts: geometry computed here, drawn by templates/reports/bar_chart.html.

No chart library and no style attributes (the CSP forbids them): sizes are SVG presentation
attributes (x, y, width, height) and colours come from CSS classes, so the charts follow the
theme and print in black and white.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from crm.lib.money import money_short

WIDTH = 560
LABEL_WIDTH = 124
VALUE_WIDTH = 150
ROW_HEIGHT = 34
BAR_HEIGHT = 16
TOP = 4


@dataclass
class Bar:
    label: str
    value: Decimal
    count: int
    href: str | None = None
    kind: str = "default"  # a CSS modifier: open, won, lost, …
    # Geometry, filled in by BarChart.
    y: int = 0
    hit_y: int = 0
    width: float = 0
    text_y: int = 0
    value_x: int = 0
    caption: str = ""


@dataclass
class BarChart:
    """A horizontal bar chart of amounts, with each row's count beside its amount."""

    title: str
    slug: str
    currency: str = "USD"
    count_label: tuple[str, str] = ("item", "items")
    bars: list[Bar] = field(default_factory=list)

    def __post_init__(self) -> None:
        track = self.track_width
        biggest = max((bar.value for bar in self.bars), default=Decimal("0"))
        for index, bar in enumerate(self.bars):
            bar.hit_y = TOP + index * ROW_HEIGHT
            bar.y = bar.hit_y + (ROW_HEIGHT - BAR_HEIGHT) // 2
            bar.text_y = bar.y + BAR_HEIGHT - 4
            share = float(bar.value / biggest) if biggest else 0.0
            # A visible sliver for non-zero rows, so "small" never reads as "none".
            bar.width = round(max(share * track, 3 if bar.value else 0), 1)
            bar.value_x = LABEL_WIDTH + round(bar.width) + 8
            noun = self.count_label[0] if bar.count == 1 else self.count_label[1]
            bar.caption = f"{money_short(bar.value, self.currency)} · {bar.count} {noun}"

    @property
    def height(self) -> int:
        return TOP * 2 + ROW_HEIGHT * max(len(self.bars), 1)

    @property
    def width(self) -> int:
        return WIDTH

    @property
    def label_x(self) -> int:
        return LABEL_WIDTH - 10

    @property
    def bar_x(self) -> int:
        return LABEL_WIDTH

    @property
    def bar_height(self) -> int:
        return BAR_HEIGHT

    @property
    def row_height(self) -> int:
        return ROW_HEIGHT

    @property
    def track_width(self) -> int:
        return WIDTH - LABEL_WIDTH - VALUE_WIDTH - 12

    @property
    def is_empty(self) -> bool:
        return not any(bar.value or bar.count for bar in self.bars)

    @property
    def description(self) -> str:
        """The whole chart in words, for screen readers (the SVG's <desc>)."""
        return "; ".join(f"{bar.label}: {bar.caption}" for bar in self.bars) or "No data."

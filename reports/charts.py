"""Server-rendered SVG bar charts: geometry computed here, drawn by templates/reports/bar_chart.html.

No chart library and no style attributes (the CSP forbids them): sizes are SVG presentation
attributes (x, y, width, height) and colours come from CSS classes, so the charts follow the
theme and print in black and white.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from crm.lib.money import money_short

WIDTH = 560
# Each row: its label (left) and amount (right) on a line of their own, the bar below them,
# so a long label or caption never runs into a bar however narrow the card is.
ROW_HEIGHT = 42
BAR_HEIGHT = 12
LINE_HEIGHT = 16
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
            bar.text_y = bar.hit_y + LINE_HEIGHT - 2
            bar.y = bar.hit_y + LINE_HEIGHT + 6
            share = float(bar.value / biggest) if biggest else 0.0
            # A visible sliver for non-zero rows, so "small" never reads as "none".
            bar.width = round(max(share * track, 3 if bar.value else 0), 1)
            bar.value_x = WIDTH
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
        return 0

    @property
    def bar_x(self) -> int:
        return 0

    @property
    def bar_height(self) -> int:
        return BAR_HEIGHT

    @property
    def row_height(self) -> int:
        return ROW_HEIGHT

    @property
    def track_width(self) -> int:
        return WIDTH

    @property
    def is_empty(self) -> bool:
        return not any(bar.value or bar.count for bar in self.bars)

    @property
    def description(self) -> str:
        """The whole chart in words, for screen readers (the SVG's <desc>)."""
        return "; ".join(f"{bar.label}: {bar.caption}" for bar in self.bars) or "No data."


# --- Reports: a cumulative step chart and stacked monthly columns -------------------------------
# Same rules as the bar chart: geometry here, drawn by templates/reports/reports_*_chart.html,
# colours from CSS classes, and a <title>/<desc> that says the whole chart in words.

PLOT_WIDTH = 760
STEP_HEIGHT = 300
COLUMN_HEIGHT = 240
PLOT_LEFT = 64
PLOT_RIGHT = 16
PLOT_TOP = 18
PLOT_BOTTOM = 30
MAX_X_LABELS = 8


def nice_ceiling(value: Decimal | int, steps: int = 5, whole: bool = False) -> tuple[Decimal, Decimal]:
    """(top, step): a round axis maximum at or above ``value`` in at most ``steps`` ticks.

    Steps are 1, 2, 2.5 or 5 times a power of ten, so the tick labels read like a person chose them;
    ``whole`` keeps counts in whole steps (no 2.5).
    """
    value = Decimal(value)
    if value <= 0:
        return Decimal("1"), Decimal("1")
    raw = value / steps
    magnitude = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal("1")
    for factor in (Decimal("1"), Decimal("2"), Decimal("2.5"), Decimal("5"), Decimal("10")):
        step = magnitude * factor
        if whole and step != step.to_integral_value():
            continue
        count = (value / step).to_integral_value(rounding=ROUND_CEILING)
        if count <= steps:
            return step * count, step
    return step * count, step


def month_label(month, long: bool = False) -> str:
    # "Dec 26" read as 26 December: the short label keeps the whole year.
    return month.strftime("%B %Y" if long else "%b %Y")


@dataclass
class Tick:
    at: float
    label: str


@dataclass
class StepSeries:
    """A cumulative amount per month; ``opening`` is what stood before the first month."""

    slug: str  # a CSS modifier: committed, soft …
    label: str
    values: list[Decimal]
    opening: Decimal = Decimal("0")
    filled: bool = False
    # Geometry, filled in by StepChart.
    line: str = ""
    area: str = ""
    points: list[dict] = field(default_factory=list)


@dataclass
class ReferenceLine:
    slug: str
    label: str
    value: Decimal
    y: float = 0
    text: str = ""


class PlotArea:
    """Vertical scale of a chart with a y axis: ``top`` (set by the chart) maps to the plot's top."""

    width: int
    height: int
    top: Decimal

    def y(self, value: int | Decimal) -> float:
        span = self.height - PLOT_TOP - PLOT_BOTTOM
        return round(self.height - PLOT_BOTTOM - span * float(Decimal(value) / self.top), 1)

    @property
    def plot_left(self) -> int:
        return PLOT_LEFT

    @property
    def plot_right(self) -> int:
        return self.width - PLOT_RIGHT

    @property
    def baseline(self) -> float:
        return self.y(0)


@dataclass
class StepChart(PlotArea):
    """Cumulative amounts by month as step lines, against horizontal reference lines (target, cap).

    Month ``i`` spans [x(i), x(i + 1)]; the line sits at the month's closing total, so a step
    up at the start of a month says "by the end of this month we had this much".
    """

    title: str
    slug: str
    months: list  # first days of the months, in order
    series: list[StepSeries]
    references: list[ReferenceLine] = field(default_factory=list)
    currency: str = "USD"
    summary: str = ""

    width: int = PLOT_WIDTH
    height: int = STEP_HEIGHT

    def __post_init__(self) -> None:
        highest = max(
            [value for s in self.series for value in [s.opening, *s.values]] + [r.value for r in self.references],
            default=Decimal("0"),
        )
        self.top, step = nice_ceiling(highest * Decimal("1.04"))
        self.y_ticks = []
        tick = Decimal("0")
        while tick <= self.top:
            self.y_ticks.append(Tick(self.y(tick), money_short(tick, self.currency) if tick else "0"))
            tick += step
        n = max(len(self.months), 1)
        every = -(-n // MAX_X_LABELS)
        self.x_ticks = [
            Tick(round((self.x(i) + self.x(i + 1)) / 2, 1), month_label(month))
            for i, month in enumerate(self.months)
            if i % every == 0
        ]
        for s in self.series:
            self._trace(s)
        for ref in self.references:
            ref.y = self.y(ref.value)
            ref.text = f"{ref.label} {money_short(ref.value, self.currency)}"

    def _trace(self, s: StepSeries) -> None:
        if not self.months:
            return
        parts = [f"M{self.x(0)} {self.y(s.opening)}"]
        previous = s.opening
        for i, value in enumerate(s.values):
            parts.append(f"V{self.y(value)}H{self.x(i + 1)}")
            if value != previous:
                change = value - previous
                s.points.append(
                    {
                        "x": self.x(i),
                        "y": self.y(value),
                        "title": f"{month_label(self.months[i], long=True)}: {s.label.lower()} "
                        f"{'+' if change > 0 else '−'}{money_short(abs(change), self.currency)}, "
                        f"{money_short(value, self.currency)} in total",
                    }
                )
            previous = value
        s.line = "".join(parts)
        if s.filled:
            s.area = f"{s.line}V{self.y(Decimal('0'))}H{self.x(0)}Z"

    def x(self, index: int) -> float:
        n = max(len(self.months), 1)
        return round(PLOT_LEFT + (self.width - PLOT_LEFT - PLOT_RIGHT) * index / n, 1)

    @property
    def label_x(self) -> int:
        return PLOT_LEFT - 8

    @property
    def x_label_y(self) -> int:
        return self.height - 8

    @property
    def is_empty(self) -> bool:
        return not self.months

    @property
    def description(self) -> str:
        return self.summary or "No data."


@dataclass
class Segment:
    kind: str
    label: str
    count: int
    y: float = 0
    height: float = 0
    title: str = ""


@dataclass
class Column:
    label: str
    long_label: str
    segments: list[Segment]
    x: float = 0
    width: float = 0
    total_y: float = 0
    centre: float = 0

    @property
    def total(self) -> int:
        return sum(segment.count for segment in self.segments)


@dataclass
class ColumnChart(PlotArea):
    """Counts per month as columns stacked by kind (communication types), with a legend."""

    title: str
    slug: str
    columns: list[Column]
    legend: list[tuple[str, str]]  # (kind, label), bottom of the stack first
    noun: tuple[str, str] = ("item", "items")

    width: int = PLOT_WIDTH
    height: int = COLUMN_HEIGHT

    def __post_init__(self) -> None:
        top, step = nice_ceiling(max((column.total for column in self.columns), default=0), whole=True)
        self.top = max(top, Decimal("1"))
        step = max(step, Decimal("1"))
        self.y_ticks = []
        tick = Decimal("0")
        while tick <= self.top:
            self.y_ticks.append(Tick(self.y(tick), f"{int(tick):,}"))
            tick += step
        n = max(len(self.columns), 1)
        band = (self.width - PLOT_LEFT - PLOT_RIGHT) / n
        for i, column in enumerate(self.columns):
            column.width = round(min(band * 0.62, 56), 1)
            column.centre = round(PLOT_LEFT + band * (i + 0.5), 1)
            column.x = round(column.centre - column.width / 2, 1)
            running = 0
            for segment in column.segments:
                bottom = self.y(running)
                running += segment.count
                segment.y = self.y(running)
                segment.height = round(bottom - segment.y, 1)
                noun = self.noun[0] if segment.count == 1 else self.noun[1]
                segment.title = f"{column.long_label} · {segment.label}: {segment.count:,} {noun}"
            column.segments = [segment for segment in column.segments if segment.count]
            column.total_y = round(self.y(running) - 6, 1)

    @property
    def label_x(self) -> int:
        return PLOT_LEFT - 8

    @property
    def x_label_y(self) -> int:
        return self.height - 8

    @property
    def is_empty(self) -> bool:
        return not any(column.total for column in self.columns)

    @property
    def description(self) -> str:
        parts = []
        for column in self.columns:
            detail = ", ".join(f"{s.count} {s.label.lower()}" for s in column.segments)
            parts.append(f"{column.long_label}: {column.total}" + (f" ({detail})" if detail else ""))
        return "; ".join(parts) or "No data."

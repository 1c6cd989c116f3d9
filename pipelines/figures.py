"""Figures that the benches and the app both draw (matplotlib, no display needed)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class QualityTimePoint:
    method: str  # the marker's text
    seconds: float  # per image
    perceptual: float  # the zoo's perceptual distance, lower is better
    ours: bool  # not from a paper (a label with "(ours)")
    group: str = ""  # the colour, e.g. the split


def quality_time_figure(points: list[QualityTimePoint], title: str):
    """Perceptual distance against seconds per image on a log axis: circles for the papers' methods,
    triangles for ours, one colour per group.  -> a matplotlib Figure (outside pyplot: nothing to close)"""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig = Figure(figsize=(7.5, 4.5), dpi=110)
    ax = fig.subplots()
    colours = colormaps["tab10"]
    groups = list(dict.fromkeys(p.group for p in points))
    for p in points:
        k = groups.index(p.group)
        first = next(q for q in points if q.group == p.group) is p
        ax.scatter(p.seconds, p.perceptual, marker="^" if p.ours else "o", color=colours(k % 10),
                   label=p.group if first and p.group else None)
    ax.set_xscale("log")
    ax.set_xlim(*log_span([p.seconds for p in points]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # plain numbers, no 10^x labels
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("seconds per image (log scale)")
    ax.set_ylabel("perceptual distance ↓")
    ax.set_title(f"{title} (circles: papers' methods, triangles: ours)", fontsize=9)
    if any(p.group for p in points):
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.subplots_adjust(top=0.86)  # room above the title for the label an app draws over the image's corner
    place_labels(ax, points)
    return fig


LABEL_OFFSETS = ((3, 3, "left"), (3, -9, "left"), (-3, 3, "right"), (-3, -9, "right"))  # (dx, dy) in points


def place_labels(ax, points: list[QualityTimePoint]) -> None:
    """Name each point's method beside it, at the first offset (above right, below right, above left,
    below left) where the text overlaps no label placed before; the last offset when all do."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(ax.figure).get_renderer()
    placed = []
    for p in points:
        for dx, dy, align in LABEL_OFFSETS:
            text = ax.annotate(p.method, (p.seconds, p.perceptual), fontsize=7, xytext=(dx, dy),
                               textcoords="offset points", ha=align)
            box = text.get_window_extent(renderer)
            if not any(box.overlaps(b) for b in placed) or (dx, dy, align) == LABEL_OFFSETS[-1]:
                placed.append(box)
                break
            text.remove()


def log_span(values: list[float], decades: float = 1.0) -> tuple[float, float]:
    """Axis limits that hold every (positive) value with a margin and span at least `decades` decades, so that
    times a few per cent apart do not fill the axis with crowded minor-tick labels."""
    lo, hi = min(values) / 1.5, max(values) * 1.5
    missing = decades - math.log10(hi / lo)
    if missing > 0:
        lo, hi = lo / 10 ** (missing / 2), hi * 10 ** (missing / 2)
    return lo, hi

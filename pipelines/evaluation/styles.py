"""Which EmojiBench rows each style draws, per split, and how many."""
from __future__ import annotations

import numpy as np

from pipelines.emojibench import STYLES, EmojiBench

SPLITS = ("train", "test")


def style_rows(data: EmojiBench, split: str) -> dict[str, np.ndarray]:
    """For each style, the rows of `split` that it draws."""
    idx = data.indices(split)
    return {s: idx[data.has_style(s)[idx]] for s in STYLES}


def style_counts(data: EmojiBench) -> dict[str, dict[str, int]]:
    """style -> {"train": n, "test": n, "total": n}: the images each style draws in each split."""
    rows = {split: style_rows(data, split) for split in SPLITS}
    return {s: {**{split: len(rows[split][s]) for split in SPLITS}, "total": int(data.has_style(s).sum())}
            for s in STYLES}

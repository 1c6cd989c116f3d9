"""EmojiBench as built data (train/data_emoji.py builds it): loading, styles, splits and labels.

    data = load_emojibench()                        # from $EMOJIBENCH_HOME (default ~/.cache/emojibench)
    reals = data.tensor(data.google[data.indices("train")])     # [N, 3, 64, 64] in [-1, 1]

bench/ and train/ both read the dataset through this module; the builder, its npm packages and its
rules live in train/data_emoji.py.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VERSION = "emojibench-v2"
PAIRED = ("google", "twitter")  # every row has both
STYLES = (*PAIRED, "fluent", "fluent_flat", "fluent_high_contrast", "fluent_3d", "emojione")
EXTRA = STYLES[len(PAIRED):]
COLOURLESS = ("fluent_high_contrast",)  # styles drawn in black and white: their renderings show no skin tone
STYLE_NAMES = {"google": "Google Noto", "twitter": "Twitter Twemoji", "fluent": "Microsoft Fluent (colour)",
               "fluent_flat": "Microsoft Fluent flat", "fluent_high_contrast": "Microsoft Fluent high contrast",
               "fluent_3d": "Microsoft Fluent 3D", "emojione": "EmojiOne 2.3 (colour)"}
# the words people type for each style: the emoji CLIP's captions (train/clip.py) and the adaptation targets'
# prompts (pipelines/style_targets.py); the first word names the style in its zero-shot prompt
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "google": ("google", "noto", "google noto"),
    "twitter": ("twitter", "twemoji"),
    "fluent": ("microsoft fluent", "fluent", "glossy"),
    "fluent_flat": ("flat", "microsoft flat", "flat design"),
    "fluent_high_contrast": ("line art", "black and white", "high contrast", "outline"),
    "fluent_3d": ("3d", "3d render", "microsoft 3d"),
    "emojione": ("emojione", "cartoon"),
}
assert set(STYLE_WORDS) == set(STYLES), "every EmojiBench style needs its caption words"
STYLE_PROMPTS = {s: f"an emoji, {words[0]} style" for s, words in STYLE_WORDS.items()}  # CLIP's zero-shot prompts


def default_root() -> Path:
    return Path(os.environ.get("EMOJIBENCH_HOME", Path.home() / ".cache" / "emojibench"))


@dataclass
class EmojiBench:
    """The built dataset in memory. Images uint8 [N, 64, 64, 3]; use `tensor()` for [-1, 1].

    `google` and `twitter` draw every row; `style(name)` gives any style in STYLES, white where
    `has_style(name)` is False (that style does not draw the emoji).
    """

    google: np.ndarray
    twitter: np.ndarray
    records: list[dict]
    vocab: dict[str, list[str]]
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    available: dict[str, np.ndarray] = field(default_factory=dict)

    def style(self, name: str) -> np.ndarray:
        if name in PAIRED:
            return getattr(self, name)
        if name not in self.extra:
            raise KeyError(f"no style {name!r} in EmojiBench; styles: {', '.join(STYLES)}")
        return self.extra[name]

    def has_style(self, name: str) -> np.ndarray:
        """bool [N]: which rows the style draws."""
        if name in PAIRED:
            return np.ones(len(self.records), dtype=bool)
        if name not in self.available:
            raise KeyError(f"no style {name!r} in EmojiBench; styles: {', '.join(STYLES)}")
        return self.available[name]

    def indices(self, split: str) -> np.ndarray:
        return np.array([i for i, r in enumerate(self.records) if r["split"] == split])

    def label_ids(self, field_name: str) -> np.ndarray:
        vocab = self.vocab[field_name]
        return np.array([vocab.index(r[field_name]) for r in self.records])

    def identity_ids(self) -> np.ndarray:
        bases = sorted({r["base"] for r in self.records})
        return np.array([bases.index(r["base"]) for r in self.records])

    @staticmethod
    def tensor(images: np.ndarray):
        import torch

        return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # [N, 3, 64, 64]


def load_emojibench(root: Path | None = None) -> EmojiBench:
    folder = (root or default_root()) / VERSION
    if not (folder / "images.npz").is_file():
        raise FileNotFoundError(f"EmojiBench is not built in {folder}: run `python -m train.data_emoji`")
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "images.npz", allow_pickle=False) as data:
        return EmojiBench(data["google"], data["twitter"], meta["records"], meta["vocab"],
                          extra={s: data[s] for s in EXTRA}, available={s: data[f"has_{s}"] for s in EXTRA})


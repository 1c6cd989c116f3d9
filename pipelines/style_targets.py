"""Domain-adaptation targets on EmojiBench: every style but Google, each with a text prompt pair and a one-shot
reference. bench/adaptation.py and the adaptation tabs' presets (ui/adaptation_tabs.py) read this table.

- **Source**: the emoji64 generator draws Google (Noto) emoji, so every adaptation starts from `google`.
- **Text-driven**: source and target prompts are the emoji CLIP's zero-shot style prompts, "an emoji, <word> style"
  with each style's first word of `STYLE_WORDS` (the words `train.clip` puts in every style's captions:
  pipelines/emojibench.py), e.g. "an emoji, google style" → "an emoji, 3d style". A CLIP trained before those
  styles joined its captions reads their words as its unknown token (`nets/emoji_clip.py`).
- **One-shot reference**: the same emoji in every style, chosen by a rule (`reference_rule`): the first emoji in
  EmojiBench's order (emojibase's Unicode order) that lies in the *train* split and is drawn by *every* style.
  That is U+1F600 "grinning face":
  - train split, so none of the test emoji the bench scores has been seen by an adaptation (a test-split
    reference would be scored against the very image it was fitted to);
  - drawn by all seven styles (high contrast and EmojiOne draw only 402 and 428 of the 1814 rows), so every target
    uses the same content and the targets differ only in style;
  - typical of the world: the round yellow face of "Smileys & Emotion", the archetype most rows share (the
    "People & Body" rows have faces of the same construction), with no skin tone (high contrast has none), and the
    reference the earlier Google → Twitter bench used, so that row stays comparable.
  The app ships each style's rendering in assets/examples/<style>_1f600_reference.png (the EmojiBench image).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .emojibench import STYLE_NAMES, STYLE_PROMPTS, STYLES, EmojiBench

SOURCE_STYLE = "google"
REFERENCE_CODE = "1F600"  # grinning face (the rule's pick: `reference_rule`)
REFERENCE_NAME = "grinning face"
EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


@dataclass(frozen=True)
class StyleTarget:
    style: str  # an EmojiBench style (pipelines/emojibench.STYLES)
    label: str  # what the tabs and tables show
    source_prompt: str  # text-driven: from
    target_prompt: str  # text-driven: to
    reference_code: str  # one-shot: the emoji whose rendering in `style` is the reference

    @property
    def reference_file(self) -> Path:
        """The shipped reference image (64 px PNG, the EmojiBench rendering) the app's preset loads."""
        return EXAMPLES / f"{self.style}_{self.reference_code.lower()}_reference.png"


TARGETS: dict[str, StyleTarget] = {
    s: StyleTarget(s, STYLE_NAMES[s], STYLE_PROMPTS[SOURCE_STYLE], STYLE_PROMPTS[s], REFERENCE_CODE)
    for s in STYLES if s != SOURCE_STYLE
}


def target(style: str) -> StyleTarget:
    if style not in TARGETS:
        raise ValueError(f"no adaptation target '{style}' (targets: {', '.join(TARGETS)})")
    return TARGETS[style]


def reference_rule(data: EmojiBench) -> str:
    """The code of the first train-split emoji that every style draws (the rule behind REFERENCE_CODE)."""
    every = np.all([data.has_style(s) for s in STYLES], axis=0)
    for i, r in enumerate(data.records):
        if r["split"] == "train" and every[i]:
            return r["code"]
    raise ValueError("no train-split emoji is drawn by every style")


def reference_row(data: EmojiBench, code: str = REFERENCE_CODE) -> int:
    """The dataset row of the reference emoji; it must be in the train split and drawn by every style."""
    rows = [i for i, r in enumerate(data.records) if r["code"] == code]
    if not rows:
        raise ValueError(f"EmojiBench has no emoji {code}")
    i = rows[0]
    if data.records[i]["split"] != "train":
        raise ValueError(f"the reference emoji {code} must be in the train split (the bench scores the test split)")
    missing = [s for s in STYLES if not data.has_style(s)[i]]
    if missing:
        raise ValueError(f"the reference emoji {code} is not drawn by {', '.join(missing)}")
    return i


def reference_image(data: EmojiBench, style: str, code: str = REFERENCE_CODE):
    """The reference I_r for `style`: [1, 3, R, R] in [-1, 1]."""
    i = reference_row(data, code)
    return data.tensor(data.style(style)[i : i + 1])

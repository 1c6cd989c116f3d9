"""The EmojiNet attribute pairs that editing directions move, and the score that says how far an
image leans to one side of a pair (positive value's logit minus the negative one's). InterFaceGAN's
labels (train/directions.py) and edit success (bench/editing.py, bench/zoo_emoji64.py) read them."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nets.emojinet import ATTRIBUTES


@dataclass(frozen=True)
class AttributePair:
    name: str
    head: str
    positive: str
    negative: str


CANDIDATES = (
    AttributePair("smile", "smiling", "yes", "no"),
    AttributePair("gender", "gender", "woman", "man"),
    AttributePair("age", "age", "older", "adult"),
    AttributePair("child", "age", "child", "adult"),
    AttributePair("skin_tone", "skin", "dark", "light"),
    AttributePair("white_hair", "hair", "white", "n.a."),
    AttributePair("blond_hair", "hair", "blond", "n.a."),
    AttributePair("red_hair", "hair", "red", "n.a."),
    AttributePair("curly_hair", "hair", "curly", "n.a."),
    AttributePair("bald", "hair", "bald", "n.a."),
)


def head_score(logits: dict[str, torch.Tensor], pair: AttributePair) -> torch.Tensor:
    values = ATTRIBUTES[pair.head]
    lg = logits[pair.head]
    return lg[:, values.index(pair.positive)] - lg[:, values.index(pair.negative)]  # [B]

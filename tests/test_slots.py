"""The slot contracts (pipelines/slots.py) hold for the networks that fill the slots."""
from __future__ import annotations

from nets.bisenet import BiSeNet
from nets.emoji_clip import EmojiClip
from nets.emojinet import EmojiNet
from nets.judges import ArcFaceIRSE50, LpipsDistance
from pipelines.directions import DirectionSet
from pipelines.slots import CONTRACTS, ClipModel, Identity, Parsing, Perceptual, StyleJudge


def test_each_slot_network_meets_its_contract():
    assert all(issubclass(EmojiNet, c) for c in (Perceptual, Identity, Parsing, StyleJudge))
    assert issubclass(LpipsDistance, StyleJudge) and issubclass(ArcFaceIRSE50, Identity)  # LPIPS: one-shot's judge on ffhq
    assert issubclass(BiSeNet, Parsing) and issubclass(EmojiClip, ClipModel)
    assert CONTRACTS["directions"] is DirectionSet and CONTRACTS["perceptual"] is Perceptual

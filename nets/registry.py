"""Names of the saved network classes, as written in zoo manifests (no dynamic imports)."""
from __future__ import annotations

from torch import nn

from .e4e import E4EEncoder
from .emoji_clip import EmojiClip
from .emojinet import EmojiNet
from .gradstyle import GradStyle
from .parsing_unet import ParsingUNet
from .refinestyle import RefineStyleEncoder
from .style_judge import StyleJudge
from .stylegan2 import Discriminator, Generator

_CLASSES: dict[str, type[nn.Module]] = {"Generator": Generator, "Discriminator": Discriminator, "EmojiNet": EmojiNet,
                                       "EmojiClip": EmojiClip, "E4EEncoder": E4EEncoder,
                                       "RefineStyleEncoder": RefineStyleEncoder, "GradStyle": GradStyle,
                                       "StyleJudge": StyleJudge, "ParsingUNet": ParsingUNet}


def network_class(name: str) -> type[nn.Module]:
    if name not in _CLASSES:
        raise ValueError(f"unknown network class '{name}' (known: {sorted(_CLASSES)})")
    return _CLASSES[name]

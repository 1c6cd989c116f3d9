"""Named generator architectures (constructor arguments of nets.stylegan2.Generator).

- FFHQ1024: the official config-f generator that the `ffhq` zoo converts.
The emoji64 zoo's architectures (generator, e4e, GradStyle, CLIP) live with the zoo
(assets/zoos/emoji64.json, `Zoo.architecture`).
"""
from __future__ import annotations

FFHQ1024: dict = {"size": 1024, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}

"""Named generator architectures (constructor arguments of nets.stylegan2.Generator).

- FFHQ1024: the official config-f generator that the `ffhq` zoo converts.
The emoji64 generator's architecture lives with its zoo (assets/zoos/emoji64.json, `Zoo.architecture`).
"""
from __future__ import annotations

FFHQ1024: dict = {"size": 1024, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}

# The emoji64 zoo's CLIP: open_clip's CLIP class with a small ViT (64 px, 8 px patches) and a
# small text transformer over a compact vocabulary (nets/emoji_clip.py maps BPE ids into it).
EMOJI_CLIP: dict = {
    "embed_dim": 128,
    "vision": {"image_size": 64, "patch_size": 8, "width": 192, "layers": 6, "head_width": 64, "mlp_ratio": 4.0},
    "text": {"context_length": 32, "width": 128, "heads": 2, "layers": 4},
}

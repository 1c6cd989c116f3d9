"""The emoji CLIP on EmojiBench's test split.

Zero-shot style accuracy: every image of every style (the rows that style draws) against one prompt
per style (STYLE_PROMPTS); the figure over all styles weighs each image once, and each style's
own accuracy is reported too. Text→image retrieval R@5: each test emoji's name, "a {name} emoji",
against the Google renderings of the split; a hit is any skin-tone variant of that emoji in the
top five.
"""
from __future__ import annotations

import numpy as np
import torch

from nets.emoji_clip import EmojiClip
from pipelines.clip_text import tokenize
from pipelines.emojibench import STYLE_PROMPTS, STYLES, EmojiBench
from pipelines.runtime import evaluation_mode


@torch.no_grad()
def evaluate(model: EmojiClip, data: EmojiBench, split: str = "test") -> dict:
    with evaluation_mode(model):
        idx = data.indices(split)
        context = model.clip.context_length
        prompts = torch.stack([model.encode_text(tokenize([STYLE_PROMPTS[s]], context))[0] for s in STYLES])  # [S, D]
        per_style = {}
        for k, s in enumerate(STYLES):
            rows = idx[data.has_style(s)[idx]]
            emb = model.encode_image(data.tensor(data.style(s)[rows]))
            per_style[s] = ((emb @ prompts.t()).argmax(1) == k).double().mean().item(), len(rows)
        bases = np.array([data.records[i]["base"] for i in idx])
        gallery = model.encode_image(data.tensor(data.google[idx]))  # [N, D]
        queries = sorted({(data.records[i]["base"], data.records[i]["name"]) for i in idx})
        text = model.encode_text(tokenize([f"a {name} emoji" for _, name in queries], context))
        top5 = (text @ gallery.t()).topk(5, dim=1).indices.numpy()
        hits = [base in set(bases[row]) for (base, _), row in zip(queries, top5)]
    images = sum(n for _, n in per_style.values())
    return {"zero_shot_style_accuracy": sum(acc * n for acc, n in per_style.values()) / images,
            "zero_shot_style_accuracy_per_style": {s: acc for s, (acc, _) in per_style.items()},
            "text_to_image_r5": float(np.mean(hits)), "text_queries": len(queries), "gallery": len(idx)}

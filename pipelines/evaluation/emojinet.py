"""EmojiNet on EmojiBench (identities unseen in training when `split` is "test").

- `evaluate`: cross-style retrieval R@1 Google → Twitter (each Google image queries the Twitter
  images of the split; a hit is any rendering of the same emoji) and per-attribute accuracy over
  both styles. `train.emojinet` writes it into the model card.
- `cross_style`: the same retrieval for every ordered pair of styles (a query style, a gallery
  style), each pair restricted to the emoji drawn in both of its styles; its mean over pairs is
  the style-invariance figure of issue 18. For Google → Twitter (both draw every row) it is
  `evaluate`'s R@1.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nets.emojinet import ATTRIBUTES, EmojiNet
from pipelines.emojibench import STYLES, EmojiBench
from pipelines.runtime import evaluation_mode


@torch.no_grad()
def evaluate(net: EmojiNet, data: EmojiBench, split: str = "test") -> dict:
    with evaluation_mode(net):
        idx = data.indices(split)
        bases = np.array([data.records[i]["base"] for i in idx])
        out = {}
        per_style = {}
        for style in ("google", "twitter"):
            x = data.tensor(getattr(data, style)[idx])
            per_style[style] = net(x)
        q, g = per_style["google"]["embedding"], per_style["twitter"]["embedding"]
        nearest = (q @ g.t()).argmax(1).numpy()  # [N]
        out["retrieval_r1_google_to_twitter"] = float((bases[nearest] == bases).mean())
        for field, values in ATTRIBUTES.items():
            target = torch.from_numpy(data.label_ids(field)[idx])
            correct = sum((per_style[s]["logits"][field].argmax(1) == target).float().sum().item() for s in per_style)
            out[f"accuracy_{field}"] = correct / (2 * len(idx))
    return out


def cross_style_r1(embeddings: dict[str, Tensor], drawn: dict[str, np.ndarray], bases: np.ndarray) -> dict:
    """Retrieval R@1 for every ordered pair of styles and its mean.

    embeddings: style -> [N, D] unit embeddings of the same N rows (rows a style does not draw are
    never read); drawn: style -> bool [N]; bases: [N] identity of each row. For the pair (a, b), each
    row drawn by both styles queries style b's images of those rows with its style-a image; a hit is
    a nearest image of the same identity. Pairs whose styles share no row are left out.
    -> {"mean": float, "pairs": {"a→b": float}}
    """
    pairs = {}
    for a in embeddings:
        for b in embeddings:
            both = np.flatnonzero(drawn[a] & drawn[b])
            if a == b or len(both) == 0:
                continue
            nearest = both[(embeddings[a][both] @ embeddings[b][both].t()).argmax(1).numpy()]  # [M] rows
            pairs[f"{a}→{b}"] = float((bases[nearest] == bases[both]).mean())
    return {"mean": float(np.mean(list(pairs.values()))) if pairs else float("nan"), "pairs": pairs}


@torch.no_grad()
def cross_style(net: EmojiNet, data: EmojiBench, split: str = "test", batch: int = 256) -> dict:
    """`cross_style_r1` of the identity embedding over every EmojiBench style, on `split`."""
    with evaluation_mode(net):
        idx = data.indices(split)
        embeddings, drawn = {}, {}
        for s in STYLES:
            drawn[s] = data.has_style(s)[idx]
            emb = torch.zeros(len(idx), net.embed.out_features)
            rows = np.flatnonzero(drawn[s])
            for i in range(0, len(rows), batch):
                emb[rows[i : i + batch]] = net.identity(data.tensor(data.style(s)[idx[rows[i : i + batch]]]))
            embeddings[s] = emb
    return cross_style_r1(embeddings, drawn, np.array([data.records[i]["base"] for i in idx]))

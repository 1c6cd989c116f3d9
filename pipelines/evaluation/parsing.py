"""The emoji64 parsing U-Net's dense task on EmojiBench, and its scores.

The task: label every pixel with one of six colour regions, REGIONS, from its colour and its
connection to the border (`region_labels`): the white background (white connected to the border),
white parts inside the drawing (eyes, teeth), dark regions (outlines, pupils, brows, mouth lines,
dark hair), warm colours (the yellow of smileys, skin tones, blond and brown hair), red (tongues,
blush, hearts) and everything else (clothes, objects). Inputs and the style their labels come from
(SOURCES): Google, Twitter and Fluent flat each labelled from themselves, Fluent colour labelled
from its flat twin (train/parsing.py says why).

`evaluate`: pixel accuracy and mean IoU per input style on the test split, and the linear-probe R²
of each contracting-path level from EmojiNet's stage of the same resolution (ridge regression per
pixel, fitted on train images, scored on test images): a low R² says the parsing features are not
a linear function of EmojiNet's.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from nets.emojinet import EmojiNet
from nets.parsing_unet import ParsingUNet
from pipelines.emojibench import EmojiBench
from pipelines.runtime import evaluation_mode

REGIONS = ["background", "white", "dark", "warm", "red", "other"]
SOURCES = {"google": "google", "twitter": "twitter", "fluent_flat": "fluent_flat", "fluent": "fluent_flat"}  # input -> label


def region_labels(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> region ids [N, H, W] (the module docstring's rule)."""
    x = torch.from_numpy(images).float() / 255  # [N, H, W, 3]
    hi, lo = x.max(-1).values, x.min(-1).values
    lum = x @ torch.tensor([0.299, 0.587, 0.114])
    sat = torch.where(hi > 0, (hi - lo) / hi.clamp(min=1e-6), torch.zeros_like(hi))
    r, g, b = x.unbind(-1)
    hue = torch.rad2deg(torch.atan2(math.sqrt(3) * (g - b), 2 * r - g - b)) % 360  # [N, H, W] degrees
    white = lo > 0.9
    outside = torch.zeros_like(white)  # white reachable from the border through white pixels
    outside[:, 0, :], outside[:, -1, :], outside[:, :, 0], outside[:, :, -1] = (
        white[:, 0, :], white[:, -1, :], white[:, :, 0], white[:, :, -1])
    for _ in range(2 * images.shape[1]):
        grown = F.max_pool2d(outside[:, None].float(), 3, 1, 1)[:, 0].bool() & white
        if torch.equal(grown, outside):
            break
        outside = grown
    labels = torch.full(white.shape, REGIONS.index("other"), dtype=torch.long)
    labels[(hue >= 5) & (hue <= 60) & (sat > 0.2)] = REGIONS.index("warm")
    labels[((hue < 5) | (hue > 330)) & (sat > 0.4)] = REGIONS.index("red")
    labels[lum < 0.22] = REGIONS.index("dark")
    labels[white & ~outside] = REGIONS.index("white")
    labels[outside] = REGIONS.index("background")
    return labels


def paired_rows(data: EmojiBench, split: str) -> dict[str, np.ndarray]:
    """For each input style, the rows of `split` drawn by it and by its label source."""
    idx = data.indices(split)
    return {s: idx[data.has_style(s)[idx] & data.has_style(src)[idx]] for s, src in SOURCES.items()}


def batches(data: EmojiBench, split: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per input style: images [N, 3, 64, 64] in [-1, 1] and their region labels [N, 64, 64]."""
    rows = paired_rows(data, split)
    return {s: (data.tensor(data.style(s)[r]), region_labels(data.style(SOURCES[s])[r])) for s, r in rows.items()}


@torch.no_grad()
def segmentation_scores(net: ParsingUNet, images: torch.Tensor, labels: torch.Tensor) -> dict:
    pred = torch.cat([net(images[i : i + 256]).argmax(1) for i in range(0, len(images), 256)])
    ious = []
    for c in range(len(REGIONS)):
        inter = ((pred == c) & (labels == c)).sum().item()
        union = ((pred == c) | (labels == c)).sum().item()
        if union:
            ious.append(inter / union)
    return {"pixel_accuracy": (pred == labels).double().mean().item(), "mean_iou": float(np.mean(ious))}


@torch.no_grad()
def linear_probe_r2(net: ParsingUNet, emojinet: EmojiNet, train_x: torch.Tensor, test_x: torch.Tensor,
                    ridge: float = 1e-3, pixels: int = 20000) -> list[float]:
    """R² of each parsing level's per-pixel features predicted linearly from EmojiNet's stage of the
    same resolution: ridge fitted on (a random subset of) train pixels, scored on test pixels."""
    gen = torch.Generator().manual_seed(0)

    def rows(x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for a, b in zip(emojinet.features(x), net.features(x)):
            out.append((a.permute(0, 2, 3, 1).reshape(-1, a.shape[1]).double(),
                        b.permute(0, 2, 3, 1).reshape(-1, b.shape[1]).double()))
        return out

    scores = []
    for (a_tr, b_tr), (a_te, b_te) in zip(rows(train_x), rows(test_x)):
        pick = torch.randperm(len(a_tr), generator=gen)[:pixels]
        a_tr, b_tr = a_tr[pick], b_tr[pick]
        mu_a, mu_b = a_tr.mean(0), b_tr.mean(0)
        a0, b0 = a_tr - mu_a, b_tr - mu_b
        gram = a0.t() @ a0 + ridge * len(a0) * torch.eye(a0.shape[1], dtype=a0.dtype)
        coef = torch.linalg.solve(gram, a0.t() @ b0)  # [C_a, C_b]
        pred = (a_te - mu_a) @ coef + mu_b
        scores.append(1 - ((b_te - pred).square().sum() / (b_te - b_te.mean(0)).square().sum()).item())
    return scores


def evaluate(net: ParsingUNet, data: EmojiBench, emojinet: EmojiNet) -> dict:
    with evaluation_mode(net, emojinet):
        test_sets = batches(data, "test")
        out = {style: segmentation_scores(net, x, y) for style, (x, y) in test_sets.items()}
        out["mean_iou"] = float(np.mean([v["mean_iou"] for v in out.values()]))
        tr, te = data.indices("train"), data.indices("test")
        probe_train = data.tensor(data.google[tr[:: max(1, len(tr) // 256)]])
        out["linear_probe_r2_from_emojinet"] = linear_probe_r2(net, emojinet, probe_train, data.tensor(data.google[te]))
    return out

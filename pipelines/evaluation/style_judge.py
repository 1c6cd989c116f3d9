"""The style judge on EmojiBench (emoji never seen in training when `split` is "test"): accuracy
over every image of every style (the rows that style draws), per style, and the confusion matrix
(rows: true style, columns: predicted); and `style_share`, the benches' verdict on generated images."""
from __future__ import annotations

import numpy as np
import torch

from nets.style_judge import StyleJudge
from pipelines.emojibench import STYLES, EmojiBench
from pipelines.runtime import evaluation_mode

from .styles import style_rows


@torch.no_grad()
def evaluate(judge: StyleJudge, data: EmojiBench, split: str = "test", batch: int = 256) -> dict:
    with evaluation_mode(judge):
        rows = style_rows(data, split)
        confusion = np.zeros((len(STYLES), len(STYLES)), dtype=int)
        for t, style in enumerate(STYLES):
            images = data.style(style)[rows[style]]
            for i in range(0, len(images), batch):
                pred = judge(data.tensor(images[i : i + batch])).argmax(1).numpy()
                np.add.at(confusion[t], pred, 1)
    per_style = {s: float(confusion[t, t] / max(1, confusion[t].sum())) for t, s in enumerate(STYLES)}
    return {"accuracy": float(np.trace(confusion) / confusion.sum()), "per_style": per_style,
            "confusion": confusion.tolist(), "styles": list(STYLES), "count": int(confusion.sum())}


def confusion_table(metrics: dict) -> str:
    """`evaluate`'s confusion matrix as a Markdown table, each row ending in that style's accuracy."""
    styles = metrics["styles"]
    lines = ["| true \\ predicted | " + " | ".join(styles) + " | accuracy |", "|---|" + "---:|" * (len(styles) + 1)]
    for t, s in enumerate(styles):
        lines.append(f"| {s} | " + " | ".join(str(v) for v in metrics["confusion"][t]) +
                     f" | {metrics['per_style'][s]:.3f} |")
    return "\n".join(lines)


@torch.no_grad()
def style_share(judge: StyleJudge, images: torch.Tensor, style: str, batch: int = 256) -> float:
    """Share of images [N, 3, R, R] that the style judge classifies as `style`."""
    if style not in judge.styles:
        raise ValueError(f"the style judge does not know '{style}' (it knows: {', '.join(judge.styles)})")
    k = judge.styles.index(style)
    pred = torch.cat([judge(images[i : i + batch]).argmax(1) for i in range(0, len(images), batch)])
    return (pred == k).double().mean().item()


def style_judge_of(zoo) -> tuple[StyleJudge | None, str]:
    """The zoo's style judge, or None and a sentence saying why the bench cannot measure the style share."""
    if "style_judge" not in zoo.slots:
        return None, (f"zoo '{zoo.name}' has no style_judge slot (`python -m train.style_judge` exports one), so the "
                      "style-judge share is not measured")
    status = zoo.slot_status("style_judge")
    if not status.available:
        return None, f"the style_judge slot of zoo '{zoo.name}' is unavailable ({status.reason}), so it is not measured"
    return zoo.load("style_judge"), ""

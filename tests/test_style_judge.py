"""The style judge: a ResNet of another family than EmojiNet and the CLIP, and its evaluation."""
from __future__ import annotations

import numpy as np
import torch

from nets.style_judge import StyleJudge
from pipelines.evaluation.style_judge import confusion_table


def test_style_judge_shapes_and_names():
    judge = StyleJudge(["a", "b", "c"], widths=[8, 8, 16, 16], blocks=1).eval()
    x = torch.rand(5, 3, 64, 64) * 2 - 1
    logits = judge(x)
    assert logits.shape == (5, 3)
    assert judge.classify(x) == [["a", "b", "c"][i] for i in logits.argmax(1).tolist()]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in judge.modules())  # not EmojiNet's group norm


def test_style_judge_round_trips_through_the_hub_format(tmp_path):
    judge = StyleJudge(["a", "b"], widths=[8, 8, 16, 16], blocks=1).eval()
    judge.save_pretrained(tmp_path)
    loaded = StyleJudge.from_pretrained(tmp_path).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(loaded(x), judge(x))
    assert loaded.styles == ["a", "b"]


def test_confusion_table_rows_and_accuracy():
    metrics = {"styles": ["x", "y"], "confusion": np.array([[3, 1], [0, 4]]).tolist(),
               "per_style": {"x": 0.75, "y": 1.0}}
    lines = confusion_table(metrics).splitlines()
    assert lines[2] == "| x | 3 | 1 | 0.750 |" and lines[3] == "| y | 0 | 4 | 1.000 |"


def test_evaluate_counts_only_the_rows_each_style_draws():
    """A judge that reads the style off the mean brightness; rows a style lacks are not scored."""
    from pipelines.emojibench import EXTRA, STYLES, EmojiBench
    from pipelines.evaluation.style_judge import evaluate

    n = 3
    shade = {s: np.full((n, 64, 64, 3), 10 * i, np.uint8) for i, s in enumerate(STYLES)}
    drawn = {s: np.array([True, True, s != "emojione"]) for s in EXTRA}  # emojione lacks the last row
    data = EmojiBench(shade["google"], shade["twitter"], [{"split": "test"}] * n, {},
                      extra={s: shade[s] for s in EXTRA}, available=drawn)

    class ByBrightness(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            level = ((x.mean((1, 2, 3)) + 1) * 127.5 / 10).round().long()  # the style index
            level = torch.where(level == STYLES.index("twitter"), STYLES.index("google"), level)  # twitter → google
            return torch.nn.functional.one_hot(level, len(STYLES)).float()

    m = evaluate(ByBrightness(), data)
    assert m["count"] == n * len(STYLES) - 1
    assert m["per_style"]["twitter"] == 0.0 and m["per_style"]["google"] == 1.0 and m["per_style"]["emojione"] == 1.0
    assert m["confusion"][STYLES.index("twitter")][STYLES.index("google")] == n
    assert abs(m["accuracy"] - (m["count"] - n) / m["count"]) < 1e-12

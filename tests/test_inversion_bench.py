"""bench/inversion.py's scores on a tiny world: PSNR, identity retrieval, the style judge's verdict, FLOPs, the
table and the quality-time plot."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from test_adaptation_bench import tiny_networks

from bench import inversion
from nets.style_judge import StyleJudge
from pipelines.emojibench import STYLES
from pipelines.inversion import InversionSettings
from pipelines.metrics import identity_retrieval_r1, psnr


def test_psnr_and_identity_retrieval_on_known_values():
    x = torch.zeros(2, 3, 4, 4)
    y = x.clone()
    y[1] += 0.2  # [-1, 1] images: 0.1 on [0, 1], MSE 0.01 -> 20 dB
    assert torch.allclose(psnr(y, x), torch.tensor([100.0, 20.0]), atol=1e-4)
    gallery = torch.eye(3)  # inputs of emoji a, a (another skin tone), b
    queries = torch.tensor([[0.0, 0.9, 0.1], [0.9, 0.1, 0.0], [0.8, 0.0, 0.2]])  # the third lands on an "a"
    assert identity_retrieval_r1(queries, gallery, ["a", "a", "b"]) == 2 / 3


def test_evaluate_scores_every_method_and_the_table_and_plot_show_them(tmp_path):
    bn = tiny_networks(judged=True)
    nets = bn.nets
    torch.manual_seed(0)
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    methods = ["e4e", "refinestyle_2s"]
    rows = inversion.evaluate(nets, images, methods, InversionSettings(), ["a", "b", "a"], "google",
                              StyleJudge(list(STYLES), widths=[4, 4, 8, 8], blocks=1).eval())
    for m in methods:
        v = rows[m]
        assert v["psnr"] > 0 and 0 <= v["identity_r1"] <= 1 and 0 <= v["style_kept"] <= 1 and v["ms"] > 0
        assert abs(v["psnr"] - (-10 * torch.log10(torch.tensor(v["mse"])).item())) < 3  # per-image mean vs of the mean
    flops = inversion.flops_per_image(nets, images[:1], methods, InversionSettings())
    assert flops["refinestyle_2s"] > flops["e4e"] > 0  # the two-stage encoder runs e4e first
    r = {"images": 3, "splits": {"google_test": rows}, "split_images": {"google_test": 3},
         "labels": {"e4e": "e4e (encoder)", "refinestyle_2s": "RefineStyle, two-stage (ours)"},
         "parameters": dict.fromkeys(methods, 10), "gflops": {m: f / 1e9 for m, f in flops.items()},
         "ablation": {}, "missing": {}, "style_judge_note": ""}
    text = inversion.table(r)
    assert "| e4e (encoder) |" in text and "ID R@1" in text and "1.00×" in text
    inversion.quality_time_plot(r, tmp_path / "plot.png")
    assert Image.open(tmp_path / "plot.png").size[0] > 400


def test_quality_time_axis_spans_a_decade_with_plain_tick_labels():
    """Two encoders 0.10 s and 0.12 s apart get a readable axis: at least a decade, no 10^x labels."""
    from pipelines.figures import QualityTimePoint, log_span, quality_time_figure

    lo, hi = log_span([0.10, 0.12])
    assert lo < 0.10 / 1.5 + 1e-9 and hi > 0.12 * 1.5 - 1e-9 and hi / lo >= 10 - 1e-9
    assert log_span([0.1, 100.0]) == pytest.approx((0.1 / 1.5, 150.0))  # wide enough already: only the margin
    fig = quality_time_figure([QualityTimePoint("e4e", 0.12, 0.78, False), QualityTimePoint("GradStyle", 0.10, 0.06,
                                                                                              False)], "t")
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels(minor=True) + fig.axes[0].get_xticklabels()]
    assert not any("10^" in t or "times" in t for t in labels) and any(t for t in labels)


def test_quality_time_labels_of_nearby_points_do_not_overlap():
    """Two methods timed alike on both splits (four points in one spot): four labels, no two overlapping."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pipelines.figures import QualityTimePoint, quality_time_figure

    points = [QualityTimePoint(m, s, 0.02, False, g) for g in ("google", "twitter")
              for m, s in (("refinestyle_opt", 34.0), ("pti", 36.0))]
    fig = quality_time_figure(points, "t")
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["pti", "pti", "refinestyle_opt", "refinestyle_opt"]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])

"""bench/fidelity.py on tiny networks: each variant's settings reach the method, and lanes' rows merge."""
from __future__ import annotations

import pytest
import torch

from bench.fidelity import ROWS, Variant, merged, run_variant, table
from nets.e4e import E4EEncoder
from nets.emojinet import EmojiNet
from nets.stylegan2 import Generator
from pipelines.inversion import InversionNetworks
from pipelines.losses import ReconstructionLoss
from pipelines.tuning import TuningSettings


def tiny_nets() -> InversionNetworks:
    torch.manual_seed(0)
    g = Generator(size=16, style_dim=16, n_mlp=2, channels=[16, 16, 16]).eval().requires_grad_(False)
    g.w_avg.copy_(g.estimate_w_avg(256))
    judge = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval().requires_grad_(False)
    nets = InversionNetworks(g, ReconstructionLoss(judge.perceptual_distance, judge.identity))
    nets.e4e = E4EEncoder(input_size=16, stages=[[16, 1], [16, 1], [16, 1], [16, 1]], stem=16, w_dim=16,
                          num_ws=g.num_ws, coarse=3, middle=4).eval()
    return nets


def test_each_rows_option_changes_the_result_and_tuning_rows_report_drift():
    nets = tiny_nets()
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    steps = TuningSettings(steps=4)
    paper = run_variant(nets, images, Variant("paper", "pti", steps))
    earlier = run_variant(nets, images, Variant("ours", "pti", TuningSettings(steps=4, pti_lr=1e-2, pti_id=0.1)))
    unit = run_variant(nets, images, Variant("unit", "pti", steps, l2_on_unit_images=True))
    again = run_variant(nets, images, Variant("paper again", "pti", steps))
    assert paper["mse"] != earlier["mse"] and paper["mse"] != unit["mse"]
    assert {k: v for k, v in paper.items() if k not in ("label", "seconds")} == \
        {k: v for k, v in again.items() if k not in ("label", "seconds")}  # seeded per image: reproducible
    assert {"mse", "perceptual", "id", "seconds", "drift"} <= set(paper) and paper["drift"] > 0
    assert nets.loss.l2_on_unit_images is False  # the variant's loss is a copy
    earlier_pti = ROWS["pti"][1]  # the earlier PTI: its settings and the earlier L2 form together
    assert earlier_pti.l2_on_unit_images and earlier_pti.tuning.pti_lr == 1e-2 and earlier_pti.tuning.pti_id == 0.1


def test_merge_keeps_other_lanes_rows_of_the_same_setup_and_refuses_another_setup():
    row = [{"label": "a", "method": "gani", "mse": 0.01, "perceptual": 0.1, "id": 0.9, "seconds": 1.0, "drift": 0.2}]
    setup = {"zoo": "emoji64", "images": 6, "steps": {"tuning": 300, "w": 100, "residual": 200},
             "machine": {"cpu": "a CPU", "flags": ["avx2"]}}
    lane_a = setup | {"rows": {"pti": row}}
    lane_b = setup | {"rows": {"l2_scale": row}}
    both = merged(lane_a, lane_b)
    assert list(both["rows"]) == ["l2_scale", "pti"] and merged(None, lane_b) == lane_b
    with pytest.raises(SystemExit, match="images"):
        merged(lane_a | {"images": 4}, lane_b)
    assert "| pti | a | 0.0100 |" in table(both)

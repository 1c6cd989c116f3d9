"""The ffhq zoo's judges: ArcFace IR-SE50 in the layout of model_ir_se50.pth, and the LPIPS wrapper."""
from __future__ import annotations

import torch

from nets.judges import ArcFaceIRSE50, LpipsDistance
from pipelines.zoo import LOADERS


def test_arcface_has_the_official_layout_and_loads_through_the_zoo(tmp_path):
    net = ArcFaceIRSE50()
    sd = net.state_dict()
    expected = {"input_layer.0.weight": (64, 3, 3, 3), "input_layer.2.weight": (64,),
                "body.0.res_layer.5.fc1.weight": (4, 64, 1, 1), "body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
                "body.23.res_layer.4.running_var": (512,), "output_layer.3.weight": (512, 25088),
                "output_layer.4.weight": (512,)}
    for key, shape in expected.items():
        if shape is not None:
            assert tuple(sd[key].shape) == shape, key
    assert "body.0.shortcut_layer.0.weight" not in sd  # equal widths: a strided max-pool shortcut, no weights
    assert max(int(k.split(".")[1]) for k in sd if k.startswith("body.")) == 23  # 3 + 4 + 14 + 3 units
    assert 43e6 < sum(p.numel() for p in net.parameters()) < 45e6
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=gen) * 0.05 if v.is_floating_point() else v for k, v in sd.items()}
    state = {k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in state.items()}
    torch.save(state, tmp_path / "model_ir_se50.pth")
    loaded = LOADERS["arcface_ir_se50"]([tmp_path / "model_ir_se50.pth"], {})
    emb = loaded.identity(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert emb.shape == (2, 512) and torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_lpips_wrapper_is_zero_for_equal_images_and_grows_with_noise():
    judge = LpipsDistance("alex", pretrained_backbone=False)  # the package's linear layers; no backbone download
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        d = [judge.perceptual_distance(x, (x + s * torch.randn_like(x)).clamp(-1, 1)) for s in (0.0, 0.1, 0.5)]
    assert d[0].shape == (2,) and d[0].abs().max() < 1e-6
    assert (d[1] < d[2]).all()

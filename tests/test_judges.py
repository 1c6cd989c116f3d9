"""The ffhq zoo's judges: ArcFace IR-SE50 in the layout of model_ir_se50.pth, the LPIPS wrapper and the
BiSeNet face parser in the layout of 79999_iter.pth."""
from __future__ import annotations

import pytest
import torch

from nets.bisenet import BiSeNet
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


def test_lpips_features_are_unit_per_pixel_and_its_backbone_loads_from_a_torchvision_file(tmp_path):
    from torchvision.models import alexnet

    torch.manual_seed(0)
    torch.save(alexnet().state_dict(), tmp_path / "alexnet-owt-7be5be79.pth")  # torchvision's layout, random weights
    judge = LOADERS["lpips"]([tmp_path / "alexnet-owt-7be5be79.pth"], {"net": "alex"})
    backbone = torch.load(tmp_path / "alexnet-owt-7be5be79.pth", weights_only=True)
    assert torch.equal(judge.lpips.net.slice4[0].weight, backbone["features.8.weight"])
    with torch.no_grad():
        feats = judge.features(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert [f.shape[1] for f in feats] == [64, 192, 384, 256, 256] and feats[0].shape[-1] == 15
    assert all(torch.allclose(f.norm(dim=1), torch.ones(1), atol=1e-4) for f in feats)
    with pytest.raises(ValueError, match="not a torchvision alex backbone"):
        judge.load_backbone({"features.0.weight": torch.zeros(1)})


def test_bisenet_has_the_face_parsing_layout_and_loads_through_the_zoo(tmp_path):
    sd = BiSeNet().state_dict()
    expected = {"cp.resnet.conv1.weight": (64, 3, 7, 7), "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
                "cp.resnet.layer4.1.bn2.running_var": (512,), "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
                "cp.arm32.conv_atten.weight": (128, 128, 1, 1), "cp.arm32.bn_atten.bias": (128,),
                "cp.conv_avg.conv.weight": (128, 512, 1, 1), "cp.conv_head16.bn.running_mean": (128,),
                "ffm.convblk.conv.weight": (256, 256, 1, 1), "ffm.conv1.weight": (64, 256, 1, 1),
                "ffm.conv2.weight": (256, 64, 1, 1), "conv_out.conv_out.weight": (19, 256, 1, 1),
                "conv_out16.conv.conv.weight": (64, 128, 3, 3), "conv_out32.conv_out.weight": (19, 64, 1, 1)}
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert "cp.resnet.layer1.0.downsample.0.weight" not in sd and not any(k.startswith("sp.") for k in sd)
    assert 13.2e6 < sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k) < 13.4e6
    gen = torch.Generator().manual_seed(0)
    state = {k: (torch.randn(v.shape, generator=gen) * 0.05).abs() + (0.5 if k.endswith("running_var") else 0)
             for k, v in sd.items() if v.is_floating_point()}  # a file without BN counters, as older torch saved
    torch.save(state, tmp_path / "79999_iter.pth")
    parser = LOADERS["bisenet"]([tmp_path / "79999_iter.pth"], {})
    with torch.no_grad():
        x = torch.rand(1, 3, 64, 64) * 2 - 1
        feats = parser.features(x)
        logits = parser(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(128, 64, 64), (256, 32, 32), (512, 16, 16), (128, 64, 64),
                                                   (256, 64, 64)]
    assert logits.shape == (1, 19, 64, 64)
    state["ffm.conv_1.weight"] = state.pop("ffm.conv1.weight")
    torch.save(state, tmp_path / "renamed.pth")
    with pytest.raises(ValueError, match=r"ffm\.conv1\.weight.*ffm\.conv_1\.weight"):
        LOADERS["bisenet"]([tmp_path / "renamed.pth"], {})

"""The ffhq zoo's judges: ArcFace IR-SE50 in the layout of model_ir_se50.pth, the LPIPS wrapper (AlexNet
from torchvision's file, VGG16 from timm's) and the BiSeNet face parser in the layout of 79999_iter.pth."""
from __future__ import annotations

import math

import pytest
import torch

from nets.bisenet import BiSeNet
from nets.judges import ArcFaceIRSE50, LpipsDistance
from pipelines.converters import classifier_backbone_keys, timm_vgg16_layout
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


def _vgg16_backbone(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random VGG16 `features.<i>.*` tensors (He-initialised convs, so all five ReLU stages stay alive)."""
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=gen) * ((2 / math.prod(shape[1:])) ** 0.5 if len(shape) == 4 else 0.1)
            for k, shape in timm_vgg16_layout().items() if k.startswith("features.")}


def test_timm_vgg16_layout_is_timms_and_its_features_are_torchvisions():
    """The layout the converter reads is timm's vgg16 (checked against timm's own model where timm is
    installed), and its `features.<i>` are torchvision's vgg16().features, index by index."""
    from torchvision.models import vgg16

    layout = timm_vgg16_layout()
    with torch.device("meta"):
        tv = {k: tuple(v.shape) for k, v in vgg16().state_dict().items()}
    assert {k: v for k, v in layout.items() if k.startswith("features.")} == \
        {k: v for k, v in tv.items() if k.startswith("features.")}
    assert classifier_backbone_keys(layout) == sorted(k for k in tv if k.startswith("features."))
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model("vgg16", pretrained=False)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == layout
    assert timm.models.get_pretrained_cfg("vgg16.tv_in1k").hf_hub_id == "timm/vgg16.tv_in1k"


def test_lpips_vgg_from_a_timm_vgg16_file_equals_lpips_on_the_same_backbone(tmp_path, monkeypatch):
    """The ffhq perceptual slot's path: timm's VGG16 model.safetensors -> zoo loader -> LPIPS-VGG gives the
    distances of lpips.LPIPS(net="vgg") whose torchvision VGG16 carries the same weights."""
    import lpips
    import torchvision
    from safetensors.torch import save_file

    backbone = _vgg16_backbone()
    # timm's key layout; its classifier (pre_logits.*, head.*; 0.5 GB at full size) is never read, so
    # small stand-ins under the same names do here (bench/app1024.py writes the full-size file)
    head = {k: torch.zeros(1) for k in timm_vgg16_layout() if not k.startswith("features.")}
    save_file(backbone | head, str(tmp_path / "model.safetensors"))
    judge = LOADERS["lpips"]([tmp_path / "model.safetensors"], {"net": "vgg"})
    assert judge.lpips.pnet_type == "vgg"

    real_vgg16 = torchvision.models.vgg16

    def vgg16_with_these_weights(pretrained: bool = False, **kwargs):  # how LPIPS builds its backbone
        model = real_vgg16()
        model.features.load_state_dict({k.removeprefix("features."): v for k, v in backbone.items()})  # strict
        return model

    monkeypatch.setattr(lpips.pretrained_networks.tv, "vgg16", vgg16_with_these_weights)
    reference = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()
    monkeypatch.undo()
    unrelated = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()  # another random backbone

    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 64, 64, generator=gen) * 2 - 1
    y = (x + 0.3 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    with torch.no_grad():
        d, d_ref, d_other = judge.perceptual_distance(x, y), reference(x, y).flatten(), unrelated(x, y).flatten()
        feats = judge.features(x)
    assert d.shape == (3,) and (d > 0).all()
    assert torch.allclose(d, d_ref, rtol=1e-5, atol=1e-7), (d, d_ref)
    assert not torch.allclose(d, d_other, rtol=1e-2)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4]  # relu1_2 .. relu5_3: strides 1 to 16
    assert all(torch.allclose(f.norm(dim=1), torch.ones(1), atol=1e-4) for f in feats)

    # torchvision's own file layout (classifier.*) loads the same backbone; other layouts are named
    torch.save(backbone | {f"classifier.{i}.weight": torch.zeros(1) for i in (0, 3, 6)}, tmp_path / "vgg16.pth")
    tv_judge = LOADERS["lpips"]([tmp_path / "vgg16.pth"], {"net": "vgg"})
    assert all(torch.equal(a, b) for a, b in zip(tv_judge.lpips.net.state_dict().values(),
                                                 judge.lpips.net.state_dict().values()))
    save_file({f"model.{k}": v for k, v in backbone.items()}, str(tmp_path / "prefixed.safetensors"))
    with pytest.raises(ValueError, match="not a torchvision or timm classifier"):
        LOADERS["lpips"]([tmp_path / "prefixed.safetensors"], {"net": "vgg"})
    with pytest.raises(ValueError, match="not a torchvision alex backbone"):  # a VGG file for LPIPS-Alex
        LOADERS["lpips"]([tmp_path / "model.safetensors"], {"net": "alex"})


def _vgg_judges(tmp_path, resize: int) -> tuple[LpipsDistance, LpipsDistance]:
    """LPIPS-VGG through the zoo loader on one random backbone, with the "resize" option and without."""
    from safetensors.torch import save_file

    save_file(_vgg16_backbone(), str(tmp_path / "model.safetensors"))
    sized = LOADERS["lpips"]([tmp_path / "model.safetensors"], {"net": "vgg", "resize": resize})
    full = LOADERS["lpips"]([tmp_path / "model.safetensors"], {"net": "vgg"})
    assert sized.resize == resize and full.resize is None
    return sized, full


def test_lpips_resize_is_lpips_on_the_area_downsampled_images(tmp_path):
    """With "resize", distances and features are LPIPS's on the images area-downsampled to that size
    (the ffhq zoo: 1024 -> 256 px, as e4e and the StyleGAN2-ADA projector), and gradients reach every pixel
    of the full-size input; images no larger than it, and a judge without the option, are untouched."""
    import torch.nn.functional as F

    sized, full = _vgg_judges(tmp_path, 32)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 128, 128, generator=gen) * 2 - 1
    y = (x + 0.3 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    small_x, small_y = (F.interpolate(v, size=(32, 32), mode="area") for v in (x, y))
    assert torch.allclose(small_x, x.unflatten(2, (32, 4)).unflatten(4, (32, 4)).mean((3, 5)), atol=1e-6)
    with torch.no_grad():
        d, d_small, d_full = sized.perceptual_distance(x, y), full.perceptual_distance(small_x, small_y), \
            full.perceptual_distance(x, y)
        feats, feats_small = sized.features(x), full.features(small_x)
    assert torch.allclose(d, d_small, rtol=1e-5, atol=1e-7), (d, d_small)
    assert not torch.allclose(d, d_full, rtol=1e-2)
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]  # relu1_2 .. relu5_3 of the 32 px image
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(feats, feats_small))
    assert sized.sized(torch.zeros(1, 3, 96, 128)).shape[-2:] == (24, 32)  # the larger side to 32, aspect kept

    # gradients flow through the downsampling to the full-size input: the 32 px image's gradient, spread
    # evenly over each 4×4 block it averaged
    xg, small = x.clone().requires_grad_(True), small_x.clone().requires_grad_(True)
    sized.perceptual_distance(xg, y).sum().backward()
    full.perceptual_distance(small, small_y).sum().backward()
    assert xg.grad.shape == x.shape and (xg.grad != 0).float().mean() > 0.99
    spread = small.grad.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3) / 16
    assert torch.allclose(xg.grad, spread, rtol=1e-4, atol=1e-9)
    fg = x.clone().requires_grad_(True)
    sum(f.square().mul(torch.rand(f.shape, generator=gen)).sum() for f in sized.features(fg)).backward()
    assert (fg.grad != 0).float().mean() > 0.99

    # no larger than resize: untouched; no option: LPIPS at the image's own size, the features too
    assert sized.sized(small_x) is small_x
    with torch.no_grad():
        assert torch.equal(sized.perceptual_distance(small_x, small_y), full.perceptual_distance(small_x, small_y))
        assert [f.shape[-1] for f in full.features(x)] == [128, 64, 32, 16, 8]
        assert torch.equal(full.lpips(x, y).flatten(), d_full)
    with pytest.raises(ValueError, match="positive"):
        LpipsDistance("alex", pretrained_backbone=False, resize=0)


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

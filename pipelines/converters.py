"""Converters from official checkpoint files into the project's networks.

The only place (with the zoo) that reads third-party pickles: always `torch.load(...,
weights_only=True)`. A converted network is saved as a folder with config.json +
model.safetensors (PyTorchModelHubMixin).

StyleGAN2, rosinality format (`{"g_ema": state_dict, "latent_avg": [w_dim]}`), which the
official FFHQ config-f checkpoint and e4e's decoder use. The layout is checked key by key
against the layout the inferred config implies, so a wrong file fails naming its keys.

    python -m pipelines.converters stylegan2 stylegan2-ffhq-config-f.pt out/generator
"""
from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import Tensor

from nets.e4e import E4E_FFHQ, E4EEncoder
from nets.filters import fir_kernel
from nets.stylegan2 import Generator

from .directions import DirectionSet, GanSpace, LinearDirection

_BLUR_BUFFER = re.compile(r"^(convs\.\d+\.conv\.blur|to_rgbs\.\d+\.upsample)\.kernel$")


def rosinality_layout(size: int, style_dim: int, n_mlp: int, channels: list[int]) -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape of a rosinality `g_ema` state dict for this config."""
    layout: dict[str, tuple[int, ...]] = {}
    for i in range(1, n_mlp + 1):
        layout[f"style.{i}.weight"] = (style_dim, style_dim)
        layout[f"style.{i}.bias"] = (style_dim,)
    layout["input.input"] = (1, channels[0], 4, 4)

    def styled(prefix: str, cin: int, cout: int, up: bool) -> None:
        layout[f"{prefix}.conv.weight"] = (1, cout, cin, 3, 3)
        if up:
            layout[f"{prefix}.conv.blur.kernel"] = (4, 4)
        layout[f"{prefix}.conv.modulation.weight"] = (cin, style_dim)
        layout[f"{prefix}.conv.modulation.bias"] = (cin,)
        layout[f"{prefix}.noise.weight"] = (1,)
        layout[f"{prefix}.activate.bias"] = (cout,)

    def to_rgb(prefix: str, cin: int, up: bool) -> None:
        layout[f"{prefix}.bias"] = (1, 3, 1, 1)
        if up:
            layout[f"{prefix}.upsample.kernel"] = (4, 4)
        layout[f"{prefix}.conv.weight"] = (1, 3, cin, 1, 1)
        layout[f"{prefix}.conv.modulation.weight"] = (cin, style_dim)
        layout[f"{prefix}.conv.modulation.bias"] = (cin,)

    styled("conv1", channels[0], channels[0], up=False)
    to_rgb("to_rgb1", channels[0], up=False)
    for i in range(1, len(channels)):
        styled(f"convs.{2 * i - 2}", channels[i - 1], channels[i], up=True)
        styled(f"convs.{2 * i - 1}", channels[i], channels[i], up=False)
        to_rgb(f"to_rgbs.{i - 1}", channels[i], up=True)
    for i in range(2 * len(channels) - 1):
        res = 2 ** ((i + 5) // 2)
        layout[f"noises.noise_{i}"] = (1, 1, res, res)
    return layout


def _infer_config(sd: Mapping[str, Tensor]) -> dict:
    needed = ["style.1.weight", "input.input", "noises.noise_0"]
    missing = [k for k in needed if k not in sd]
    if missing:
        raise ValueError(f"not a rosinality StyleGAN2 generator: missing {missing}")
    n_mlp = sum(1 for k in sd if re.fullmatch(r"style\.\d+\.weight", k))
    n_layers = sum(1 for k in sd if k.startswith("noises.noise_"))
    size = 2 ** ((n_layers + 3) // 2)
    channels = [sd["input.input"].shape[1]]
    for i in range(1, int(math.log2(size)) - 1):
        key = f"convs.{2 * i - 2}.conv.weight"
        if key not in sd:
            raise ValueError(f"not a rosinality StyleGAN2 generator: missing {key!r}")
        channels.append(sd[key].shape[1])
    return {"size": size, "style_dim": sd["style.1.weight"].shape[0], "n_mlp": n_mlp, "channels": channels}


def check_rosinality_layout(sd: Mapping[str, Tensor], config: dict) -> None:
    """Raise ValueError naming every missing, unexpected or mis-shaped tensor."""
    expected = rosinality_layout(**config)
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(f"{k}: {tuple(sd[k].shape)} != {v}" for k, v in expected.items()
                   if k in sd and tuple(sd[k].shape) != v)
    problems = [f"{name} ({len(keys)}): {keys[:8]}{' ...' if len(keys) > 8 else ''}"
                for name, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
    if problems:
        raise ValueError(f"checkpoint does not match the StyleGAN2 layout for {config}: " + "; ".join(problems))
    blur = fir_kernel(gain=4.0)
    bad_filters = [k for k in sd if _BLUR_BUFFER.match(k) and not torch.allclose(sd[k].float(), blur)]
    if bad_filters:
        raise ValueError(f"unsupported resampling filters (expected [1,3,3,1]): {bad_filters[:4]}")


def _rename(key: str) -> str | None:
    """rosinality name -> project name (None: a fixed buffer the project rebuilds)."""
    if _BLUR_BUFFER.match(key):
        return None
    if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", key):
        return f"mapping.layers.{int(m[1]) - 1}.{m[2]}"
    if key == "input.input":
        return "synthesis.const"
    if m := re.fullmatch(r"noises\.noise_(\d+)", key):
        return f"synthesis.convs.{m[1]}.noise_const"
    if m := re.fullmatch(r"(conv1|convs\.(\d+))\.(.+)", key):
        idx = 0 if m[1] == "conv1" else int(m[2]) + 1
        rest = {"noise.weight": "noise_strength", "activate.bias": "bias"}.get(m[3], m[3])
        return f"synthesis.convs.{idx}.{rest.replace('modulation', 'affine')}"
    if m := re.fullmatch(r"(to_rgb1|to_rgbs\.(\d+))\.(.+)", key):
        idx = 0 if m[1] == "to_rgb1" else int(m[2]) + 1
        return f"synthesis.to_rgbs.{idx}.{m[3].replace('modulation', 'affine')}"
    raise KeyError(key)


def convert_rosinality_generator(ckpt: Mapping, lr_mlp: float = 0.01) -> Generator:
    """{"g_ema": state_dict, "latent_avg": [w_dim]} -> Generator, loaded strictly."""
    if "g_ema" not in ckpt:
        raise ValueError(f"expected a dict with 'g_ema', got keys {sorted(ckpt)[:8]}")
    sd = ckpt["g_ema"]
    config = _infer_config(sd)
    check_rosinality_layout(sd, config)
    state = {}
    for key, value in sd.items():
        name = _rename(key)
        if name is None:
            continue
        if name.endswith((".conv.weight", "synthesis.const")) and value.shape[0] == 1:
            value = value[0]  # [1, O, I, k, k] -> [O, I, k, k]; [1, C, 4, 4] -> [C, 4, 4]
        if name.startswith("synthesis.to_rgbs.") and name.endswith(".bias"):
            value = value.reshape(-1)  # [1, 3, 1, 1] -> [3]
        state[name] = value.float()
    latent_avg = ckpt.get("latent_avg")
    state["w_avg"] = latent_avg.float().reshape(-1) if latent_avg is not None else torch.zeros(config["style_dim"])
    generator = Generator(lr_mlp=lr_mlp, **config)
    generator.load_state_dict(state, strict=True)
    if latent_avg is None:
        generator.w_avg.copy_(generator.estimate_w_avg())
    return generator.eval()


def load_rosinality_generator(path: str | Path, lr_mlp: float = 0.01) -> Generator:
    """Read an official .pt file (tensors only) and convert it."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return convert_rosinality_generator(ckpt, lr_mlp)


def convert_official_e4e(ckpt: Mapping) -> E4EEncoder:
    """{"state_dict": {"encoder.*", "decoder.*"}, "latent_avg": [18, 512], ...} -> E4EEncoder (FFHQ).

    The encoder tensors must match the official IR-SE50 layout key for key; the decoder half is
    the generator, which the zoo's generator slot loads on its own.
    """
    if "state_dict" not in ckpt:
        raise ValueError(f"expected an e4e checkpoint with 'state_dict', got keys {sorted(ckpt)[:8]}")
    encoder = E4EEncoder(**E4E_FFHQ)
    state = {k[len("encoder."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("encoder.")}
    expected = {k: tuple(v.shape) for k, v in encoder.state_dict().items() if k != "w_avg"}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in expected.keys() & state.keys() if tuple(state[k].shape) != expected[k])
    if missing or unexpected or wrong:
        raise ValueError(f"not the official e4e encoder layout: missing {missing[:6]}, unexpected {unexpected[:6]}, "
                         f"wrong shape {wrong[:6]}")
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is None:
        raise ValueError("the e4e checkpoint has no latent_avg")
    state["w_avg"] = latent_avg.float().reshape(E4E_FFHQ["num_ws"], -1) if latent_avg.ndim == 2 else \
        latent_avg.float().reshape(1, -1).expand(E4E_FFHQ["num_ws"], -1)
    encoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return encoder.eval()


def load_official_e4e(path: str | Path) -> E4EEncoder:
    return convert_official_e4e(torch.load(path, map_location="cpu", weights_only=True))


def load_official_directions(files: Mapping[str, str | Path]) -> DirectionSet:
    """Official FFHQ direction files (e4e's `editings/`) -> DirectionSet.

    InterFaceGAN: a tensor [1, w_dim] (one w for all layers) or [1, num_ws, w_dim].
    GANSpace: {"mean": [1, w_dim], "comp": [K, 1, w_dim], "std": [K]}.
    """
    out = DirectionSet()
    for name, path in files.items():
        data = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(data, Mapping):
            missing = {"mean", "comp", "std"} - set(data)
            if missing:
                raise ValueError(f"{name}: GANSpace file lacks {sorted(missing)}")
            comp = data["comp"].float().reshape(data["comp"].shape[0], -1)  # [K, w_dim]
            out.ganspace = GanSpace(data["mean"].float().reshape(-1), comp, data["std"].float().reshape(-1))
        elif isinstance(data, Tensor) and data.ndim in (2, 3) and data.shape[0] == 1:
            out.interfacegan[name] = LinearDirection(name, data.float()[0] if data.ndim == 3 else data.float())
        else:
            raise ValueError(f"{name}: not an InterFaceGAN or GANSpace file ({type(data).__name__})")
    return out


def load_official_arcface(path: str | Path):
    """`model_ir_se50.pth` (TreB1eN's InsightFace port, pSp/e4e's ID network) -> nets.judges.ArcFaceIRSE50."""
    from nets.judges import ArcFaceIRSE50

    net = ArcFaceIRSE50()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net


VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
"""VGG16 (Simonyan & Zisserman, configuration D): a number is a 3×3 conv with that many channels and a
ReLU, "M" a 2×2 max-pool; torchvision and timm both build `features` from this list."""


def timm_vgg16_layout() -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape of timm's `vgg16` state dict, the layout of `timm/vgg16.tv_in1k`'s
    model.safetensors: `features.<i>.weight|bias` with torchvision's indices, then timm's classifier
    `pre_logits.fc1` (conv 7×7), `pre_logits.fc2` (conv 1×1) and `head.fc` (linear)."""
    layout: dict[str, tuple[int, ...]] = {}
    index, channels = 0, 3
    for v in VGG16_CONFIG:
        if v == "M":
            index += 1
            continue
        layout[f"features.{index}.weight"], layout[f"features.{index}.bias"] = (v, channels, 3, 3), (v,)
        index, channels = index + 2, v  # conv, ReLU
    layout |= {"pre_logits.fc1.weight": (4096, 512, 7, 7), "pre_logits.fc1.bias": (4096,),
               "pre_logits.fc2.weight": (4096, 4096, 1, 1), "pre_logits.fc2.bias": (4096,),
               "head.fc.weight": (1000, 4096), "head.fc.bias": (1000,)}
    return layout


CLASSIFIER_HEADS = {"torchvision": ("classifier.",), "timm": ("pre_logits.", "head.")}
"""A classifier file's keys outside its convolutional `features.<i>.*`, by layout: torchvision's
`classifier.0/3/6` linear layers; timm's VGG `pre_logits.fc1` (conv 7×7), `pre_logits.fc2` (conv 1×1)
and `head.fc` (the same three layers, renamed and reshaped by timm's `_filter_fn`)."""


def classifier_backbone_keys(keys: Iterable[str]) -> list[str]:
    """The backbone keys of a torchvision or timm classifier state dict, in torchvision's `features`
    layout; ValueError for any other layout, naming the keys it does not know.

    Mapping rule, timm's VGG16 (`timm/vgg16.tv_in1k`) -> torchvision's `vgg16().features`:
    `features.<i>.weight|bias` is kept as it is, because timm builds VGG's `features` from the same
    configuration list as torchvision (3×3 conv, ReLU in place, 'M' max-pool; no norm layer for
    vgg16), so index i is the same layer: convs at 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28.
    timm's classifier (`pre_logits.fc1/fc2`, `head.fc` = torchvision's `classifier.0/3/6`) is not
    part of the backbone and is dropped, as torchvision's `classifier.*` is: LPIPS reads
    `features.0`..`features.28` only. AlexNet's torchvision file has the same split."""
    keys = list(keys)
    heads = tuple(p for prefixes in CLASSIFIER_HEADS.values() for p in prefixes)
    unknown = sorted(k for k in keys if not k.startswith(("features.", *heads)))
    if unknown:
        raise ValueError(f"not a torchvision or timm classifier state dict: unexpected keys {unknown[:6]}")
    return sorted(k for k in keys if k.startswith("features."))


def read_classifier_backbone(path: str | Path) -> dict[str, Tensor]:
    """The `features.<i>.*` tensors of a classifier file (torchvision's .pth, or a .safetensors in
    torchvision's or timm's layout; see `classifier_backbone_keys`). A .safetensors file is read
    tensor by tensor, so timm's VGG16 classifier (0.5 GB of its 0.55 GB) is never loaded."""
    if Path(path).suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in classifier_backbone_keys(fh.keys())}
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: state[k] for k in classifier_backbone_keys(state)}


def load_lpips(path: str | Path | None, net: str = "alex", resize: int | None = None):
    """LPIPS with its linear layers from the `lpips` package (v0.1, alex and vgg ship in its wheel) and
    its backbone from `path`, a classifier file read by `read_classifier_backbone`: for "vgg", timm's
    `model.safetensors` of `timm/vgg16.tv_in1k` (torchvision's original ImageNet VGG16 weights) or
    torchvision's `vgg16-397923af.pth`; for "alex", torchvision's `alexnet-owt-7be5be79.pth` (or a
    .safetensors copy). Without a path the backbone is torchvision's own download. resize: images
    larger than this are area-downsampled to it before LPIPS (None: their own resolution).
    -> nets.judges.LpipsDistance"""
    from nets.judges import LpipsDistance

    if path is None:
        return LpipsDistance(net, resize=resize)
    judge = LpipsDistance(net, pretrained_backbone=False, resize=resize)
    judge.load_backbone(read_classifier_backbone(path))
    return judge


def load_official_bisenet(path: str | Path):
    """`79999_iter.pth` (the CelebAMask-HQ face-parsing BiSeNet) -> nets.bisenet.BiSeNet.

    Checked key by key: a file of another layout fails naming its missing, unexpected and
    mis-shaped tensors. BatchNorm's `num_batches_tracked` counters may be absent (older files).
    """
    from nets.bisenet import BiSeNet

    net = BiSeNet()
    expected = net.state_dict()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    sd = {k.removeprefix("module."): v for k, v in sd.items()}  # saved from DataParallel or not
    counters = {k: v for k, v in expected.items() if k.endswith("num_batches_tracked")}
    sd = counters | sd
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(f"{k} {tuple(sd[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items()
                   if k in sd and sd[k].shape != v.shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{path}: not the face-parsing BiSeNet layout; missing {missing[:8]}, "
                         f"unexpected {unexpected[:8]}, wrong shapes {wrong[:8]}")
    net.load_state_dict(sd)
    return net


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["stylegan2"])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    args = parser.parse_args(argv)
    load_rosinality_generator(args.src).save_pretrained(args.dst)
    print(f"wrote {args.dst}")


if __name__ == "__main__":
    main()

"""The e4e encoder (Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation").

A feature-pyramid encoder on an IR-SE ResNet body (pSp, Richardson et al. 2021, §3): three
feature maps c1 (fine), c2, c3 (coarse) are merged top-down; style block i reads c3 for the
coarse codes, c3 + c2 for the middle ones and c3 + c2 + c1 for the fine ones. e4e predicts the
first code w₀ and per-layer offsets Δᵢ (Eq. 2 of e4e: wᵢ = w₀ + Δᵢ), so W+ = w₀ + Δ; the result
is an offset from w_avg (`latent_avg` in the official file), which `forward` adds.

Parameter names follow the official checkpoint, so `pipelines.converters.load_official_e4e`
copies the `encoder.*` tensors of `e4e_ffhq_encode.pt` unchanged. `E4E_FFHQ` is that network
(IR-SE50, 256 px input, 18 codes of 512); a zoo that trains its own names its narrower
configuration in its manifest (assets/zoos/emoji64.json, "architectures").
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from .layers import EqualLinear

E4E_FFHQ: dict = {"input_size": 256, "stages": [[64, 3], [128, 4], [256, 14], [512, 3]], "stem": 64,
                  "w_dim": 512, "num_ws": 18, "coarse": 3, "middle": 7}


class SEModule(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from globally pooled features."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * gate


class BottleneckIRSE(nn.Module):
    """IR-SE unit (ArcFace's improved residual unit with SE): BN-conv-PReLU-conv(stride)-BN-SE + shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        if cin == cout:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), SEModule(cout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def ir_se_body(stem: int, stages: list[list[int]]) -> tuple[nn.Sequential, list[int]]:
    """IR-SE units, [depth, count] per stage, the first of each with stride 2.  -> (body, indices ending a stage)"""
    units, cin, ends = [], stem, []
    for depth, count in stages:
        for j in range(count):
            units.append(BottleneckIRSE(cin if j == 0 else depth, depth, 2 if j == 0 else 1))
        cin = depth
        ends.append(len(units) - 1)
    return nn.Sequential(*units), ends


def ir_se_stages(img: Tensor, input_size: int, input_layer: nn.Module, body: nn.Sequential,
                 stage_ends: list[int]) -> list[Tensor]:
    """An IR-SE body's stage outputs for images [B, C, H, W], resized to input_size first.  -> fine to coarse"""
    if img.shape[-1] != input_size:
        img = F.interpolate(img, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True)
    x = input_layer(img)
    feats = []
    for i, unit in enumerate(body):
        x = unit(x)
        if i in stage_ends:
            feats.append(x)
    return feats


class GradualStyleBlock(nn.Module):
    """log2(spatial) stride-2 convs down to 1×1, then an equalised linear layer: one style code."""

    def __init__(self, channels: int, w_dim: int, spatial: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(channels if i == 0 else w_dim, w_dim, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(w_dim, w_dim)

    def forward(self, x: Tensor) -> Tensor:  # [B, C, s, s] -> [B, w_dim]
        return self.linear(self.convs(x).flatten(1))


class E4EEncoder(nn.Module, PyTorchModelHubMixin):
    """image [B, 3, S, S] in [-1, 1] -> W+ codes [B, num_ws, w_dim] (offsets + w_avg)."""

    def __init__(self, input_size: int, stages: list[list[int]], stem: int, w_dim: int, num_ws: int,
                 coarse: int, middle: int) -> None:
        super().__init__()
        self.input_size, self.num_ws, self.w_dim = input_size, num_ws, w_dim
        self.coarse, self.middle = coarse, middle
        self.stem, self.stages = stem, [list(s) for s in stages]
        self.input_layer = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.PReLU(stem))
        self.body, self.stage_ends = ir_se_body(stem, stages)  # stage_ends: the last three give c1, c2, c3
        c1, c2, c3 = (stages[i][0] for i in (1, 2, 3))
        assert c3 == w_dim, "the top-down pyramid adds c3 to w_dim-channel laterals"
        s3 = input_size // 16  # c3's resolution (four stride-2 stages)
        self.styles = nn.ModuleList(
            GradualStyleBlock(c3 if i < coarse else w_dim, w_dim, s3 if i < coarse else 2 * s3 if i < middle else 4 * s3)
            for i in range(num_ws)
        )
        self.latlayer1 = nn.Conv2d(c2, w_dim, 1)
        self.latlayer2 = nn.Conv2d(c1, w_dim, 1)
        self.register_buffer("w_avg", torch.zeros(num_ws, w_dim))

    @staticmethod
    def _upsample_add(x: Tensor, y: Tensor) -> Tensor:
        return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y

    def features(self, img: Tensor) -> list[Tensor]:
        """The body's four stage outputs, fine to coarse: [B, C_s, S/2, S/2], ..., [B, C_s, S/16, S/16].

        The last three are the pyramid's c1, c2, c3; GradStyle reads all four as its T_m.
        """
        assert img.ndim == 4 and img.shape[1] == 3, f"expected [B, 3, H, W], got {list(img.shape)}"
        return ir_se_stages(img, self.input_size, self.input_layer, self.body, self.stage_ends)

    def forward(self, img: Tensor) -> Tensor:
        return self.codes(self.features(img))

    def codes(self, feats: list[Tensor]) -> Tensor:
        """The W+ codes from `features`' output.  -> [B, num_ws, w_dim]"""
        c1, c2, c3 = feats[1:]  # fine -> coarse
        w0 = self.styles[0](c3)  # [B, w_dim]
        deltas = [torch.zeros_like(w0)]
        features = c3
        for i in range(1, self.num_ws):
            if i == self.coarse:
                p2 = self._upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == self.middle:
                features = self._upsample_add(p2, self.latlayer2(c1))
            deltas.append(self.styles[i](features))
        offsets = w0[:, None] + torch.stack(deltas, dim=1)  # [B, num_ws, w_dim]
        return offsets + self.w_avg

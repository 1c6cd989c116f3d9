"""BiSeNet face parser: the ffhq zoo's parsing slot (GaNI's multi-layer parsing loss, DESIGN §2).

The network of the CelebAMask-HQ face-parsing checkpoint `79999_iter.pth` (zllrunning's
face-parsing.PyTorch; BiSeNet, Yu et al. 2018, with the spatial path replaced by the backbone's
1/8 features), written here from the paper's description in that checkpoint's tensor layout:

- context path `cp`: a ResNet-18 (`cp.resnet`: conv1/bn1, layer1–4 of two basic blocks) giving
  1/8, 1/16 and 1/32 features [128, 256, 512 ch]; a global-context branch `conv_avg` (1×1 conv
  of the pooled 1/32 map); attention refinement modules `arm32`, `arm16` (3×3 conv, then a channel
  gate: pooled 1×1 conv + BN + sigmoid); 3×3 heads `conv_head32`, `conv_head16` after each
  nearest up-sampling;
- `ffm`: feature fusion of the 1/8 backbone map with the context path's 1/8 map (1×1 conv, then
  a squeeze-excite gate added back: f + f ⊙ σ(W₂ relu(W₁ pool f)));
- `conv_out` (and the auxiliary `conv_out16`, `conv_out32`): 3×3 conv + 1×1 classifier to 19
  classes, bilinearly up-sampled to the input size.
Every conv is bias-free and followed by BN (+ ReLU), as in the checkpoint.

`features(x)` gives GaNI's five feature layers: the backbone's 1/8, 1/16 and 1/32 maps, the
context path's refined 1/8 map and the fused map. Inputs are images in [-1, 1], resized to the
parser's 512 px and normalised with ImageNet statistics as the checkpoint was trained.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 1, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block; a strided 1×1 conv + BN shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if cin != cout or stride != 1:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths = [64, 64, 128, 256, 512]
        for i in range(1, 5):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(widths[i - 1], widths[i], stride),
                                                     BasicBlock(widths[i], widths[i], 1)))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[B, 3, H, W] -> the 1/8, 1/16, 1/32 maps [B, 128|256|512, H/8|H/16|H/32, ·]"""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x8 = self.layer2(self.layer1(x))
        x16 = self.layer3(x8)
        return x8, x16, self.layer4(x16)


class AttentionRefinement(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, cout, 3)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        f = self.conv(x)
        return f * torch.sigmoid(self.bn_atten(self.conv_atten(f.mean((2, 3), keepdim=True))))


class ContextPath(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3)
        self.conv_head16 = ConvBNReLU(128, 128, 3)
        self.conv_avg = ConvBNReLU(512, 128, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """-> backbone 1/8, 1/16, 1/32 maps, the refined 1/8 [128 ch] and 1/16 [128 ch] maps."""
        x8, x16, x32 = self.resnet(x)
        context = self.conv_avg(x32.mean((2, 3), keepdim=True))  # [B, 128, 1, 1]: broadcast = nearest up-sampling
        up32 = self.conv_head32(F.interpolate(self.arm32(x32) + context, size=x16.shape[2:], mode="nearest"))
        up16 = self.conv_head16(F.interpolate(self.arm16(x16) + up32, size=x8.shape[2:], mode="nearest"))
        return x8, x16, x32, up16, up32


class FeatureFusion(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, 1)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, spatial: Tensor, context: Tensor) -> Tensor:
        f = self.convblk(torch.cat([spatial, context], dim=1))
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(f.mean((2, 3), keepdim=True)))))
        return f + f * gate


class ParsingHead(nn.Module):
    def __init__(self, cin: int, mid: int, classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, mid, 3)
        self.conv_out = nn.Conv2d(mid, classes, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """[B, 3, H, W] in [-1, 1] -> parsing logits [B, classes, H, W] (19 CelebAMask-HQ classes)."""

    def __init__(self, classes: int = 19, input_size: int = 512) -> None:
        super().__init__()
        self.input_size = input_size
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = ParsingHead(256, 256, classes)
        self.conv_out16 = ParsingHead(128, 64, classes)  # auxiliary heads of the training loss
        self.conv_out32 = ParsingHead(128, 64, classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _prepare(self, x: Tensor) -> Tensor:
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [B, 3, H, W], got {list(x.shape)}"
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return ((x + 1) / 2 - self.mean) / self.std

    def features(self, x: Tensor) -> list[Tensor]:
        """GaNI's five feature layers (see the module docstring), for images [B, 3, H, W] in [-1, 1]."""
        x8, x16, x32, cp8, _ = self.cp(self._prepare(x))
        return [x8, x16, x32, cp8, self.ffm(x8, cp8)]

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2:]
        x8, _, _, cp8, _ = self.cp(self._prepare(x))
        logits = self.conv_out(self.ffm(x8, cp8))
        return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=True)

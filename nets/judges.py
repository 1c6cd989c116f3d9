"""The ffhq zoo's judges (DESIGN §2): LPIPS as the perceptual slot and ArcFace IR-SE50 as the identity
slot, behind the interface EmojiNet gives emoji64 (`perceptual_distance`, `identity`).

- LPIPS (Zhang et al. 2018) from the `lpips` package: its learned linear layers (v0.1, for AlexNet
  and VGG16) ship inside the package; the backbone comes from torchvision's download, or from a
  classifier's `features.<i>.*` tensors handed to `load_backbone` (the ffhq zoo: VGG16 from timm's
  Hub copy of torchvision's weights, pipelines/converters.load_lpips). Its per-layer features
  (`features`) make it the one-shot style judge (pipelines/slots.StyleJudge) on ffhq, as EmojiNet's
  are on emoji64. With `resize` (the ffhq zoo: 256), images larger than that are area-downsampled
  before the network, as e4e's losses (on 256 px images) and the StyleGAN2-ADA projector (VGG16 LPIPS
  on images shrunk to 256 px) compare them; without it LPIPS runs at the image's own resolution.
- ArcFace IR-SE50 (Deng et al. 2019) in the layout of `model_ir_se50.pth` (TreB1eN's InsightFace
  port, the file pSp and e4e use for their ID loss): the IR-SE body of nets/e4e.py, then
  BN-Dropout-Flatten-Linear(512·7·7 → 512)-BN. Like pSp's ID loss, the face is cropped from the
  256 px image ([35:223, 32:220]) and pooled to 112 px before it.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from .e4e import ir_se_body

IR_SE50_STAGES = [[64, 3], [128, 4], [256, 14], [512, 3]]


class LpipsDistance(nn.Module):
    def __init__(self, net: str = "alex", pretrained_backbone: bool = True, resize: int | None = None) -> None:
        """resize: the largest side LPIPS sees; larger images are area-downsampled to it (aspect kept)
        before the network. None: the image's own resolution."""
        super().__init__()
        import lpips

        if resize is not None and resize < 1:
            raise ValueError(f"LPIPS resize must be a positive side length, got {resize}")
        self.resize = resize
        self.lpips = lpips.LPIPS(net=net, pnet_rand=not pretrained_backbone, verbose=False).eval()

    def sized(self, x: Tensor) -> Tensor:
        """x as LPIPS sees it: area-downsampled so that its larger side is `resize` when it exceeds it
        (an average over each block of pixels: 1024 -> 256 averages 4×4 blocks), else unchanged.
        [B, 3, H, W] -> [B, 3, H', W']"""
        h, w = x.shape[-2:]
        if self.resize is None or max(h, w) <= self.resize:
            return x
        scale = self.resize / max(h, w)
        return F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")

    def perceptual_distance(self, x: Tensor, y: Tensor) -> Tensor:
        """LPIPS per pair, images in [-1, 1] (at `resize` when they are larger).  -> [B]"""
        return self.lpips(self.sized(x), self.sized(y), normalize=False).flatten()

    def features(self, x: Tensor) -> list[Tensor]:
        """The quantities LPIPS compares: the backbone's five ReLU outputs after LPIPS's input scaling,
        each unit-normalised over channels at every pixel (AlexNet: relu1..relu5, 64-192-384-256-256
        channels at strides 4 to 16; VGG16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, 64-128-256-512-512
        channels at strides 1 to 16), of the image at `resize` when it is larger (strides relative to that).
        Images [B, 3, H, W] in [-1, 1] -> [B, C_k, H_k, W_k] per layer."""
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [B, 3, H, W], got {list(x.shape)}"
        import lpips

        return [lpips.normalize_tensor(f) for f in self.lpips.net(self.lpips.scaling_layer(self.sized(x)))]

    def load_backbone(self, state: Mapping[str, Tensor]) -> None:
        """Load a classifier's backbone in torchvision's layout (`features.N.*`: alexnet-owt-7be5be79.pth,
        vgg16-397923af.pth, or timm's VGG16, whose `features` keep torchvision's indices) into LPIPS's
        backbone, whose slices keep torchvision's layer indices (`sliceK.N.*`); other keys are ignored."""
        own = self.lpips.net.state_dict()
        wanted = {k: "features." + k.split(".", 1)[1] for k in own}
        missing = sorted(v for v in wanted.values() if v not in state)
        wrong = sorted(v for k, v in wanted.items() if v in state and state[v].shape != own[k].shape)
        if missing or wrong:
            raise ValueError(f"not a torchvision {self.lpips.pnet_type} backbone: missing {missing[:6]}, "
                             f"wrong shapes {wrong[:6]}")
        self.lpips.net.load_state_dict({k: state[v].float() for k, v in wanted.items()})


class ArcFaceIRSE50(nn.Module):
    def __init__(self, embed_dim: int = 512, drop: float = 0.4) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.body, _ = ir_se_body(64, IR_SE50_STAGES)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop), nn.Flatten(),
                                          nn.Linear(512 * 7 * 7, embed_dim), nn.BatchNorm1d(embed_dim))

    def forward(self, face: Tensor) -> Tensor:  # [B, 3, 112, 112] -> [B, 512]
        return self.output_layer(self.body(self.input_layer(face)))

    def identity(self, img: Tensor) -> Tensor:
        """Unit ArcFace embeddings of aligned face images [B, 3, H, W] in [-1, 1].  -> [B, 512]"""
        if img.shape[-1] != 256:
            img = F.interpolate(img, size=(256, 256), mode="bilinear", align_corners=False)
        face = F.adaptive_avg_pool2d(img[:, :, 35:223, 32:220], (112, 112))
        return F.normalize(self(face), dim=1)

"""The ffhq zoo's judges (DESIGN §2): LPIPS as the perceptual slot and ArcFace IR-SE50 as the identity
slot, behind the interface EmojiNet gives emoji64 (`perceptual_distance`, `identity`).

- LPIPS (Zhang et al. 2018) from the `lpips` package: its learned linear layers (v0.1, for AlexNet
  and VGG16) ship inside the package; the backbone comes from torchvision's download, or from a
  classifier's `features.<i>.*` tensors handed to `load_backbone` (the ffhq zoo: VGG16 from timm's
  Hub copy of torchvision's weights, pipelines/converters.load_lpips). Its per-layer features
  (`features`) make it the one-shot style judge (pipelines/slots.StyleJudge) on ffhq, as EmojiNet's
  are on emoji64.
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
    def __init__(self, net: str = "alex", pretrained_backbone: bool = True) -> None:
        super().__init__()
        import lpips

        self.lpips = lpips.LPIPS(net=net, pnet_rand=not pretrained_backbone, verbose=False).eval()

    def perceptual_distance(self, x: Tensor, y: Tensor) -> Tensor:
        """LPIPS per pair, images in [-1, 1].  -> [B]"""
        return self.lpips(x, y, normalize=False).flatten()

    def features(self, x: Tensor) -> list[Tensor]:
        """The quantities LPIPS compares: the backbone's five ReLU outputs after LPIPS's input scaling,
        each unit-normalised over channels at every pixel (AlexNet: relu1..relu5, 64-192-384-256-256
        channels at strides 4 to 16; VGG16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, 64-128-256-512-512
        channels at strides 1 to 16).
        Images [B, 3, H, W] in [-1, 1] -> [B, C_k, H_k, W_k] per layer."""
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [B, 3, H, W], got {list(x.shape)}"
        import lpips

        return [lpips.normalize_tensor(f) for f in self.lpips.net(self.lpips.scaling_layer(x))]

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

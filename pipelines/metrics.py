"""Image and distribution metrics (DESIGN §5). Images come in as [B, 3, H, W] in [-1, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def mse(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared error of images mapped to [0, 1].  -> [B]"""
    return ((x - y) / 2).square().mean((1, 2, 3))


def l2_distance(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared difference of images in [-1, 1] as they are: the L2 term of e4e's, PTI's and RefineStyle's
    losses (4× `mse`, which maps the images to [0, 1] first).  -> [B]"""
    return (x - y).square().mean((1, 2, 3))


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB of images mapped to [0, 1] (peak 1), capped at 100 dB for identical
    images.  -> [B]"""
    return -10 * torch.log10(mse(x, y).clamp_min(1e-10))


def identity_retrieval_r1(queries: Tensor, gallery: Tensor, labels: list) -> float:
    """R@1 of unit embeddings: for each query i [N, D], is the nearest gallery row [N, D] (cosine) one with
    the same label as row i (labels: [N], e.g. an emoji's identity shared by its skin-tone variants)?"""
    nearest = (queries @ gallery.t()).argmax(1).tolist()
    return sum(labels[j] == labels[i] for i, j in enumerate(nearest)) / len(labels)


def ssim(x: Tensor, y: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """SSIM (Wang et al. 2004) on [0, 1] images, Gaussian window, channel mean.  -> [B]"""
    x, y = (x + 1) / 2, (y + 1) / 2
    c = x.shape[1]
    g = torch.exp(-((torch.arange(window, dtype=x.dtype, device=x.device) - window // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(c, 1, window, window)
    blur = lambda t: F.conv2d(t, kernel, groups=c)
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean((1, 2, 3))


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, D] and [M, D].

    ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½), in float64 through symmetric eigendecompositions.
    """
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.t()), torch.cov(b.t())
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.t()
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * middle)


def paired_bootstrap(diffs: Tensor, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of paired differences [N] and its 95 % percentile-bootstrap interval.  -> (mean, low, high)

    Resamples the N pairs with replacement (a fixed seed, so a bench reruns to the same interval).
    """
    diffs = diffs.double().flatten()
    if diffs.numel() < 2:
        raise ValueError(f"need at least two paired differences, got {diffs.numel()}")
    gen = torch.Generator().manual_seed(seed)
    means = diffs[torch.randint(len(diffs), (resamples, len(diffs)), generator=gen)].mean(1)
    low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return diffs.mean().item(), low, high


def knn_radii(features: Tensor, k: int = 3) -> Tensor:
    """Distance from each point to its k-th nearest other point of the same set.  [N, D] -> [N]"""
    dist = torch.cdist(features.double(), features.double())  # [N, N]
    return dist.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself (0)


def manifold_coverage(queries: Tensor, support: Tensor, k: int = 3) -> float:
    """Share of queries inside the k-NN manifold of `support`: within the k-NN radius of some
    support point (Kynkäänniemi et al. 2019, Eq. 1–2).  queries [M, D], support [N, D] -> [0, 1]"""
    radii = knn_radii(support, k)  # [N]
    dist = torch.cdist(queries.double(), support.double())  # [M, N]
    return (dist <= radii[None, :]).any(1).double().mean().item()


def precision_recall(fake: Tensor, real: Tensor, k: int = 3) -> dict[str, float]:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake manifold),
    Kynkäänniemi et al. 2019, with k-NN radii in a feature space.  fake [M, D], real [N, D]"""
    return {"precision": manifold_coverage(fake, real, k), "recall": manifold_coverage(real, fake, k)}


def nearest_distances(queries: Tensor, support: Tensor) -> tuple[Tensor, Tensor]:
    """Each query's distance to its nearest support point and that point's index.  -> ([M], [M])"""
    dist = torch.cdist(queries.double(), support.double())  # [M, N]
    values, index = dist.min(1)
    return values, index

"""Metrics against closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from pipelines.metrics import frechet_distance, mse, paired_bootstrap, ssim


def test_mse_is_on_the_unit_range():
    x = torch.full((2, 3, 8, 8), -1.0)
    assert torch.allclose(mse(x, -x), torch.ones(2))  # black vs white
    assert torch.allclose(mse(x, x), torch.zeros(2))


def test_ssim_closed_form_and_noise_order():
    a, b = 0.2, 0.7  # constant images: SSIM = (2ab + c1) / (a² + b² + c1)
    x = torch.full((1, 3, 16, 16), 2 * a - 1, dtype=torch.float64)
    y = torch.full((1, 3, 16, 16), 2 * b - 1, dtype=torch.float64)
    expected = (2 * a * b + 0.01**2) / (a * a + b * b + 0.01**2)
    assert ssim(x, y).item() == pytest.approx(expected, rel=1e-5)
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    scores = [ssim(img, (img + s * torch.randn_like(img)).clamp(-1, 1)).item() for s in (0.0, 0.05, 0.2, 0.5)]
    assert scores[0] == pytest.approx(1.0, abs=1e-6) and scores == sorted(scores, reverse=True)


def test_frechet_distance_matches_the_textbook_formula():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 6, generator=g), torch.randn(400, 6, generator=g) * 1.5 + 0.3
    mu_a, mu_b = a.double().mean(0).numpy(), b.double().mean(0).numpy()
    ca, cb = np.cov(a.double().numpy(), rowvar=False), np.cov(b.double().numpy(), rowvar=False)
    ref = ((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert abs(frechet_distance(a, a)) < 1e-8


def test_paired_bootstrap_matches_the_normal_interval_and_rejects_too_few_pairs():
    g = torch.Generator().manual_seed(0)
    diffs = 0.3 + torch.randn(400, generator=g, dtype=torch.float64)
    mean, low, high = paired_bootstrap(diffs)
    half = 1.96 * diffs.std().item() / 400**0.5  # the large-N normal interval
    assert mean == pytest.approx(diffs.mean().item())
    assert low == pytest.approx(mean - half, abs=0.015) and high == pytest.approx(mean + half, abs=0.015)
    assert paired_bootstrap(diffs) == (mean, low, high)  # seeded
    assert paired_bootstrap(torch.full((10,), 0.25)) == pytest.approx((0.25, 0.25, 0.25))
    with pytest.raises(ValueError, match="two paired"):
        paired_bootstrap(torch.ones(1))


def test_reconstruction_l2_term_is_the_squared_difference_of_signed_images():
    """The loss's L2 term is e4e's / PTI's mean squared difference on [-1, 1] (4× `mse`, which maps to [0, 1]);
    the earlier form stays available as `l2_on_unit_images`."""
    from pipelines.losses import ReconstructionLoss
    from pipelines.metrics import l2_distance, mse

    x, y = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    torch.testing.assert_close(l2_distance(x, y), 4 * mse(x, y))
    torch.testing.assert_close(l2_distance(x, y), ((x - y) ** 2).flatten(1).mean(1))
    zero = lambda a, b: torch.zeros(a.shape[0])  # noqa: E731 (no perceptual part)
    faithful, _ = ReconstructionLoss(zero, lambda a: a, id=0.0)(x, y)
    unit, _ = ReconstructionLoss(zero, lambda a: a, id=0.0, l2_on_unit_images=True)(x, y)
    torch.testing.assert_close(faithful, l2_distance(x, y).mean())
    torch.testing.assert_close(unit, mse(x, y).mean())

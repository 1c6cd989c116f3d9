"""The refined modulated convolution (RefineStyle Eq. 1–4) against a naive materialised kernel."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nets.filters import blur, fir_kernel
from nets.modconv import ModulatedConv2d, _AddLowRankResponse, _kernel_energy
from nets.stylegan2 import Generator


def naive_refined_conv(m: ModulatedConv2d, x, w, p_hat=None, q_hat=None, delta=None):
    """Per sample: W''' = demod(scale · (s ⊙ W⁰ + ΔW ⊗ 1_3×3)), then the textbook conv."""
    outs = []
    weight = m.weight if delta is None else m.weight + delta
    s = m.affine(w)
    for b in range(x.shape[0]):
        kernel = weight * s[b][None, :, None, None]  # [O, I, 3, 3]
        if p_hat is not None:
            pb, qb = p_hat[b if p_hat.shape[0] > 1 else 0], q_hat[b if q_hat.shape[0] > 1 else 0]
            kernel = kernel + (pb.t() @ qb)[:, :, None, None].expand_as(kernel)
        kernel = kernel * m.scale
        kernel = kernel * torch.rsqrt(kernel.square().sum((1, 2, 3), keepdim=True) + 1e-8)
        xb = x[b : b + 1]
        if m.up:
            y = F.conv_transpose2d(xb, kernel.transpose(0, 1), stride=2)
            y = blur(y, fir_kernel(gain=4.0), pad=1)
        else:
            y = F.conv2d(xb, kernel, padding=1)
        outs.append(y)
    return torch.cat(outs)


def _factors(batch, rank, m, scale=0.3):
    return torch.randn(batch, rank, m.out_channels) * scale, torch.randn(batch, rank, m.in_channels) * scale


@pytest.mark.parametrize("up", [False, True], ids=["same-res", "up"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("mode", ["per-image", "shared"])
def test_factored_equals_naive_materialised_kernel(up, batch, mode):
    m = ModulatedConv2d(6, 5, 3, w_dim=7, up=up)
    x, w = torch.randn(batch, 6, 8, 8), torch.randn(batch, 7)
    p_hat, q_hat = _factors(batch if mode == "per-image" else 1, 4, m)
    with torch.no_grad():
        ours = m(x, w, (p_hat, q_hat))
        ref = naive_refined_conv(m, x, w, p_hat, q_hat)
    assert ours.shape == (batch, 5, 16 if up else 8, 16 if up else 8)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_plain_and_zero_residual_equal_the_stylegan2_layer(up, batch):
    m = ModulatedConv2d(6, 5, 3, w_dim=7, up=up)
    x, w = torch.randn(batch, 6, 8, 8), torch.randn(batch, 7)
    zeros = (torch.zeros(batch, 4, 5), torch.zeros(batch, 4, 6))
    with torch.no_grad():
        plain = m(x, w)
        torch.testing.assert_close(plain, naive_refined_conv(m, x, w), atol=1e-5, rtol=0)
        torch.testing.assert_close(m(x, w, zeros), plain, atol=1e-6, rtol=0)


def test_weight_delta_equals_editing_the_kernel():
    m = ModulatedConv2d(6, 5, 3, w_dim=7)
    x, w = torch.randn(2, 6, 8, 8), torch.randn(2, 7)
    delta = torch.randn_like(m.weight) * 0.2
    with torch.no_grad():
        ours = m(x, w, weight_delta=delta)
        torch.testing.assert_close(ours, naive_refined_conv(m, x, w, delta=delta), atol=1e-5, rtol=0)
        m.weight += delta
        torch.testing.assert_close(m(x, w), ours, atol=1e-5, rtol=0)


def test_gradients_reach_tokens_and_scalings():
    """P, Q [L, C] and learnable scalings A, B [L] (initialised small) all receive gradient."""
    m = ModulatedConv2d(6, 5, 3, w_dim=7, up=True)
    x, w = torch.randn(2, 6, 8, 8), torch.randn(2, 7)
    P, Q = torch.randn(2, 4, 5, requires_grad=True), torch.randn(2, 4, 6, requires_grad=True)
    A, B = torch.full((4,), 0.01, requires_grad=True), torch.full((4,), 0.01, requires_grad=True)
    y = m(x, w, (A[None, :, None] * P, B[None, :, None] * Q))
    (y * torch.randn_like(y)).sum().backward()
    for name, t in {"P": P, "Q": Q, "A": A, "B": B}.items():
        assert t.grad is not None and t.grad.abs().sum() > 0, name


@pytest.mark.parametrize("up", [False, True])
def test_low_rank_response_backward_is_exact(up):
    """The hand-written backward of the channels-last low-rank product agrees with finite differences."""
    m = ModulatedConv2d(3, 2, 3, w_dim=4, up=up).double()
    x = torch.randn(2, 3, 5, 5, dtype=torch.double).contiguous(memory_format=torch.channels_last).requires_grad_()
    size = 10 if up else 5
    y = torch.randn(2, 2, size, size, dtype=torch.double).requires_grad_()
    p = torch.randn(2, 2, 2, dtype=torch.double, requires_grad=True)
    q = torch.randn(2, 2, 3, dtype=torch.double, requires_grad=True)
    fn = lambda y, x, p, q: _AddLowRankResponse.apply(y * 1, x, p, q, m.box, up)
    assert torch.autograd.gradcheck(fn, (y, x, p, q))


@torch.no_grad()
def test_refined_synthesis_on_the_1024_config():
    g = Generator(1024).eval()
    ws = g.broadcast(g.mapping(torch.randn(1, 512)))
    residuals = {i: (torch.zeros(1, 32, c.conv.out_channels), torch.zeros(1, 32, c.conv.in_channels))
                 for i, c in enumerate(g.synthesis.convs)}
    plain = g.synthesis(ws)
    torch.testing.assert_close(g.synthesis(ws, residuals=residuals), plain, atol=1e-5, rtol=0)
    layer = g.synthesis.convs[16].conv  # the last 3×3 conv: 32 → 32 at 1024²
    residuals[16] = (torch.randn(1, 32, layer.out_channels) * 0.1, torch.randn(1, 32, layer.in_channels) * 0.1)
    refined = g.synthesis(ws, residuals=residuals)
    assert refined.shape == (1, 3, 1024, 1024) and (refined - plain).abs().mean() > 1e-3


@torch.no_grad()
def test_feature_hook_reads_and_replaces_features():
    g = Generator(size=16, style_dim=8, n_mlp=2, channels=[8, 8, 8]).eval()
    ws = g.broadcast(g.mapping(torch.randn(2, 8)))
    seen = []
    base = g.synthesis(ws, feature_hook=lambda i, x: seen.append((i, tuple(x.shape))))
    assert seen == [(0, (2, 8, 4, 4)), (1, (2, 8, 8, 8)), (2, (2, 8, 8, 8)), (3, (2, 8, 16, 16)), (4, (2, 8, 16, 16))]
    torch.testing.assert_close(g.synthesis(ws), base)
    last = {}
    zeroed = g.synthesis(ws, feature_hook=lambda i, x: (last.setdefault("x", x), torch.zeros_like(x))[1] if i == 4 else None)
    # zero features into the last ToRGB remove exactly its convolution's contribution
    torch.testing.assert_close(base - zeroed, g.synthesis.to_rgbs[2].conv(last["x"], ws[:, 5]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("factors", ["none", "per-image", "shared"])
def test_kernel_energy_backward_is_exact(factors):
    """The demodulation energy's gradients (hand-written for per-image factors) agree with finite differences."""
    weight = torch.randn(4, 3, 3, 3, dtype=torch.double, requires_grad=True)
    s = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
    if factors == "none":
        assert torch.autograd.gradcheck(lambda w, s: _kernel_energy(w, s, None), (weight, s))
        return
    nb = 1 if factors == "shared" else 2
    p = torch.randn(nb, 2, 4, dtype=torch.double, requires_grad=True)
    q = torch.randn(nb, 2, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, s, p, q: _kernel_energy(w, s, (p, q)), (weight, s, p, q))


@pytest.mark.parametrize("up", [False, True])
def test_shared_factors_match_the_per_image_path(up):
    """Shared factors (1×1 convolutions, ΔW-form energy) give the per-image path's output and gradients."""
    m = ModulatedConv2d(6, 5, 3, w_dim=7, up=up).double()
    x, w = torch.randn(3, 6, 8, 8, dtype=torch.double), torch.randn(3, 7, dtype=torch.double)
    p, q = (t.double().requires_grad_() for t in _factors(1, 4, m))
    bias, probe = torch.randn(5, dtype=torch.double), torch.randn(3, 5, 16 if up else 8, 16 if up else 8)
    outs, grads = [], []
    for factors in ((p, q), (p.expand(3, -1, -1), q.expand(3, -1, -1))):
        y = m(x, w, factors, bias=bias)
        outs.append(y)
        grads.append(torch.autograd.grad((y * probe).sum(), (p, q, m.weight)))
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("up", [False, True], ids=["same-res", "up"])
@pytest.mark.parametrize("batch", [1, 3])
def test_shared_factors_of_high_rank_run_as_the_dense_kernel_with_the_same_output_and_gradients(up, batch, monkeypatch):
    """Shared factors whose rank is not low for the layer (L = 16 on 6 → 5 channels: 2·16·(6 + 5 + 9) ≥ 6·5·9)
    go through ΔW ⊗ 1_3×3 as one dense convolution (in the folded kernel for a batch of one): the naive
    materialised kernel's output, and the factored path's gradients; a low rank stays factored."""
    import nets.modconv as modconv

    m = ModulatedConv2d(6, 5, 3, w_dim=7, up=up).double()
    assert modconv.dense_residual(16, 6, 5, 3) and not modconv.dense_residual(3, 6, 5, 3)
    # config-f at the paper's L = 256: factored up to 256 px (128 channels), dense at 512 and 1024 px
    assert not any(modconv.dense_residual(256, c_in, c_out, 3) for c_in, c_out in ((512, 512), (256, 128), (128, 128)))
    assert all(modconv.dense_residual(256, c_in, c_out, 3) for c_in, c_out in ((128, 64), (64, 64), (64, 32), (32, 32)))
    assert not modconv.dense_residual(87, 128, 64, 3) and not modconv.dense_residual(32, 64, 64, 3)  # emoji64's ranks
    x, w = torch.randn(batch, 6, 8, 8, dtype=torch.double), torch.randn(batch, 7, dtype=torch.double)
    p, q = (t.double().requires_grad_() for t in _factors(1, 16, m))
    probe = torch.randn(batch, 5, 16 if up else 8, 16 if up else 8, dtype=torch.double)
    with torch.no_grad():
        torch.testing.assert_close(m(x, w, (p, q)), naive_refined_conv(m, x, w, p, q), atol=1e-10, rtol=0)
    outs, grads = [], []
    for factored in (False, True):
        monkeypatch.setattr(modconv, "dense_residual", lambda *a, factored=factored: not factored)
        y = m(x, w, (p, q))
        outs.append(y)
        grads.append(torch.autograd.grad((y * probe).sum(), (p, q, m.weight)))
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)

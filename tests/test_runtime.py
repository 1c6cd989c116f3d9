"""Process-level CPU settings: the oneDNN matmul route must keep float32 results."""
from __future__ import annotations

import pytest
import torch

from nets.modconv import ModulatedConv2d
from pipelines.runtime import route_cpu_matmul_to_onednn

MATMUL = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)


@pytest.fixture
def restore_matmul_setting():
    before = getattr(MATMUL, "fp32_precision", None)
    yield before
    if before is not None:
        MATMUL.fp32_precision = before


def _relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    return ((got.double() - ref).abs().max() / ref.abs().max()).item()


def test_route_keeps_float32_accuracy_or_stays_off(restore_matmul_setting):
    on = route_cpu_matmul_to_onednn()
    if not on:  # the setting is left as it was
        assert getattr(MATMUL, "fp32_precision", None) == restore_matmul_setting
        return
    assert MATMUL.fp32_precision == "bf16"
    gen = torch.Generator().manual_seed(1)
    # shapes other than the probe's: the refined conv's per-sample products and a transposed reduction
    x, q = torch.randn(8, 4096, 64, generator=gen), torch.randn(8, 32, 64, generator=gen)
    z, g = torch.randn(8, 4096, 32, generator=gen), torch.randn(8, 4096, 96, generator=gen)
    y = torch.randn(8, 4096, 96, generator=gen)
    assert _relative_error(x @ q.transpose(1, 2), x.double() @ q.double().transpose(1, 2)) < 1e-5
    assert _relative_error(z.transpose(1, 2) @ g, z.double().transpose(1, 2) @ g.double()) < 1e-5
    assert _relative_error(torch.baddbmm(y, z, g[:, :32]), torch.baddbmm(y.double(), z.double(),
                                                                        g[:, :32].double())) < 1e-5


def test_refined_conv_on_the_route_matches_the_default_route(restore_matmul_setting):
    """Per-image factors, forward and gradients (the default route is checked against the naive
    materialised kernel in test_modconv)."""
    m = ModulatedConv2d(64, 48, 3, w_dim=16, up=True)
    x = torch.randn(4, 64, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(4, 16)
    p_hat = (0.3 * torch.randn(4, 32, 48)).requires_grad_()
    q_hat = (0.3 * torch.randn(4, 32, 64)).requires_grad_()

    def output_and_grads():
        y = m(x, w, (p_hat, q_hat))
        return (y, *torch.autograd.grad(y.square().sum(), (x, p_hat, q_hat, m.weight)))

    default = output_and_grads()
    if not route_cpu_matmul_to_onednn():
        pytest.skip("the oneDNN route is not exact float32 on this CPU, so it stays off")
    for got, ref in zip(output_and_grads(), default):  # float32 summation-order differences only
        assert _relative_error(got, ref.double()) < 1e-5

"""The oneDNN matmul scope: active only where exact, float32 results, the setting restored."""
from __future__ import annotations

import threading

import pytest
import torch

from nets.modconv import ModulatedConv2d
from nets.onednn import onednn_is_exact, onednn_matmuls

MATMUL = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)


def _relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    return ((got.double() - ref.double()).abs().max() / ref.double().abs().max()).item()


def _setting():
    return getattr(MATMUL, "fp32_precision", None)


def test_scope_keeps_float32_accuracy_and_restores_the_setting():
    before = _setting()
    gen = torch.Generator().manual_seed(1)
    # shapes other than the probe's: the refined conv's per-sample products and a transposed reduction
    x, q = torch.randn(8, 4096, 64, generator=gen), torch.randn(8, 32, 64, generator=gen)
    z, g = torch.randn(8, 4096, 32, generator=gen), torch.randn(8, 4096, 96, generator=gen)
    with onednn_matmuls(torch.device("cpu")):
        assert _setting() == ("bf16" if onednn_is_exact() else before)
        with onednn_matmuls(torch.device("cpu")):  # nested: the outer scope keeps it
            pass
        assert _setting() == ("bf16" if onednn_is_exact() else before)
        got = [x @ q.transpose(1, 2), z.transpose(1, 2) @ g, torch.baddbmm(g[:, :, :32], z, q[:, :, :32])]
    assert _setting() == before
    refs = [x.double() @ q.double().transpose(1, 2), z.double().transpose(1, 2) @ g.double(),
            torch.baddbmm(g[:, :, :32].double(), z.double(), q[:, :, :32].double())]
    for a, r in zip(got, refs):
        assert _relative_error(a, r) < 1e-5


def test_concurrent_scopes_restore_the_setting_once_all_have_left():
    before = _setting()
    inside, release = threading.Barrier(3), threading.Event()

    def hold():
        with onednn_matmuls(torch.device("cpu")):
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert _setting() == ("bf16" if onednn_is_exact() else before)
    release.set()
    for t in threads:
        t.join()
    assert _setting() == before


def test_per_image_refined_conv_matches_the_mkl_route():
    """Forward and gradients with the scope active (the default) against the same layer with the scope
    disabled; the latter is checked against the naive materialised kernel in test_modconv."""
    if not onednn_is_exact():
        pytest.skip("oneDNN is not exact float32 on this CPU, so the scope never activates")
    m = ModulatedConv2d(64, 48, 3, w_dim=16, up=True)
    x = torch.randn(4, 64, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(4, 16)
    p_hat = (0.3 * torch.randn(4, 32, 48)).requires_grad_()
    q_hat = (0.3 * torch.randn(4, 32, 64)).requires_grad_()

    def output_and_grads():
        y = m(x, w, (p_hat, q_hat))
        return (y, *torch.autograd.grad(y.square().sum(), (x, p_hat, q_hat, m.weight)))

    onednn = output_and_grads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("nets.onednn._state", {"exact": False, "depth": 0, "before": None})
        mkl = output_and_grads()
    for a, r in zip(onednn, mkl):  # float32 summation-order differences only
        assert _relative_error(a, r) < 1e-5

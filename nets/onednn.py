"""A scope in which CPU float32 matrix products run on oneDNN, where that stays exact float32.

PyTorch computes CPU matmuls with MKL, which runs its AVX2 kernels on AMD CPUs: the thin
per-sample products of the refined convolution ([4096, 64] × [64, 32] per image) ran at
120–190 GFLOP/s on this project's AVX-512 EPYC, oneDNN's at 400–450.  PyTorch hands float32
matmuls to oneDNN only while its oneDNN precision setting allows bf16, and oneDNN takes that
licence only on CPUs with AMX tiles; elsewhere it computes in float32.  So the first use probes
products of the refined convolution's shapes against float64: the scope is active only if the
results stay float32-exact (relative error ≤ 1e-5; bf16 arithmetic gives ~1e-3).

Why a scope and not a process setting: oneDNN loses elsewhere — small products with large
weights (CLIP, the mapping network) and strided or broadcast operands, which it copies first,
made text-driven adaptation 1.75× slower per iteration when every matmul took this route.

The setting is process-wide, so the scope holds it with a count under a lock: a product in another
thread during the scope may run on oneDNN too, which on a CPU that passed the probe changes its
speed, not its result.  While it is held, `torch.get_float32_matmul_precision()` (the legacy
getter, which only torch.compile calls) raises, per PyTorch's rule for mixed settings.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

_LOCK = threading.Lock()
_state: dict = {"exact": None, "depth": 0, "before": None}


def onednn_is_exact() -> bool:
    """Whether this CPU runs float32 products on oneDNN exactly (probed once, then cached)."""
    with _LOCK:
        if _state["exact"] is None:
            _state["exact"] = _probe()
        return _state["exact"]


@contextmanager
def onednn_matmuls(device: torch.device) -> Iterator[None]:
    """CPU float32 matmuls inside run on oneDNN where `onednn_is_exact()`; otherwise nothing changes."""
    if device.type != "cpu" or not onednn_is_exact():
        yield
        return
    matmul = torch.backends.mkldnn.matmul
    with _LOCK:
        if _state["depth"] == 0:
            _state["before"], matmul.fp32_precision = matmul.fp32_precision, "bf16"
        _state["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                matmul.fp32_precision = _state["before"]


def _probe() -> bool:
    matmul = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    if matmul is None or not hasattr(matmul, "fp32_precision") or not torch.backends.mkldnn.is_available():
        return False
    gen = torch.Generator().manual_seed(0)
    operands = [torch.randn(16, 1024, 128, generator=gen), torch.randn(16, 128, 32, generator=gen),
                torch.randn(512, 192, generator=gen), torch.randn(192, 192, generator=gen)]

    def products(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> list[torch.Tensor]:
        return [a @ b, a.transpose(1, 2) @ a[..., :48], c @ d, F.linear(c, d)]  # bmm, transposed bmm, mm, linear

    before, matmul.fp32_precision = matmul.fp32_precision, "bf16"
    try:
        got = products(*operands)
    finally:
        matmul.fp32_precision = before
    refs = products(*(t.double() for t in operands))
    return all(((x.double() - r).abs().max() / r.abs().max()).item() <= 1e-5 for x, r in zip(got, refs))

"""Process-level settings for CPU inference and training."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

import torch
import torch.nn.functional as F

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_cpu_allocator() -> bool:
    """Let glibc keep large freed blocks for reuse instead of returning them to the OS.

    By default every tensor over 128 KiB is a fresh mmap, so each new activation costs a page
    fault per 4 KiB on first touch; on this project's CPU benchmarks that was a quarter of the
    1024 px forward time. Returns False where the C library is not glibc (nothing changes).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1
        return ok and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except (OSError, AttributeError):
        return False


def route_cpu_matmul_to_onednn() -> bool:
    """Send CPU float32 matrix products to oneDNN where they stay exact float32.

    PyTorch computes CPU matmuls with MKL, which runs its AVX2 kernels on AMD CPUs: the thin
    per-sample products of the refined convolution ([4096, 64] × [64, 32] per image) ran at
    120–190 GFLOP/s on this project's AVX-512 EPYC, oneDNN's at 400–450.  PyTorch hands float32
    matmuls to oneDNN only when its oneDNN precision setting allows bf16, and oneDNN takes that
    licence only on CPUs with AMX tiles; elsewhere it computes in float32.  So this sets it, checks
    on probe products of the model's shapes that the results are float32-exact (relative error
    ≤ 1e-5 against float64; bf16 arithmetic gives ~1e-3), and puts the setting back otherwise.

    Process-wide, CPU only (CUDA's settings are untouched).  While it is on, the legacy getter
    `torch.get_float32_matmul_precision()` raises (PyTorch's rule for mixed settings); only
    torch.compile calls it, and the project does not compile.  Returns whether the route is on.
    """
    matmul = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    if matmul is None or not hasattr(matmul, "fp32_precision") or not torch.backends.mkldnn.is_available():
        return False
    before = matmul.fp32_precision
    matmul.fp32_precision = "bf16"
    if _float32_exact():
        return True
    matmul.fp32_precision = before
    return False


def _float32_exact() -> bool:
    """Do CPU bmm, mm and linear keep float32 accuracy on shapes like the generator's?"""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 1024, 128, generator=gen), torch.randn(16, 128, 32, generator=gen)
    c, d = torch.randn(512, 192, generator=gen), torch.randn(192, 192, generator=gen)
    pairs = [(a @ b, a.double() @ b.double()), (c @ d, c.double() @ d.double()),
             (F.linear(c, d), F.linear(c.double(), d.double()))]
    return all(((got.double() - ref).abs().max() / ref.abs().max()).item() <= 1e-5 for got, ref in pairs)


def tune_cpu() -> dict[str, bool]:
    """The process-level CPU settings the app, the training scripts and the benchmarks run with."""
    return {"allocator_tuned": tune_cpu_allocator(), "onednn_matmul": route_cpu_matmul_to_onednn()}

"""Process-level settings for CPU inference and training, seeded network initialisation, and evaluation mode
that gives networks back as they came."""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch

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


@contextmanager
def seeded_initialisation(seed: int) -> Iterator[torch.Generator]:
    """Build networks inside this block to give them the initial weights of `seed`.

    torch's layers (nn.Linear, nn.Conv2d, open_clip's CLIP, ...) draw their initial weights from the
    global CPU generator and take no generator of their own, so the block runs on a fork of it,
    seeded with `seed` and restored on exit: the caller's global state is as it was. The yielded
    CPU generator continues the fork's stream after the block, so the draws a recipe takes from it
    are the numbers `torch.manual_seed(seed)`, the same construction and global draws gave.
    """
    gen = torch.Generator()
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield gen
        gen.set_state(torch.random.default_generator.get_state())


@contextmanager
def evaluation_mode(*nets: torch.nn.Module) -> Iterator[None]:
    """Run the block with `nets` in eval mode, then give every one of their modules back the mode it had on entry.

    An evaluation must not change the networks it scores: a recipe may score its network mid-training, and the
    zoo shares one cached instance of each network between every caller, so a trailing `.train()` (or `.eval()`)
    would leak into them. Modes are restored module by module, so a network that entered with some modules in
    eval mode (frozen BatchNorm, say) leaves the same way.
    """
    modes = [(module, module.training) for net in nets for module in net.modules()]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training

"""bench.gpu: a clear exit without CUDA; the timings themselves only where a GPU is (skipped here)."""
from __future__ import annotations

import pytest
import torch

from bench import gpu


def test_without_cuda_it_exits_with_a_message(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="no CUDA device"):
        gpu.main([])


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="bench.gpu times a CUDA device")
def test_every_case_runs_on_the_gpu(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu, "RESULTS", tmp_path / "gpu.json")
    gpu.main(["--steps", "1", "2", "--repeats", "1"])
    text = (tmp_path / "gpu.json").read_text()
    assert '"error"' not in text

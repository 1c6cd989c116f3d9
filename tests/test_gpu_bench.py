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


def test_the_table_names_the_machine_and_every_case():
    from bench.report import machine

    host = machine()
    assert host["cpus"] >= 1 and host["threads"] >= 1 and all(f.startswith(("avx", "amx", "fma")) for f in host["flags"])
    result = {"device": "CPU", "torch": torch.__version__, "machine": host,
              "inversion": {"e4e": {"seconds_per_image": 1.25},
                            "pti": {"seconds_per_step": 2.5, "fixed_seconds": 0.5, "steps": [1, 3]},
                            "gani": {"seconds_per_step": 3.0, "fixed_seconds": -0.2, "steps": [1, 3]}},
              "adaptation": {"text": {"error": "RuntimeError: out of memory"}},
              "training": {"seconds_per_step": 0.5, "batch": 16, "images_per_second": 32.0}}
    text = gpu.table(result)
    assert host["cpu"] in text and "1.250 per image" in text and "2.500 per step (+ 0.50 fixed)" in text
    assert "3.000 per step (+ fixed part below timing noise)" in text
    assert "failed: RuntimeError: out of memory" in text and "0.500 per step = 32 images/s" in text

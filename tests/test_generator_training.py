"""Generator training v2: bf16 autocast accuracy, adaptive augmentation, the vision-aided
discriminator, and improved precision / recall."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nets.emojinet import EmojiNet
from nets.modconv import _kernel_energy
from nets.stylegan2 import Discriminator, Generator
from nets.vision_aided import FeatureDiscriminator
from pipelines.metrics import knn_radii, manifold_coverage, nearest_distances, precision_recall
from train.augment import AdaptiveAugment

TINY = {"size": 16, "style_dim": 32, "n_mlp": 2, "channels": [32, 32, 32]}


def test_demodulation_energy_stays_float32_under_bf16_autocast():
    weight, s = torch.randn(24, 16, 3, 3), torch.randn(4, 16)
    p_hat, q_hat = torch.randn(4, 2, 24), torch.randn(4, 2, 16)
    for residual in (None, (p_hat, q_hat)):
        exact = _kernel_energy(weight, s, residual)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = _kernel_energy(weight, s.bfloat16(), residual)
        assert mixed.dtype == torch.float32
        # only the bf16 rounding of s remains (relative 2^-8 per element)
        torch.testing.assert_close(mixed, exact, rtol=2e-2, atol=0)


def test_bf16_autocast_training_step_matches_float32():
    """One generator step under bf16 autocast: images within a few 1/255 on average and a gradient
    far closer to the float32 one than the batch-to-batch noise of the gradient itself."""
    torch.manual_seed(0)
    G, D = Generator(**TINY), Discriminator(size=16, channels=[32, 32, 32])

    def step(z: torch.Tensor, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        G.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            img = G(z)
            loss = F.softplus(-D(img.float())).mean()
        loss.backward()
        return img.float().detach(), torch.cat([p.grad.flatten() for p in G.parameters() if p.grad is not None])

    z1, z2 = torch.randn(8, 32), torch.randn(8, 32)
    img32, grad32 = step(z1, False)
    img16, grad16 = step(z1, True)
    _, grad_other = step(z2, False)
    assert (img16 - img32).abs().mean() < 4 / 255
    bf16_cos = F.cosine_similarity(grad16, grad32, dim=0)
    noise_cos = F.cosine_similarity(grad_other, grad32, dim=0)
    assert bf16_cos > 0.95 and bf16_cos > noise_cos + 0.3


def test_adaptive_augment_identity_at_zero_and_steers_p():
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    ada = AdaptiveAugment(target=0.6, speed_kimg=1.0, interval=2)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(ada(x, gen), x)  # p = 0: no transform
    assert ada.observe(torch.tensor(1.0), batch=8) is None  # waits for `interval` observations
    assert ada.observe(torch.tensor(1.0), batch=8) == 1.0  # r_t = 1 > 0.6: D overfits, p rises
    assert abs(ada.p - 16 / 1000) < 1e-12
    for _ in range(2):
        ada.observe(torch.tensor(-1.0), batch=8)  # r_t = -1 < 0.6: p falls back, never below 0
    assert ada.p == 0.0
    ada.p = 1.0
    y = ada(x, gen)
    assert (y - x).abs().flatten(1).amax(1).gt(0).all()  # p = 1: every sample transformed


def test_feature_discriminator_trains_heads_only_and_passes_gradient():
    backbone = EmojiNet(widths=[8, 8, 8, 8, 8]).eval().requires_grad_(False)
    d = FeatureDiscriminator(backbone.features, [8] * 5, stages=[1, 3], width=4)
    assert {n.split(".")[0] for n, _ in d.named_parameters()} == {"heads"}  # the backbone is not a submodule
    img = torch.randn(2, 3, 64, 64, requires_grad=True)
    logits = d(img)
    assert logits.shape == (2, 32 * 32 + 8 * 8)  # one logit per position of stages 1 (32 px) and 3 (8 px)
    logits.sum().backward()
    assert img.grad.abs().sum() > 0 and all(p.grad is None for p in backbone.parameters())


def test_precision_recall_on_known_sets():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])
    # k = 1 radii: every real point's nearest neighbour is 1 away
    torch.testing.assert_close(knn_radii(real, k=1), torch.ones(5, dtype=torch.float64))
    fake = torch.tensor([[0.5], [4.9], [10.0], [-3.0]])  # two inside the real manifold, two outside
    assert manifold_coverage(fake, real, k=1) == 0.5
    pr = precision_recall(real, real, k=2)
    assert pr == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(real + 100, real, k=2) == {"precision": 0.0, "recall": 0.0}
    dist, idx = nearest_distances(fake, real)
    torch.testing.assert_close(dist, torch.tensor([0.5, 0.9, 6.0, 3.0], dtype=torch.float64))
    assert idx.tolist() == [0, 4, 4, 0]


def test_gan_training_step_updates_every_network_and_restores_gradients(tmp_path):
    from train.generator import GanTraining, parse_args

    args = parse_args(["--precision", "bf16", "--augment", "ada", "--va-weight", "1", "--va-stages", "2", "4",
                       "--run-dir", str(tmp_path)])
    run = GanTraining(args, torch.device("cpu"))
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in run.modules.items()}
    reals = torch.rand(16, 3, 64, 64) * 2 - 1
    state = torch.get_rng_state()
    losses = [run.step(reals, step) for step in range(2)]  # step 0 carries the lazy R1
    assert torch.equal(torch.get_rng_state(), state)  # every draw from run.rng, none from torch's global generator
    assert losses[0][2] > 0 and losses[1][2] == 0
    for k, m in run.modules.items():
        moved = [not torch.equal(a, b) for a, b in zip(before[k], m.parameters())]
        assert any(moved), f"{k} did not change"
    # the discriminators' trainable parameters are trainable again after the G step
    assert all(p.requires_grad for p in run.D.parameters())
    assert all(p.requires_grad for p in run.discs["D_va"].heads.parameters())
    assert not any(p.requires_grad for p in run.G_ema.parameters())


_TWO_PROCESS_RUN = """
import sys, torch
import torch.distributed as dist
from train.generator import GanTraining, parse_args
from train.recipe import setup_distributed

ddp = setup_distributed("cpu")
torch.manual_seed(0)  # the same initial networks in every process
args = parse_args(["--precision", "bf16", "--augment", "ada", "--va-weight", "1", "--batch", "8",
                   "--run-dir", sys.argv[1]])
run = GanTraining(args, ddp.device, ddp.world)
torch.manual_seed(1 + ddp.rank)  # each process its own reals
run.rng.manual_seed(1 + ddp.rank)  # and its own noise
for step in range(2):  # step 0 carries the lazy R1 step
    run.step(torch.rand(run.per_rank, 3, 64, 64) * 2 - 1, step)
state = {k: torch.cat([p.detach().flatten() for p in m.parameters()]) for k, m in run.modules.items()}
state["w_avg"], state["p"] = run.G.w_avg, torch.tensor(run.augment.p)
torch.save(state, f"{sys.argv[1]}/rank{ddp.rank}.pt")
ddp.close()
"""


@pytest.mark.slow
def test_two_gloo_processes_keep_every_network_in_step(tmp_path):
    """Under torchrun each process sees its own shard; the averaged gradients (and ADA's r_t, w_avg)
    keep G, D, D_va's heads, G_ema and p identical across processes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "run.py"
    script.write_text(_TWO_PROCESS_RUN)
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tmp_path)], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key in ranks[0]:
        torch.testing.assert_close(ranks[1][key], ranks[0][key], rtol=0, atol=0, msg=key)


def test_init_from_a_run_folder_starts_from_its_ema_generator_and_discriminator(tmp_path):
    from train.checkpoint import save_state
    from train.generator import GanTraining, parse_args

    first = GanTraining(parse_args(["--run-dir", str(tmp_path / "first")]), torch.device("cpu"))
    first.step(torch.rand(16, 3, 64, 64) * 2 - 1, 1)
    save_state(tmp_path / "first", first.modules, first.opts, {"step": 1, "kimg": 0.016, "seconds": 1.0})
    second = GanTraining(parse_args(["--run-dir", str(tmp_path / "second"), "--init-from", str(tmp_path / "first"),
                                     "--lr", "0.001"]), torch.device("cpu"))
    for name, source in (("G", first.G_ema), ("G_ema", first.G_ema), ("D", first.D)):
        for a, b in zip(source.state_dict().values(), second.modules[name].state_dict().values()):
            torch.testing.assert_close(a, b)
    assert second.opts["G"].param_groups[0]["lr"] == 0.001  # fresh optimisers at the new rate
    assert not second.opts["G"].state

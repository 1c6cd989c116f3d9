"""DiffAugment and the recipes' other draws, seeded initialisation, resumable training state, and
shipping a network with its model card."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from nets.emojinet import EmojiNet
from nets.stylegan2 import Discriminator
from pipelines.augment import random_homographies
from pipelines.runtime import seeded_initialisation
from train.augment import AdaptiveAugment, _cutout, _translation, diff_augment
from train.emojinet import attribute_loss, jitter, style_pairs
from train.checkpoint import load_state, save_state
from train.export import ModelCard, ship


def test_diff_augment_is_differentiable_and_shape_preserving():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    y = diff_augment(x * 2 - 1, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.abs().sum() > 0


def test_translation_moves_content_and_fills_white():
    x = -torch.ones(64, 3, 16, 16)
    y = _translation(x, torch.Generator().manual_seed(0))
    shifted = (y == 1).all(1)  # white borders appear where content moved out
    assert shifted.any() and not shifted.all()
    assert ((y == 1) | (y == -1)).all()


def test_cutout_zeroes_at_most_a_quarter():
    y = _cutout(torch.ones(256, 3, 16, 16), torch.Generator().manual_seed(0))
    frac = (y == 0).all(1).float().mean((1, 2))  # an 8×8 square, clipped at the borders
    assert frac.max() == 0.25 and (frac <= 0.25).all() and frac.mean() > 0.12


def test_augmentations_draw_from_their_generator_only():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    ada = AdaptiveAugment(p=0.5)
    state = torch.get_rng_state()
    runs = [(diff_augment(x, torch.Generator().manual_seed(seed)), jitter(x, torch.Generator().manual_seed(seed)),
             ada(x, torch.Generator().manual_seed(seed)), random_homographies(4, 0.1, torch.Generator().manual_seed(seed)))
            for seed in (1, 1, 2)]
    assert torch.equal(torch.get_rng_state(), state)  # torch's global generator neither read nor reseeded
    for (first, again, other), name in zip(zip(*runs), ("diff_augment", "jitter", "ada", "homographies")):
        assert torch.equal(first, again) and not torch.equal(first, other), name  # the seed decides


def test_seeded_initialisation_builds_what_manual_seed_built_and_restores_the_global_generator():
    torch.manual_seed(5)
    reference, draws = nn.Linear(6, 4), torch.randn(8)  # the old recipes: manual_seed, build, draw globally
    state = torch.get_rng_state()
    with seeded_initialisation(5) as gen:
        net = nn.Linear(6, 4)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(net.weight, reference.weight) and torch.equal(net.bias, reference.bias)
    assert torch.equal(torch.randn(8, generator=gen), draws)  # gen continues the same stream


def test_state_round_trip_continues_identically(tmp_path):
    torch.manual_seed(0)
    d1 = Discriminator(size=16, channels=[8, 8, 8])
    opt1 = torch.optim.Adam(d1.parameters(), lr=1e-2, betas=(0.0, 0.99))
    x = torch.randn(4, 3, 16, 16)
    for _ in range(3):
        opt1.zero_grad()
        d1(x).square().mean().backward()
        opt1.step()
    save_state(tmp_path, {"D": d1}, {"D": opt1}, {"step": 3})
    d2 = Discriminator(size=16, channels=[8, 8, 8])
    opt2 = torch.optim.Adam(d2.parameters(), lr=1e-2, betas=(0.0, 0.99))
    assert load_state(tmp_path, {"D": d2}, {"D": opt2}) == {"step": 3}
    for d, opt in ((d1, opt1), (d2, opt2)):
        opt.zero_grad()
        d(x).square().mean().backward()
        opt.step()
    for p1, p2 in zip(d1.parameters(), d2.parameters()):
        torch.testing.assert_close(p1, p2)
    assert load_state(tmp_path / "nothing", {"D": d2}, {}) is None


class _TwoLayers(nn.Module):
    """The same named parameters registered in either order, as a refactor might."""

    def __init__(self, b_first: bool) -> None:
        super().__init__()
        if b_first:
            self.b = nn.Linear(3, 5)
        self.a = nn.Linear(5, 3)
        if not b_first:
            self.b = nn.Linear(3, 5)

    def forward(self, x):
        return self.a(self.b(x))


def test_optimiser_state_follows_parameter_names_across_a_reordering_refactor(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    net1 = _TwoLayers(b_first=False)
    opt1 = torch.optim.Adam([{"params": list(net1.parameters())[:3]},
                             {"params": list(net1.parameters())[3:], "lr": 1e-2}], lr=1e-3)
    for _ in range(2):
        opt1.zero_grad()
        net1(x).square().mean().backward()
        opt1.step()
    save_state(tmp_path, {"net": net1}, {"net": opt1}, {"step": 2})
    net2 = _TwoLayers(b_first=True)  # parameter order b.weight, b.bias, a.weight, a.bias
    by_name = dict(net2.named_parameters())
    groups = [[by_name[k] for k, _ in list(net1.named_parameters())[:3]],
              [by_name[k] for k, _ in list(net1.named_parameters())[3:]]]
    opt2 = torch.optim.Adam([{"params": groups[0][::-1]}, {"params": groups[1], "lr": 1e-2}], lr=1e-3)
    assert load_state(tmp_path, {"net": net2}, {"net": opt2}) == {"step": 2}
    for net, opt in ((net1, opt1), (net2, opt2)):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    for key, value in net1.state_dict().items():
        torch.testing.assert_close(net2.state_dict()[key], value)
    with pytest.raises(ValueError, match="other parameters"):
        load_state(tmp_path, {"net": net2}, {"net": torch.optim.Adam(net2.parameters())})
    loose = nn.Parameter(torch.zeros(2))  # optimised, but in no saved module: its state would have no name
    with pytest.raises(ValueError, match="none of the saved modules"):
        save_state(tmp_path, {"net": net2}, {"net": torch.optim.Adam([*net2.parameters(), loose])}, {"step": 0})


def test_step_logger_counts_and_prints(capsys):
    from train.checkpoint import StepLogger

    meta = {"step": 3, "seconds": 1.0}
    log = StepLogger(meta, every=2, total=6)
    for _ in range(3):
        log.step({"loss": 0.5})
    lines = capsys.readouterr().out.strip().splitlines()
    assert meta["step"] == 6 and meta["seconds"] >= 1.0
    assert [line.split()[1] for line in lines] == ["4/6", "6/6"] and "loss 0.5000" in lines[0]


def test_ship_writes_the_weights_the_record_and_the_model_card(tmp_path):
    net = EmojiNet(widths=[8, 8, 16, 16, 16], embed_dim=8).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    card = ModelCard("tiny judge", "a test network", "python -m train.x --steps 3", {"steps": 3},
                     {"step": 3, "seconds": 7.2})
    ship(net, tmp_path, card, lambda m: m.identity(x), 1e-2)  # no slot: no manifest is touched
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["command"] == card.command and record["meta"]["step"] == 3 and "fp16" in record
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# tiny judge\n\na test network; ") and "(3 steps, 0.00 h on" in text
    assert torch.allclose(EmojiNet.from_pretrained(tmp_path).identity(x), net.identity(x), atol=1e-2)


def test_style_pairs_draw_two_different_styles_that_both_draw_the_row():
    # rows 0-2 drawn by styles 0 and 1; row 3 by styles 0, 1 and 2 (the rare style); row 4 only by style 0
    drawn = torch.tensor([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    rows, first, second = style_pairs(drawn, 3000, gen)
    for r, a, b in zip(rows.tolist(), first, second):
        assert a != b and drawn[r, a] and drawn[r, b]
    assert 4 not in rows.tolist()  # a row only one style draws cannot be paired
    first = torch.tensor(first)
    assert abs((first == 2).float().mean().item() - 1 / 3) < 0.05  # the rare style leads a third of the pairs
    assert (rows == 3).float().mean().item() > 1 / 3  # so its one row is drawn far above its 1/5 share
    again = style_pairs(drawn, 3000, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], rows) and again[2] == second


def test_style_pairs_refuse_a_style_that_shares_no_row():
    drawn = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)  # style 2 draws only a lonely row
    with pytest.raises(ValueError, match=r"styles \[2\].*nothing to pair"):
        style_pairs(drawn, 4, torch.Generator().manual_seed(0))


def test_attribute_loss_ignores_skin_tone_on_colourless_renderings():
    """The skin head learns only from renderings that show colour; the other heads from every rendering."""
    from nets.emojinet import ATTRIBUTES
    from pipelines.emojibench import COLOURLESS, STYLES

    assert set(COLOURLESS) <= set(STYLES)
    gen = torch.Generator().manual_seed(0)
    logits = {f: torch.randn(4, len(v), generator=gen) for f, v in ATTRIBUTES.items()}
    labels = {f: torch.randint(len(v), (4,), generator=gen) for f, v in ATTRIBUTES.items()}
    coloured = torch.tensor([True, True, False, False])
    noisy = dict(labels, skin=torch.tensor([labels["skin"][0], labels["skin"][1], 0, 5]))  # line art: any label
    torch.testing.assert_close(attribute_loss(logits, labels, coloured), attribute_loss(logits, noisy, coloured))
    expected = sum(torch.nn.functional.cross_entropy(logits[f], labels[f]) for f in ATTRIBUTES if f != "skin") + \
        torch.nn.functional.cross_entropy(logits["skin"][:2], labels["skin"][:2])
    torch.testing.assert_close(attribute_loss(logits, labels, coloured), expected)

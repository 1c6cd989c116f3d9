"""train/optimisers.py: Ranger is RAdam on centralised gradients with Lookahead, and resumes exactly."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from train.checkpoint import load_state, save_state
from train.optimisers import Ranger, optimiser

TARGET = torch.linspace(-1, 1, 12).reshape(3, 4)


def _loss(p: torch.Tensor) -> torch.Tensor:
    return (p - TARGET).pow(4).sum() + p.sum(dim=1).square().sum()


def _run(opt: torch.optim.Optimizer, p: torch.Tensor, steps: int, centralise_by_hand: bool = False) -> None:
    for _ in range(steps):
        opt.zero_grad()
        _loss(p).backward()
        if centralise_by_hand:
            p.grad.sub_(p.grad.mean(dim=1, keepdim=True))
        opt.step()


def _start() -> nn.Parameter:
    return nn.Parameter(torch.full((3, 4), 0.3))


def test_with_lookahead_every_step_at_alpha_one_and_no_centralising_it_is_radam():
    a, b = _start(), _start()
    _run(Ranger([a], lr=1e-2, k=1, alpha=1.0, centralise=False), a, 8)
    _run(torch.optim.RAdam([b], lr=1e-2, betas=(0.95, 0.999), eps=1e-5), b, 8)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_gradients_are_centralised_over_all_but_the_first_dimension():
    a, b = _start(), _start()
    _run(Ranger([a], lr=1e-2, k=100), a, 8)
    _run(torch.optim.RAdam([b], lr=1e-2, betas=(0.95, 0.999), eps=1e-5), b, 8, centralise_by_hand=True)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, _start())


def test_every_k_steps_the_weights_go_alpha_of_the_way_from_the_slow_weights():
    start = _start().detach().clone()
    for k, alpha, ranger in ((3, 0.25, lambda p: Ranger([p], lr=1e-2, k=3, alpha=0.25, centralise=False)),
                             (6, 0.5, lambda p: Ranger([{"params": [p], "centralise": False}], lr=1e-2))):  # e4e's
        a, b = _start(), _start()
        _run(ranger(a), a, k)
        _run(torch.optim.RAdam([b], lr=1e-2, betas=(0.95, 0.999), eps=1e-5), b, k)  # the fast weights' path
        torch.testing.assert_close(a.detach(), start + alpha * (b.detach() - start))


def test_groups_keep_their_learning_rate_and_centralising_and_a_parameter_without_gradient_waits():
    a, c, idle = _start(), _start(), nn.Parameter(torch.ones(2, 2))
    opt = Ranger([{"params": [a, idle]}, {"params": [c], "lr": 1e-1, "centralise": False}], lr=1e-2, k=100)
    b, d = _start(), _start()
    ref_b = torch.optim.RAdam([b], lr=1e-2, betas=(0.95, 0.999), eps=1e-5)
    ref_d = torch.optim.RAdam([d], lr=1e-1, betas=(0.95, 0.999), eps=1e-5)
    for _ in range(4):
        opt.zero_grad()
        (_loss(a) + _loss(c)).backward()  # idle gets no gradient
        opt.step()
    _run(ref_b, b, 4, centralise_by_hand=True)
    _run(ref_d, d, 4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(c, d, rtol=0, atol=0)
    assert torch.equal(idle, torch.ones(2, 2)) and idle not in opt.state
    with pytest.raises(ValueError, match="no closure"):
        opt.step(lambda: _loss(a))


def test_a_saved_run_resumes_mid_cycle_identically_and_refuses_another_optimiser(tmp_path):
    net1, net2 = nn.Linear(4, 3), nn.Linear(4, 3)
    net2.load_state_dict(net1.state_dict())
    x = torch.randn(5, 4)

    def steps(net: nn.Module, opt: torch.optim.Optimizer, n: int) -> None:
        for _ in range(n):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()

    opt1 = optimiser("ranger", [{"params": list(net1.parameters())}], 1e-2)
    steps(net1, opt1, 4)  # 4 of Lookahead's 6
    save_state(tmp_path, {"net": net1}, {"net": opt1}, {"step": 4})
    opt2 = optimiser("ranger", [{"params": list(net2.parameters())}], 1e-2)
    assert load_state(tmp_path, {"net": net2}, {"net": opt2}) == {"step": 4}
    steps(net1, opt1, 5)
    steps(net2, opt2, 5)
    for key, value in net1.state_dict().items():
        torch.testing.assert_close(net2.state_dict()[key], value, rtol=0, atol=0)
    with pytest.raises(ValueError, match="saved as Ranger"):
        load_state(tmp_path, {"net": net2}, {"net": optimiser("adam", [{"params": list(net2.parameters())}], 1e-2)})
    legacy = tmp_path / "legacy"  # a state saved before states named their optimiser: Adam's, never Ranger's
    save_state(legacy, {"net": net1}, {"net": optimiser("adam", [{"params": list(net1.parameters())}], 1e-2)}, {})
    info = json.loads((legacy / "state.json").read_text())
    del info["optimisers"]
    (legacy / "state.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="--optimiser adam"):
        load_state(legacy, {"net": net2}, {"net": optimiser("ranger", [{"params": list(net2.parameters())}], 1e-2)})
    assert load_state(legacy, {"net": net2}, {"net": optimiser("adam", [{"params": list(net2.parameters())}], 1e-2)}) == {}
    with pytest.raises(ValueError, match="unknown optimiser"):
        optimiser("sgd", [{"params": list(net2.parameters())}], 1e-2)

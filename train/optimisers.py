"""The encoders' optimisers: Ranger, which e4e trains with (and RefineStyle after it), and Adam.

Ranger = RAdam (Liu et al. 2020, rectified adaptive step) on centralised gradients (Yong et al. 2020:
every gradient of two or more dimensions minus its mean over all but the first) + Lookahead (Zhang et
al. 2019: every k steps the slow weights move α of the way to the fast ones, and the fast weights
restart from there), with e4e's settings: β = (0.95, 0.999), ε = 1e-5, k = 6, α = 0.5. A parameter
group with "centralise": False keeps its gradients as they are.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable

import torch

OPTIMISERS = ("ranger", "adam")


class Ranger(torch.optim.RAdam):
    """RAdam on centralised gradients with Lookahead; the slow weights live in each parameter's
    optimiser state (`slow`), so a saved run resumes exactly."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.95, 0.999),
                 eps: float = 1e-5, k: int = 6, alpha: float = 0.5, centralise: bool = True) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        self.k, self.alpha = k, alpha
        self.defaults["centralise"] = centralise  # a group may say otherwise ({"params": ..., "centralise": False})
        for group in self.param_groups:
            group.setdefault("centralise", centralise)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 (torch's signature)
        if closure is not None:
            raise ValueError("Ranger takes no closure: compute the gradients, then call step()")
        stepped = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        # the weights before a parameter's first fast step (RAdam fills an empty state itself)
        first = {p: p.detach().clone() for p in stepped if "slow" not in self.state[p]}
        for group in self.param_groups:
            for p in group["params"]:
                if group["centralise"] and p.grad is not None and p.grad.ndim > 1:
                    p.grad.sub_(p.grad.mean(dim=tuple(range(1, p.grad.ndim)), keepdim=True))
        loss = super().step()
        for p in stepped:
            state = self.state[p]
            if p in first:
                state["slow"] = first[p]
            if int(state["step"]) % self.k == 0:
                state["slow"].add_(p - state["slow"], alpha=self.alpha)
                p.copy_(state["slow"])
        return loss


def add_optimiser_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--optimiser", choices=OPTIMISERS, default="ranger",
                   help="ranger: e4e's (RAdam + gradient centralisation + Lookahead); adam: ours, the earlier runs'")


def optimiser(name: str, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """`name` (OPTIMISERS) over parameter groups at learning rate `lr` (a group's own "lr" wins)."""
    if name == "ranger":
        return Ranger(groups, lr=lr)
    if name == "adam":
        return torch.optim.Adam([{k: v for k, v in g.items() if k != "centralise"} for g in groups], lr=lr)
    raise ValueError(f"unknown optimiser {name!r}: one of {', '.join(OPTIMISERS)}")

"""An adapted domain: what text-driven or one-shot adaptation produces, as a small file.

Two kinds, both applied to a frozen generator without copying it:
- `tokens` (RefineStyle §3.4): shared low-rank residuals (P̂ = A ⊙ P [1, L, C_out],
  Q̂ = B ⊙ Q [1, L, C_in]) on the refined conv layers, added to every image's modulated kernels; by default L
  gives the tokens the paper's share of the synthesis network's parameters (`paper_rank`, computed from the generator);
- `full` (the NADA / full fine-tuning baseline): a kernel delta for every conv layer.

The file is safetensors: the tensors, plus a JSON header (`domain`) with the kind, the zoo and
generator shapes it belongs to, the prompts or reference, iterations, seed, seconds and the
trainable parameter count (provenance). Rendering a per-image inversion result in the domain
concatenates its own residual factors with the domain's along the rank axis — ΔW = Σ_l p_lᵀ q_l,
so concatenation adds the two residuals.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from nets.modconv import LowRankFactors
from nets.stylegan2 import Generator

KINDS = ("tokens", "full")
SMALL_RANK = 16  # the token rank the app and the bench used before the paper's capacity (a bench row)

# RefineStyle's adaptation capacity (Table 2: 2.98 M token parameters, against StyleGAN-NADA's full fine-tuning of
# the official 1024 px generator). See `paper_rank`.
PAPER_TOKEN_PARAMETERS = 2.98e6
OFFICIAL_SYNTHESIS_PARAMETERS = 28_268_812  # config-f 1024 px synthesis network (nets.configs.FFHQ1024)
PAPER_TOKEN_RATIO = PAPER_TOKEN_PARAMETERS / OFFICIAL_SYNTHESIS_PARAMETERS  # 0.10542


def token_parameters(g: Generator, rank: int, layers: list[int] | None = None) -> int:
    """Trainable numbers of rank-`rank` tokens on `layers` (default every conv layer): per layer
    P [L, C_out], Q [L, C_in], A [L], B [L], i.e. L · (C_out + C_in + 2)."""
    convs = g.synthesis.convs
    layers = range(len(convs)) if layers is None else layers
    return sum(rank * (convs[i].conv.out_channels + convs[i].conv.in_channels + 2) for i in layers)


def synthesis_parameters(g: Generator) -> int:
    """Every parameter of the synthesis network (kernels, affine maps, biases, noise strengths, toRGB, const)."""
    return sum(t.numel() for t in g.synthesis.parameters())


def max_domain_bytes(g: Generator | None = None) -> int:
    """The largest domain file `AdaptedDomain.load` reads for `g`: twice the fp32 bytes of g's synthesis network,
    plus 1 MiB for the header and the safetensors framing.

    A full fine-tuning domain stores a delta for every conv kernel (83 % of the synthesis parameters on the official
    1024 px generator: ~90 MiB, under a bound of ~217 MiB); tokens at the paper's rank store ~10 % of them. So every
    domain the app or the pipelines make for g fits, and a file far larger than anything g could own is refused before
    it is parsed. Without g: the bound of the official 1024 px generator, the largest this project builds.
    """
    parameters = synthesis_parameters(g) if g is not None else OFFICIAL_SYNTHESIS_PARAMETERS
    return 2 * 4 * parameters + 2**20


def paper_rank(g: Generator) -> int:
    """The token rank L at which tokens on every conv layer of `g` have the paper's share of its synthesis
    network's parameters.

    The paper's share, from the official config-f 1024 px StyleGAN2 (512 channels up to 64 px, then 256, 128, 64,
    32; 17 modulated 3×3 convs):
    - synthesis network: 28,268,812 parameters (23,583,744 of them conv kernels; `synthesis_parameters` of
      `Generator(**nets.configs.FFHQ1024)`, tests/test_adaptation_bench.py), the parameters StyleGAN-NADA's full
      fine-tuning can train;
    - tokens: Σ over the 17 convs of (C_out + C_in + 2) = 11,650 numbers per unit of rank, so Table 2's 2.98 M is
      L = 256 (2,982,400);
    - ratio 2.98 M / 28,268,812 = 0.10542.
    On a generator g: L = round(0.10542 · synthesis_parameters(g) / Σ (C_out + C_in + 2)). emoji64 (9 convs,
    2,227,736 synthesis parameters, 2,706 token numbers per unit of rank): L = round(86.78) = 87, 235,422 token
    parameters (10.57 % of the synthesis network, 12.1 % of the 1,944,576 kernel numbers that this project's full
    fine-tuning trains); the official 1024 px generator gets L = 256 back.
    """
    per_rank = token_parameters(g, 1)
    return max(1, round(PAPER_TOKEN_RATIO * synthesis_parameters(g) / per_rank))


@dataclass
class TokenParameters:
    """Trainable P, Q, A, B per refined layer; ΔW = (A ⊙ P)ᵀ (B ⊙ Q) starts at exactly zero (Q = 0).

    Fresh tokens start with A = scaling_init and B = 1.
    """

    p: dict[int, Tensor]
    q: dict[int, Tensor]
    a: dict[int, Tensor]
    b: dict[int, Tensor]

    @classmethod
    def init(cls, g: Generator, layers: list[int], rank: int, scaling_init: float = 0.1, seed: int = 0,
             start: dict[int, LowRankFactors] | None = None) -> TokenParameters:
        """Fresh tokens, or `start` factors (e.g. a two-stage inversion's P̂, Q̂) taken as P, Q with A = B = 1.

        A layer's start factors of rank r < `rank` fill its first r token rows; the other rank − r rows are fresh
        (Q = 0), so the residual starts as exactly the start's and the layer still trains `rank` tokens. Start
        factors of a larger rank are kept whole."""
        gen = torch.Generator().manual_seed(seed)
        convs = g.synthesis.convs
        device = g.w_avg.device
        p, q, a, b = {}, {}, {}, {}
        for i in layers:
            fresh = rank
            if start is not None and i in start:
                p[i], q[i] = (t.detach().clone().to(device) for t in start[i])
                if p[i].shape[0] != 1:
                    raise ValueError(f"start factors must be shared ([1, r, C]), got {list(p[i].shape)} on layer {i}")
                a[i], b[i] = torch.ones(p[i].shape[1], device=device), torch.ones(p[i].shape[1], device=device)
                fresh = rank - p[i].shape[1]
            if fresh > 0:
                new_p = torch.randn(1, fresh, convs[i].conv.out_channels, generator=gen).to(device)
                new_q = torch.zeros(1, fresh, convs[i].conv.in_channels, device=device)
                new_a = torch.full((fresh,), scaling_init, device=device)  # A small, B = 1 (as nets/refinestyle.py):
                new_b = torch.ones(fresh, device=device)  # with both small, 150 text iterations left G unchanged
                if i in p:
                    p[i], q[i] = torch.cat([p[i], new_p], 1), torch.cat([q[i], new_q], 1)
                    a[i], b[i] = torch.cat([a[i], new_a]), torch.cat([b[i], new_b])
                else:
                    p[i], q[i], a[i], b[i] = new_p, new_q, new_a, new_b
        for t in (*p.values(), *q.values(), *a.values(), *b.values()):
            t.requires_grad_(True)
        return cls(p, q, a, b)

    def parameters(self) -> list[Tensor]:
        return [*self.p.values(), *self.q.values(), *self.a.values(), *self.b.values()]

    def factors(self) -> dict[int, LowRankFactors]:
        return {i: (self.a[i][None, :, None] * self.p[i], self.b[i][None, :, None] * self.q[i]) for i in self.p}


def full_parameters(g: Generator) -> dict[int, Tensor]:
    """Zero kernel deltas for every conv layer (the full fine-tuning baseline's trainable weights)."""
    return {i: torch.zeros_like(c.conv.weight, requires_grad=True) for i, c in enumerate(g.synthesis.convs)}


@dataclass
class DomainParameters:
    """What an adaptation trains: tokens on `layers` (kind "tokens") or every kernel (kind "full")."""

    kind: str
    tokens: TokenParameters | None = None
    deltas: dict[int, Tensor] | None = None

    @classmethod
    def create(cls, g: Generator, kind: str, layers: list[int] | None, rank: int | None, scaling_init: float = 0.1,
               seed: int = 0, start: dict[int, LowRankFactors] | None = None) -> DomainParameters:
        """rank None: the paper's capacity for g (`paper_rank`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown adaptation method '{kind}' (known: {', '.join(KINDS)})")
        if kind == "full":
            return cls(kind, deltas=full_parameters(g))
        rank = paper_rank(g) if rank is None else rank
        if rank < 1:
            raise ValueError(f"the token rank must be at least 1, got {rank}")
        layers = list(range(len(g.synthesis.convs))) if layers is None else list(layers)
        return cls(kind, tokens=TokenParameters.init(g, layers, rank, scaling_init, seed, start))

    def parameters(self) -> list[Tensor]:
        return self.tokens.parameters() if self.tokens is not None else list(self.deltas.values())

    def count(self) -> int:
        return sum(t.numel() for t in self.parameters())

    def render(self, g: Generator, ws: Tensor) -> Tensor:  # [B, num_ws, w_dim] -> [B, 3, R, R]
        residuals = self.tokens.factors() if self.tokens is not None else None
        return g.synthesis(ws, residuals=residuals, weight_deltas=self.deltas)

    def freeze(self, info: dict) -> AdaptedDomain:
        """The trained parameters as a domain (detached), with `info` and the parameter count."""
        info = dict(info, trainable_parameters=self.count())
        if self.tokens is not None:
            info["rank"] = max(p.shape[1] for p in self.tokens.p.values())
            return AdaptedDomain("tokens", {i: (p.detach(), q.detach()) for i, (p, q) in self.tokens.factors().items()},
                                 info=info)
        return AdaptedDomain("full", weight_deltas={i: d.detach() for i, d in self.deltas.items()}, info=info)


def check_schedule(iterations: int, lr: float) -> None:
    """The ranges both adaptation modes accept; a clear ValueError otherwise."""
    if not 1 <= iterations <= 5000:
        raise ValueError(f"iterations must be in 1..5000, got {iterations}")
    if not 0 <= lr <= 0.1:
        raise ValueError(f"the learning rate must be in [0, 0.1], got {lr}")


def generator_signature(g: Generator) -> dict:
    return {"size": g.size, "w_dim": g.w_dim, "channels": list(g.channels)}


def _parse_tensors(name: str, tensors: dict[str, Tensor]) -> tuple[dict[int, LowRankFactors], dict[int, Tensor]]:
    """A domain file's tensors by layer: `tokens.<i>.p` with `tokens.<i>.q`, and `deltas.<i>`; a ValueError naming
    the key for an unknown key or a factor without its partner."""
    p, q, deltas = {}, {}, {}
    for key, value in tensors.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "tokens" and parts[1].isdigit() and parts[2] in ("p", "q"):
            (p if parts[2] == "p" else q)[int(parts[1])] = value
        elif len(parts) == 2 and parts[0] == "deltas" and parts[1].isdigit():
            deltas[int(parts[1])] = value
        else:
            raise ValueError(f"{name} is not a domain file: unknown tensor '{key}' "
                             f"(domain files hold tokens.<layer>.p / .q and deltas.<layer>)")
    for have, lack, factor in ((p, q, "q"), (q, p, "p")):
        missing = sorted(set(have) - set(lack))
        if missing:
            raise ValueError(f"{name} is not a domain file: tokens.{missing[0]}.{factor} is missing "
                             f"(every layer's tokens need both .p and .q)")
    return {i: (p[i], q[i]) for i in p}, deltas


@dataclass
class AdaptedDomain:
    kind: str
    tokens: dict[int, LowRankFactors] = field(default_factory=dict)
    weight_deltas: dict[int, Tensor] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def render(self, g: Generator, ws: Tensor, residuals: dict[int, LowRankFactors] | None = None,
               weight_deltas: dict[int, Tensor] | None = None) -> Tensor:
        """ws [B, num_ws, w_dim] through the adapted generator, with an inversion's own residuals
        or kernel deltas on top.  -> [B, 3, R, R] in [-1, 1]"""
        merged = dict(residuals or {})
        for i, (p, q) in self.tokens.items():
            if i in merged:
                mp, mq = merged[i]
                merged[i] = (torch.cat([mp, p.expand(mp.shape[0], -1, -1)], 1), torch.cat([mq, q.expand(mq.shape[0], -1, -1)], 1))
            else:
                merged[i] = (p, q)
        deltas = dict(weight_deltas or {})
        for i, d in self.weight_deltas.items():
            deltas[i] = deltas[i] + d if i in deltas else d
        return g.synthesis(ws, residuals=merged, weight_deltas=deltas).clamp(-1, 1)

    def save(self, path: Path) -> Path:
        tensors = {f"tokens.{i}.p": p.detach().cpu().contiguous() for i, (p, _) in self.tokens.items()}
        tensors |= {f"tokens.{i}.q": q.detach().cpu().contiguous() for i, (_, q) in self.tokens.items()}
        tensors |= {f"deltas.{i}": d.detach().cpu().contiguous() for i, d in self.weight_deltas.items()}
        save_file(tensors, str(path), metadata={"domain": json.dumps(dict(self.info, kind=self.kind))})
        return Path(path)

    @classmethod
    def load(cls, path: Path, g: Generator | None = None) -> AdaptedDomain:
        """Read a domain file; with g, check that every tensor fits its layers (ValueError otherwise) and
        put them on g's device."""
        path = Path(path)
        size, limit = path.stat().st_size, max_domain_bytes(g)
        if size > limit:
            whose = "this generator's" if g is not None else "the largest generator's"
            raise ValueError(f"{path.name} is {size / 2**20:.1f} MiB; {whose} domain files are at most "
                             f"{limit / 2**20:.1f} MiB (twice its synthesis network): not a domain of this generator")
        try:
            with safe_open(str(path), "pt") as f:
                info = json.loads((f.metadata() or {}).get("domain", "null"))
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as err:  # noqa: BLE001  any parse failure means "not a domain file"
            raise ValueError(f"{path.name} is not a domain file ({type(err).__name__})") from None
        if not isinstance(info, dict) or info.get("kind") not in KINDS:
            raise ValueError(f"{path.name} has no domain header; make one with the adaptation tabs or pipelines")
        tokens, deltas = _parse_tensors(path.name, tensors)
        if g is not None:
            device = g.w_avg.device
            tokens = {i: (p.to(device), q.to(device)) for i, (p, q) in tokens.items()}
            deltas = {i: d.to(device) for i, d in deltas.items()}
        domain = cls(info.pop("kind"), tokens, deltas, info)
        if g is not None:
            domain.check(g)
        return domain

    def check(self, g: Generator) -> None:
        convs = g.synthesis.convs
        for i, (p, q) in self.tokens.items():
            if not 0 <= i < len(convs) or p.shape[-1] != convs[i].conv.out_channels or q.shape[-1] != convs[i].conv.in_channels:
                raise ValueError(f"domain tokens for layer {i} {list(p.shape)}/{list(q.shape)} do not fit this generator")
        for i, d in self.weight_deltas.items():
            if not 0 <= i < len(convs) or d.shape != convs[i].conv.weight.shape:
                raise ValueError(f"domain kernel delta for layer {i} {list(d.shape)} does not fit this generator")

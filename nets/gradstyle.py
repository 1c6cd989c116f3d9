"""GradStyle: Gradual Residuals Alignment (Li et al., "a dual-stream framework for GAN inversion
and image attribute editing").

A frozen base inverter (the e4e encoder) gives W+ and hierarchical features T_m; the frozen
generator renders W+, and at a few stage boundaries m the features f_m are corrected:

- **GRM** (Eq. 1–5), reconstruction stream:
      F_m = E_res(W_T·T_m, W_f·f_m)                    (residual conv blocks over both inputs)
      g_m = σ(W_g [f_m, F_m]),   f̃_m = f_m + g_m ⊙ F_m  (Gate & Fusion; f̃_m feeds the next stage)
      L_f = Σ_m ‖g_m ⊙ F_m‖₁
- **GAM** (Eq. 6–9), editing stream: the generator renders the edited code Ŵ⁺, giving f̂_m. The
  residual F_m sits where the *reconstruction* has its details, so an Aligner moves it to where
  the edited image has them: the feature maps are flattened into tokens with a sinusoidal
  positional embedding, and **selective attention** (multi-head, d_k = 64, only the top-µ of
  each query's scores qkᵀ kept before the softmax) is applied several times, giving F'_m. The
  same Gate & Fusion block (shared weights) adds it: f̂'_m = f̂_m + σ(W_g [f̂_m, F'_m]) ⊙ F'_m.
  Two aligners (`Aligner`):
  - `aligner="paper"` (the default, Eq. 7–8): queries from the edited features f̂_m, keys and
    values from the residual F_m, positional embeddings on both, W_q, W_k, W_v per head, the heads
    concatenated and projected (`SelectiveAttention`) in every layer; the last projects back to
    F_m's channels.
  - `aligner="transport"` (ours, the shipped emoji64 model): the first layers refine the queries
    against keys from the *reconstructed* features f_m, and the read layer (`TransportAttention`)
    takes F_m itself as values, not a projection of it, so F'_m is a convex combination of
    residual vectors (the aligner moves details, it cannot invent them); a learnable locality
    prior −β‖p_i − p_j‖² joins the scores, with the query projection starting at zero: the
    untrained aligner is (nearly) the identity alignment, i.e. the naive dual stream, and
    training only has to learn the moves. (With a freely projected read, 400 training steps
    left F'_m close to zero and the editing stream no better than e4e.)

Stages are named by the generator conv layer after which they act (see `stage_layers`); the
emoji64 zoo's choice of stages and widths is in its manifest (assets/zoos/emoji64.json, "architectures").
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

Stream = dict[int, tuple[Tensor, Tensor]]  # stage layer -> (F_m residual, f_m reconstructed features)


class ResBlock(nn.Module):
    """x + conv3(lrelu(conv3(lrelu(x))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(x, 0.2)), 0.2))


class GRM(nn.Module):
    """Eq. 1–2: F_m = E_res(W_T T_m, W_f f_m).  T [B, C_enc, R, R], f [B, C_gen, R, R] -> [B, C_gen, R, R]"""

    def __init__(self, enc_channels: int, gen_channels: int, hidden: int, res_blocks: int) -> None:
        super().__init__()
        self.w_t = nn.Conv2d(enc_channels, hidden, 1)
        self.w_f = nn.Conv2d(gen_channels, hidden, 1)
        self.e_res = nn.Sequential(nn.Conv2d(2 * hidden, hidden, 3, padding=1),
                                   *(ResBlock(hidden) for _ in range(res_blocks)),
                                   nn.LeakyReLU(0.2), nn.Conv2d(hidden, gen_channels, 3, padding=1))

    def forward(self, t: Tensor, f: Tensor) -> Tensor:
        if t.shape[-1] != f.shape[-1]:
            t = F.interpolate(t, size=f.shape[-2:], mode="bilinear", align_corners=False)
        return self.e_res(torch.cat([self.w_t(t), self.w_f(f)], dim=1))


class GateFusion(nn.Module):
    """Eq. 3–4: g = σ(W_g [f, F]), f̃ = f + g ⊙ F.  -> (f̃, g ⊙ F), both [B, C, R, R]"""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.w_g = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def forward(self, f: Tensor, residual: Tensor) -> tuple[Tensor, Tensor]:
        gated = torch.sigmoid(self.w_g(torch.cat([f, residual], dim=1))) * residual
        return f + gated, gated


def sinusoidal_embedding(tokens: int, side: int, dim: int) -> Tensor:
    """2-D sinusoidal positions for a side×side grid, half the channels per axis.  -> [tokens, dim]"""
    assert tokens == side * side and dim % 4 == 0, "need a square grid and dim divisible by 4"
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 4) / (dim // 4))  # [dim/4]
    pos = torch.arange(side, dtype=torch.float32)
    axis = torch.cat([torch.sin(pos[:, None] * freqs), torch.cos(pos[:, None] * freqs)], dim=1)  # [side, dim/2]
    ys, xs = axis[:, None, :].expand(side, side, -1), axis[None, :, :].expand(side, side, -1)
    return torch.cat([ys, xs], dim=2).reshape(tokens, dim)


def split_heads(t: Tensor, heads: int) -> Tensor:
    """[B, N, heads·d] -> [B, heads, N, d]"""
    return t.view(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)


def top_mu_softmax(scores: Tensor, top_mu: float) -> Tensor:
    """Eq. 7: softmax over each row's top-µ scores, everything below the keep-th largest dropped.  [..., M]"""
    m = scores.shape[-1]
    keep = max(1, math.ceil(top_mu * m))
    if keep < m:
        threshold = scores.topk(keep, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < threshold, float("-inf"))
    return torch.softmax(scores, dim=-1)


class SelectiveAttention(nn.Module):
    """Eq. 7–8: multi-head attention keeping only the top-µ of each query's scores before the softmax.

    q [B, N, D], k [B, M, D], v [B, M, D_v] -> [B, N, D_out]
    """

    def __init__(self, dim: int, value_dim: int, out_dim: int, heads: int, top_mu: float, d_k: int = 64) -> None:
        super().__init__()
        self.heads, self.d_k, self.top_mu = heads, d_k, top_mu
        self.to_q = nn.Linear(dim, heads * d_k, bias=False)
        self.to_k = nn.Linear(dim, heads * d_k, bias=False)
        self.to_v = nn.Linear(value_dim, heads * d_k, bias=False)
        self.out = nn.Linear(heads * d_k, out_dim)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        qh, kh, vh = (split_heads(f(t), self.heads) for f, t in ((self.to_q, q), (self.to_k, k), (self.to_v, v)))
        scores = qh @ kh.transpose(2, 3) / math.sqrt(self.d_k)  # [B, h, N, M]
        out = top_mu_softmax(scores, self.top_mu) @ vh  # [B, h, N, d_k]
        return self.out(out.transpose(1, 2).flatten(2))


class TransportAttention(nn.Module):
    """The aligner's read (Eq. 8 with the residual as values and a locality prior).

    a = mean over heads of softmax(top-µ(q_i·k_j / √d_k − β‖p_i − p_j‖²)), F'_i = Σ_j a_ij F_j, with p the grid
    positions in cells and β = exp(log_beta) learnable (initially 4: a token keeps ≈ 93 % of its own residual).
    q [B, N, D], k [B, M, D], v [B, M, C], N = M = side² -> [B, N, C]
    """

    def __init__(self, dim: int, heads: int, top_mu: float, d_k: int = 64, beta: float = 4.0) -> None:
        super().__init__()
        self.heads, self.d_k, self.top_mu = heads, d_k, top_mu
        self.to_q = nn.Linear(dim, heads * d_k, bias=False)
        self.to_k = nn.Linear(dim, heads * d_k, bias=False)
        nn.init.zeros_(self.to_q.weight)  # content scores start at zero: the prior alone decides
        self.log_beta = nn.Parameter(torch.tensor(math.log(beta)))

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        side = math.isqrt(k.shape[1])
        grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij"), -1)
        grid = grid.reshape(-1, 2).to(q)
        prior = -self.log_beta.exp() * torch.cdist(grid, grid).square()  # [N, M]
        qh, kh = split_heads(self.to_q(q), self.heads), split_heads(self.to_k(k), self.heads)
        scores = qh @ kh.transpose(2, 3) / math.sqrt(self.d_k) + prior  # [B, h, N, M]
        return top_mu_softmax(scores, self.top_mu).mean(1) @ v  # [B, N, C]


ALIGNERS = ("paper", "transport")


class Aligner(nn.Module):
    """Eq. 6: moves a residual F (aligned with f_rec) onto f_edit's layout.  -> F' [B, C, R, R]

    kind "paper": q from f_edit, k = v from F (Eq. 7–8); "transport" (ours): k from f_rec, and the read
    layer averages the residual vectors themselves under a locality prior. Only "transport" maps a zero
    residual to zero (the paper's keys and values carry positional embeddings, its projection a bias).
    """

    def __init__(self, channels: int, heads: int, top_mu: float, layers: int, d_k: int = 64,
                 kind: str = "paper") -> None:
        super().__init__()
        if kind not in ALIGNERS:
            raise ValueError(f"aligner is one of {ALIGNERS}, got {kind!r}")
        dim, self.kind = heads * d_k, kind
        self.embed = nn.Linear(channels, dim)  # the queries' (f_edit); "transport": the keys' too (f_rec)
        if kind == "paper":
            self.embed_residual = nn.Linear(channels, dim)  # keys and values: the residual F
        self.refine = nn.ModuleList(SelectiveAttention(dim, dim, dim, heads, top_mu, d_k) for _ in range(layers - 1))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers - 1))
        self.read = (SelectiveAttention(dim, dim, channels, heads, top_mu, d_k) if kind == "paper"
                     else TransportAttention(dim, heads, top_mu, d_k))

    def forward(self, f_edit: Tensor, f_rec: Tensor, residual: Tensor) -> Tensor:
        b, c, h, w = residual.shape
        tokens = lambda t: t.flatten(2).transpose(1, 2)
        pos = sinusoidal_embedding(h * w, h, self.embed.out_features).to(residual)
        q = self.embed(tokens(f_edit)) + pos  # [B, HW, dim]
        if self.kind == "paper":
            k = v = self.embed_residual(tokens(residual)) + pos
        else:
            k, v = self.embed(tokens(f_rec)) + pos, tokens(residual)
        for attend, norm in zip(self.refine, self.norms):
            q = q + attend(norm(q), k, k)
        out = self.read(q, k, v)  # [B, HW, C]
        return out.transpose(1, 2).reshape(b, c, h, w)


class GradStyle(nn.Module, PyTorchModelHubMixin):
    """GRMs, shared Gate & Fusion blocks and GAM aligners for the stages after `stage_layers`
    (aligner: "paper" or "transport", see `Aligner`; a checkpoint exported before the option existed has the
    transport aligner and needs `"aligner": "transport"` in its config.json)."""

    def __init__(self, stage_layers: list[int], gen_channels: list[int], enc_channels: list[int], hidden: int = 64,
                 res_blocks: int = 2, heads: int = 2, top_mu: float = 0.1, aligner_layers: int = 2,
                 aligner: str = "paper") -> None:
        super().__init__()
        assert len(stage_layers) == len(gen_channels) == len(enc_channels), "one channel count per stage"
        self.stage_layers = list(stage_layers)
        self.grms = nn.ModuleList(GRM(e, g, hidden, res_blocks) for e, g in zip(enc_channels, gen_channels))
        self.gates = nn.ModuleList(GateFusion(g) for g in gen_channels)
        self.aligners = nn.ModuleList(Aligner(g, heads, top_mu, aligner_layers, kind=aligner) for g in gen_channels)

    def reconstruction_hook(self, enc_feats: list[Tensor], stream: Stream, gated: dict[int, Tensor],
                            stages: list[int] | None = None) -> Callable[[int, Tensor], Tensor | None]:
        """A synthesis feature_hook running the GRMs; fills stream (F_m, f_m) and gated (g_m ⊙ F_m).

        enc_feats: the e4e body's stage outputs (any order: matched to a stage by resolution).
        stages: indices into stage_layers to run (None: all) — for the one-stage ablation.
        """
        active = set(range(len(self.stage_layers)) if stages is None else stages)

        def hook(i: int, f: Tensor) -> Tensor | None:
            if i not in self.stage_layers or self.stage_layers.index(i) not in active:
                return None
            m = self.stage_layers.index(i)
            t = min(enc_feats, key=lambda e: abs(e.shape[-1] - f.shape[-1]))
            residual = self.grms[m](t, f)
            fused, gated[i] = self.gates[m](f, residual)
            stream[i] = (residual, f)
            return fused

        return hook

    def editing_hook(self, stream: Stream, aligned: dict[int, Tensor], use_gam: bool = True
                     ) -> Callable[[int, Tensor], Tensor | None]:
        """A feature_hook for the editing stream: align each stored residual to f̂_m (GAM) and fuse.

        use_gam=False adds the reconstruction residuals unaligned (the naive dual stream).
        """
        def hook(i: int, f_edit: Tensor) -> Tensor | None:
            if i not in stream:
                return None
            m = self.stage_layers.index(i)
            residual, f_rec = stream[i]
            aligned[i] = self.aligners[m](f_edit, f_rec, residual) if use_gam else residual
            fused, _ = self.gates[m](f_edit, aligned[i])
            return fused

        return hook

    def reconstruct(self, g, ws: Tensor, enc_feats: list[Tensor], stages: list[int] | None = None
                    ) -> tuple[Tensor, Stream, dict[int, Tensor]]:
        """The reconstruction stream.  ws [B, num_ws, w_dim] -> (image [B, 3, S, S], stream, gated)"""
        stream: Stream = {}
        gated: dict[int, Tensor] = {}
        image = g.synthesis(ws, feature_hook=self.reconstruction_hook(enc_feats, stream, gated, stages))
        return image, stream, gated

    def edit(self, g, ws_edit: Tensor, stream: Stream, use_gam: bool = True,
             style_offsets: dict[int, Tensor] | None = None) -> tuple[Tensor, dict[int, Tensor]]:
        """The editing stream on edited codes Ŵ⁺ (and StyleSpace offsets).  -> (image [B, 3, S, S], F'_m)"""
        aligned: dict[int, Tensor] = {}
        image = g.synthesis(ws_edit, feature_hook=self.editing_hook(stream, aligned, use_gam),
                            style_offsets=style_offsets)
        return image, aligned

"""RefineStyle encoders (Xia et al., §3.2–3.3): W+ codes and low-rank kernel residuals from an image.

One-stage (§3.2): multi-resolution image features (the paper's pre-trained IR-SE pyramid, `ir_se`; or a
strided CNN trained from scratch, ours) -> (a) W+ queries, initialised by a trainable
copy of the mapping network from fixed Gaussian noise and updated by three transformer blocks
(self-attention among the queries, then cross-attention to the image features), and (b) N_r × L
residual tokens in two sets, P and Q ∈ R^{N_r×L×d} (Eq. 3–4), updated by three *grouped* blocks —
self-attention only within each refined layer's group (its L P-tokens and L Q-tokens),
cross-attention to all image features, 4 heads — then a projection head per layer and set maps
the P tokens to P [L, C_out] and the Q tokens to Q [L, C_in]. `token_sets=1` is this project's
earlier form (ours; a checkpoint's config.json says which it has): one set of L tokens per layer, both heads
reading the same tokens. Learnable scalings A, B [N_r, L]
(initialised small) give P̂ = A ⊙ P, Q̂ = B ⊙ Q, and ΔW = P̂ᵀ Q̂ (Eq. 3) enters the refined
modulated convolution (nets/modconv.py). ToRGB layers are not refined.

Two-stage (§3.3): the same residual branch on the 6-channel input [I, Î₀] (the image and a frozen
base inverter's reconstruction); the base inverter's w₀⁺ is kept, so `predict_w=False`.
"""
from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from .e4e import ir_se_body, ir_se_stages
from .modconv import LowRankFactors
from .stylegan2 import MappingNetwork


class PyramidTokens(nn.Module):
    """An image encoder whose last three stage outputs become one token sequence for cross-attention:
    each projected to d by a 1×1 conv, flattened, plus a learnt positional embedding per level."""

    def __init__(self, widths: list[int], d_model: int, sizes: list[int]) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv2d(w, d_model, 1) for w in widths[-3:])
        self.pos = nn.ParameterList(nn.Parameter(torch.randn(s * s, d_model) * 0.02) for s in sizes)

    def stage_outputs(self, x: Tensor) -> list[Tensor]:
        """The encoder's stage outputs, fine to coarse: [B, C_s, S_s, S_s] each (the last three are read)."""
        raise NotImplementedError("a subclass defines its stages")

    def forward(self, x: Tensor) -> Tensor:  # [B, C_in, S, S] -> [B, T, d]
        outs = self.stage_outputs(x)[-3:]
        tokens = [proj(f).flatten(2).transpose(1, 2) + pos for proj, f, pos in zip(self.proj, outs, self.pos)]
        return torch.cat(tokens, dim=1)


class ImageFeatures(PyramidTokens):
    """A strided CNN trained from scratch (ours): conv-GroupNorm-SiLU stages, each halving the side."""

    def __init__(self, in_channels: int, widths: list[int], d_model: int, input_size: int) -> None:
        super().__init__(widths, d_model, [input_size // 2 ** (len(widths) - 2 + i) for i in range(3)])
        cin = in_channels
        self.stages = nn.ModuleList()
        for w in widths:
            self.stages.append(nn.Sequential(
                nn.Conv2d(cin, w, 3, 2, 1), nn.GroupNorm(8, w), nn.SiLU(),
                nn.Conv2d(w, w, 3, 1, 1), nn.GroupNorm(8, w), nn.SiLU(),
            ))
            cin = w

    def stage_outputs(self, x: Tensor) -> list[Tensor]:
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


class IRSEFeatures(PyramidTokens):
    """The paper's image encoder: an IR-SE pyramid (ArcFace's units, e4e's body: nets/e4e.py) whose c1, c2, c3
    feed the tokens. `train.refinestyle --image-encoder ir_se` starts it from the zoo's trained e4e, the
    emoji64 stand-in for the paper's pre-trained ArcFace backbone (`init_from_e4e`). Images are resized to the
    pyramid's `input_size` (e4e's), as e4e resizes them."""

    def __init__(self, in_channels: int, stem: int, stages: list[list[int]], d_model: int, input_size: int) -> None:
        super().__init__([d for d, _ in stages], d_model, [input_size // 2 ** (len(stages) - 2 + i) for i in range(3)])
        self.input_size = input_size
        self.input_layer = nn.Sequential(nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                                         nn.PReLU(stem))
        self.body, self.stage_ends = ir_se_body(stem, stages)

    def stage_outputs(self, x: Tensor) -> list[Tensor]:
        return ir_se_stages(x, self.input_size, self.input_layer, self.body, self.stage_ends)

    @torch.no_grad()
    def init_from_e4e(self, e4e: nn.Module) -> None:
        """Copy e4e's input layer and body. A wider input (the two-stage [I, Î₀]) gets e4e's first-conv weights
        on the image's channels and zeros on the rest, so that at the start it sees I as e4e does."""
        state = {k: v for k, v in e4e.state_dict().items() if k.startswith(("input_layer.", "body."))}
        first = state["input_layer.0.weight"]  # [stem, 3, 3, 3]
        wide = self.input_layer[0].weight
        state["input_layer.0.weight"] = torch.cat([first, first.new_zeros(wide.shape[0], wide.shape[1] - 3, 3, 3)], 1)
        missing, unexpected = self.load_state_dict(state, strict=False)
        assert not unexpected and all(k.startswith(("proj.", "pos.")) for k in missing), (missing, unexpected)


class Block(nn.Module):
    """Pre-norm transformer block: self-attention (optionally masked), cross-attention, MLP."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: Tensor, memory: Tensor, mask: Tensor | None = None) -> Tensor:  # [B, N, d]
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        x = x + self.cross_attn(self.norm2(x), memory, memory, need_weights=False)[0]
        return x + self.mlp(self.norm3(x))


def group_mask(groups: int, size: int) -> Tensor:
    """Boolean [G·L, G·L] mask, True where attention is *not* allowed: tokens see only their group."""
    ids = torch.arange(groups).repeat_interleave(size)
    return ids[:, None] != ids[None, :]


class RefineStyleEncoder(nn.Module, PyTorchModelHubMixin):
    """image -> (W+ codes or None, {conv layer index: (P̂ [B, L, C_out], Q̂ [B, L, C_in])}).

    layer_channels: (C_in, C_out) of every generator conv layer; refined_layers picks N_r of them.
    grouped=False lets every token attend to every other (the paper's "without grouping" ablation);
    learn_scalings=False freezes A, B at their initial value (the "without scalings" ablation);
    ir_se: {"stem", "stages", "input_size"} of an IR-SE pyramid (IRSEFeatures, the paper's image encoder; input_size
    defaults to the generator's) instead of the strided CNN of `widths` (ImageFeatures, ours).
    token_sets: 2 for the paper's separate P and Q tokens, 1 for one set read by both heads (ours); a
    checkpoint exported before the option existed was trained with one set and needs `"token_sets": 1` in its
    config.json (its weights do not fit two).
    """

    def __init__(self, num_ws: int, w_dim: int, z_dim: int, n_mlp: int, layer_channels: list[list[int]],
                 refined_layers: list[int], rank: int = 16, d_model: int = 256, heads: int = 4,
                 widths: list[int] | None = None, input_size: int = 64, input_channels: int = 3,
                 predict_w: bool = True, grouped: bool = True, learn_scalings: bool = True,
                 scaling_init: float = 0.1, token_sets: int = 2, ir_se: dict | None = None) -> None:
        super().__init__()
        if token_sets not in (1, 2):
            raise ValueError(f"token_sets is 2 (the paper's P and Q tokens) or 1 (one set), got {token_sets}")
        self.num_ws, self.w_dim, self.rank, self.token_sets = num_ws, w_dim, rank, token_sets
        self.refined_layers, self.predict_w, self.grouped = list(refined_layers), predict_w, grouped
        self.features: PyramidTokens = (
            IRSEFeatures(input_channels, ir_se["stem"], ir_se["stages"], d_model, ir_se.get("input_size", input_size))
            if ir_se else
            ImageFeatures(input_channels, list(widths or [64, 128, 192, 256]), d_model, input_size))
        if predict_w:
            self.mapping = MappingNetwork(z_dim, w_dim, n_mlp)
            self.register_buffer("query_noise", torch.randn(num_ws, z_dim))
            self.w_in = nn.Linear(w_dim, d_model)
            self.w_blocks = nn.ModuleList(Block(d_model, heads) for _ in range(3))
            self.w_out = nn.Linear(d_model, w_dim)
            nn.init.zeros_(self.w_out.weight)  # start from the mapping network's codes
            nn.init.zeros_(self.w_out.bias)
        n_r = len(refined_layers)
        group = token_sets * rank  # a layer's tokens: [P tokens; Q tokens] or its one set
        self.tokens = nn.Parameter(torch.randn(n_r * group, d_model) * 0.02)
        self.token_blocks = nn.ModuleList(Block(d_model, heads) for _ in range(3))
        self.p_heads = nn.ModuleList(nn.Linear(d_model, layer_channels[i][1]) for i in refined_layers)
        self.q_heads = nn.ModuleList(nn.Linear(d_model, layer_channels[i][0]) for i in refined_layers)
        # ΔW starts at exactly zero with the P heads (LoRA-style), so that no random residual pushes
        # the scalings down before the heads have learnt anything; A starts small, B at 1. With
        # A = B = 0.01 and random heads, a two-stage training shrank A and left ΔW negligible
        # (Google test MSE 0.109 -> 0.108 against e4e's after 2000 steps).
        for head in self.p_heads:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.scale_a = nn.Parameter(torch.full((n_r, rank), scaling_init), requires_grad=learn_scalings)
        self.scale_b = nn.Parameter(torch.ones(n_r, rank), requires_grad=learn_scalings)
        mask = group_mask(n_r, group) if grouped else torch.zeros(n_r * group, n_r * group, dtype=torch.bool)
        self.register_buffer("mask", mask, persistent=False)

    def initial_codes(self) -> Tensor:
        """The queries' starting W+ codes: mapping(fixed noise).  -> [num_ws, w_dim]"""
        return self.mapping(self.query_noise)

    def forward(self, img: Tensor) -> tuple[Tensor | None, dict[int, LowRankFactors]]:
        memory = self.features(img)  # [B, T, d]
        b = img.shape[0]
        ws = None
        if self.predict_w:
            w0 = self.initial_codes()  # [num_ws, w_dim]
            q = self.w_in(w0)[None].expand(b, -1, -1)
            for block in self.w_blocks:
                q = block(q, memory)
            ws = w0[None] + self.w_out(q)  # [B, num_ws, w_dim]
        t = self.tokens[None].expand(b, -1, -1)
        for block in self.token_blocks:
            t = block(t, memory, self.mask)
        residuals = {}
        group = self.token_sets * self.rank
        for r, layer in enumerate(self.refined_layers):
            tr = t[:, r * group : (r + 1) * group]  # [B, token_sets·L, d]
            tp, tq = tr[:, : self.rank], tr[:, -self.rank :]  # the P and Q tokens [B, L, d] (one set: the same)
            p = self.p_heads[r](tp) * self.scale_a[r][None, :, None]  # P̂ = A ⊙ P  [B, L, C_out]
            q_ = self.q_heads[r](tq) * self.scale_b[r][None, :, None]  # Q̂ = B ⊙ Q  [B, L, C_in]
            residuals[layer] = (p, q_)
        return ws, residuals

"""The refined modulated convolution: StyleGAN2's layer plus RefineStyle's low-rank residual.

StyleGAN2 (Karras et al. 2020, Eq. 1–3): a style s = affine(w) scales the input channels of a
static kernel W⁰, and demodulation rescales each output channel to unit norm:

    W'_oik = s_i · W⁰_oik,        W''_oik = W'_oik / sqrt(Σ_ik W'_oik² + ε).

RefineStyle (Xia et al., Eq. 1–4) adds a low-rank residual to the *modulated* kernel, before
demodulation (Eq. 2: W^d = ΔW ⊕ (s ⊙ W⁰)):

    ΔW = (A ⊙ P)ᵀ (B ⊙ Q) = P̂ᵀ Q̂,     P̂ [L, C_out], Q̂ [L, C_in],

broadcast over the k×k window (⊕: the same C_out×C_in value at every tap), so the refined
kernel is demodulated as a whole: W''' = (s ⊙ W⁰ + ΔW ⊗ 1_k×k) / ‖·‖.  ΔW is expressed in the
units of the stored kernel W⁰ (both are multiplied by the equalised-lr constant), so its size
does not depend on the layer width.  P̂, Q̂ are either per image ([B, L, C]: inversion) or
shared ([1, L, C]: domain adaptation).

Nothing of size C_out × C_in × k × k is formed per sample:
- the static part runs as one dense convolution over the batch, with the style applied to the
  activations (x ⊙ s) and the demodulation to the output;
- the residual's response is P̂ᵀ · box_k(Q̂ · x), two thin matrix products around a k×k box
  filter on L channels (the box commutes with channel mixing): per-sample batched products for
  per-image factors (on oneDNN where that is exact: `nets.onednn`), two 1×1 convolutions over
  the whole batch for shared ones;
- the demodulation norm of the refined kernel expands into three factored terms (see
  `_kernel_energy`; shared factors form the batch's one ΔW [C_out, C_in] there).
For a batch of one, the style and the demodulation are folded into the static kernel instead,
which is cheaper than two passes over the activations.

Shared factors whose rank is not low for the layer (`dense_residual`; the paper's L = 256 on config-f's
64- and 32-channel layers at 512 and 1024 px) go through the one shared kernel ΔW ⊗ 1_k×k instead: a dense
convolution over the batch (folded into the static kernel for a batch of one). It keeps no L-channel maps for
backward, which at L = 256 on the two 1024 px layers alone were 6.5 GiB for a batch of two.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .filters import DEFAULT_TAPS, blur, fir_kernel
from .layers import EqualLinear
from .onednn import onednn_matmuls

LowRankFactors = tuple[Tensor, Tensor]  # (P̂ [B|1, L, C_out], Q̂ [B|1, L, C_in])


class ModulatedConv2d(nn.Module):
    """Modulated k×k convolution with optional RefineStyle residual and weight delta.

    `up=True` makes it StyleGAN2's up-sampling convolution: a stride-2 transposed convolution
    followed by the [1, 3, 3, 1] low-pass (gain 4, padding 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        demodulate: bool = True,
        up: bool = False,
        blur_taps: tuple[int, ...] = DEFAULT_TAPS,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))  # W⁰
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate, self.up = demodulate, up
        blur_kernel = fir_kernel(blur_taps, gain=4.0) if up else None
        if up:
            self.register_buffer("blur_kernel", blur_kernel, persistent=False)
        self.register_buffer("box", box_kernel(kernel_size, blur_kernel), persistent=False)  # ΔW's spatial filter

    def forward(
        self,
        x: Tensor,
        w: Tensor,
        residual: LowRankFactors | None = None,
        weight_delta: Tensor | None = None,
        bias: Tensor | None = None,
        gain: float = 1.0,
        style_offset: Tensor | None = None,
    ) -> Tensor:
        """gain · conv(x, refined kernel) + bias.  x [B, C_in, H, W], w [B, w_dim] -> [B, C_out, H', W']

        H' = 2H when up-sampling, else H.
        residual: RefineStyle factors (P̂, Q̂), per image or shared.
        weight_delta: an additive change of W⁰ [C_out, C_in, k, k] (GaNI, PTI-style tuning).
        bias [C_out] and gain let a caller's bias and activation gain ride on the convolution.
        style_offset [B|1, C_in]: added to s = affine(w) (a StyleSpace edit).
        """
        assert x.ndim == 4 and x.shape[1] == self.in_channels, \
            f"expected [B, {self.in_channels}, H, W], got {list(x.shape)}"
        batch = x.shape[0]
        weight = self.weight if weight_delta is None else self.weight + weight_delta  # [O, I, k, k]
        s = self.affine(w)  # [B, I]
        if style_offset is not None:
            s = s + style_offset
        if self.demodulate:
            energy = _kernel_energy(weight, s, residual)  # [B, O]
            coef = gain * self.scale * torch.rsqrt(self.scale**2 * energy + 1e-8)  # [B, O]
        else:
            coef = x.new_full((batch, self.out_channels), gain * self.scale)
        dense = None  # shared factors of a rank that is not low here: the one ΔW ⊗ 1_k×k [O, I, k, k]
        if residual is not None and residual[0].shape[0] == 1 and \
                dense_residual(residual[0].shape[1], self.in_channels, self.out_channels, self.kernel_size):
            k = self.kernel_size
            dense = (residual[0][0].t() @ residual[1][0])[:, :, None, None].expand(-1, -1, k, k)
            residual = None

        if batch == 1:  # fold style and demodulation into the kernel: no pass over the activations
            kernel = weight * s[0, None, :, None, None]  # [O, I, k, k]
            if dense is not None:
                kernel = kernel + dense
            y = self._conv(x, kernel * coef[0, :, None, None, None], bias)
        else:
            y = self._conv(x * s[:, :, None, None], weight)
            if dense is not None:  # before demodulation, as the factored response below
                y = y + self._conv(x, dense.contiguous())
            elif residual is not None and residual[0].shape[0] == 1:  # shared factors: before demodulation
                y = y + self._shared_residual_response(x, *residual)
                residual = None
            scale = coef[:, :, None, None]
            y = y * scale if bias is None else torch.addcmul(bias[None, :, None, None], y, scale)
        if residual is not None:
            p_hat, q_hat = residual
            y = self._add_residual_response(y, x, p_hat * coef[:, None, :], q_hat)
        return y  # [B, O, H', W']

    def _conv(self, x: Tensor, kernel: Tensor, bias: Tensor | None = None) -> Tensor:
        if self.up:  # [B, I, H, W] -> [B, O, 2H + 1, 2W + 1] -> blur -> [B, O, 2H, 2W]
            return blur(F.conv_transpose2d(x, kernel.transpose(0, 1), stride=2), self.blur_kernel, 1, bias)
        return F.conv2d(x, kernel, bias, padding=self.kernel_size // 2)

    def _add_residual_response(self, y: Tensor, x: Tensor, p_hat: Tensor, q_hat: Tensor) -> Tensor:
        """y + conv(x, ΔW ⊗ 1_k×k), with conv(x, ΔW ⊗ 1) = P̂ᵀ · box(Q̂ · x) and ΔW never formed."""
        assert q_hat.shape[-1] == self.in_channels and p_hat.shape[-1] == self.out_channels, \
            f"factors must be [*, L, {self.out_channels}] and [*, L, {self.in_channels}]"
        return _AddLowRankResponse.apply(y, x, p_hat, q_hat, self.box, self.up)

    def _shared_residual_response(self, x: Tensor, p_hat: Tensor, q_hat: Tensor) -> Tensor:
        """conv(x, ΔW ⊗ 1_k×k) for factors shared by the batch: P̂ᵀ · box(Q̂ · x) as two 1×1 convolutions.

        With one ΔW for every sample the two products are plain convolutions, which run as dense
        GEMMs over the whole batch (several times faster than per-sample batched products).
        x [B, I, H, W], p_hat [1, L, O], q_hat [1, L, I] -> [B, O, H', W'] (not yet demodulated)
        """
        z = _box(F.conv2d(x, q_hat[0, :, :, None, None]), self.box, self.up)  # [B, L, H', W']
        return F.conv2d(z, p_hat[0].t()[:, :, None, None])

    def dynamic_kernel(self, w: Tensor) -> Tensor:
        """The materialised, demodulated per-sample kernel, for analysis only.  -> [B, O, I, k, k]"""
        k = self.scale * self.weight[None] * self.affine(w)[:, None, :, None, None]
        if self.demodulate:
            k = k * torch.rsqrt(k.square().sum((2, 3, 4), keepdim=True) + 1e-8)
        return k


def dense_residual(rank: int, in_channels: int, out_channels: int, kernel_size: int) -> bool:
    """Whether shared rank-`rank` factors are applied as the dense kernel ΔW ⊗ 1_k×k rather than factored
    (both give the same response, within float rounding): when the factored response's multiply-adds per pixel,
    L·(C_in + C_out) for the two products plus L·k² for the box, reach half the dense convolution's
    C_in·C_out·k². Half, because the factored form's L-channel maps make it memory-bound: measured at L = 256,
    batch 2, forward + backward on one CPU thread (factored / dense seconds), config-f's layers at
    128 px 0.72/1.03 (up) and 1.00/1.46, at 256 px 1.31/1.33 and 1.71/1.70 — factored by this rule —, at
    512 px 2.83/1.87 and 3.67/2.15, at 1024 px 7.51/2.89 and 9.79/3.00 — dense."""
    taps = kernel_size * kernel_size
    return 2 * rank * (in_channels + out_channels + taps) >= in_channels * out_channels * taps


def box_kernel(k: int, blur_kernel: Tensor | None = None) -> Tensor:
    """The per-channel filter that ΔW ⊗ 1_k×k applies: a k×k box, or for the up-sampling conv the
    box as a stride-2 transposed conv followed by the low-pass, combined into one kernel.

    -> [k, k], or [k + 3, k + 3] with the blur (the full convolution of the two).
    """
    ones = torch.ones(1, 1, k, k)
    if blur_kernel is None:
        return ones[0, 0]
    return F.conv_transpose2d(ones, blur_kernel[None, None])[0, 0]


def _rows(t: Tensor) -> Tensor:
    """[B, C, H, W] -> pixel rows [B, HW, C] (a view when t is channels-last)."""
    b, c, h, w = t.shape
    return t.permute(0, 2, 3, 1).reshape(b, h * w, c)


def _unrows(r: Tensor, h: int, w: int) -> Tensor:
    """Pixel rows [B, HW, C] -> a channels-last [B, C, H, W] view."""
    return r.view(r.shape[0], h, w, r.shape[2]).permute(0, 3, 1, 2)


def _box(z: Tensor, box: Tensor, up: bool) -> Tensor:  # [B, L, H, W] -> [B, L, H', W']
    rank, k = z.shape[1], box.shape[-1]
    if up:  # stride-2 transposed conv, padding chosen so that H' = 2H
        return F.conv_transpose2d(z, box.expand(rank, 1, k, k), stride=2, padding=(k - 2) // 2, groups=rank)
    return F.conv2d(z, box.expand(rank, 1, k, k), padding=k // 2, groups=rank)


def _box_adjoint(g: Tensor, box: Tensor, up: bool) -> Tensor:  # [B, L, H', W'] -> [B, L, H, W]
    rank, k = g.shape[1], box.shape[-1]
    if up:  # the adjoint of a transposed conv is the strided conv with the same kernel
        return F.conv2d(g, box.expand(rank, 1, k, k), stride=2, padding=(k - 2) // 2, groups=rank)
    return F.conv2d(g, box.expand(rank, 1, k, k), padding=k // 2, groups=rank)  # symmetric: self-adjoint


class _AddLowRankResponse(torch.autograd.Function):
    """y + P̂ᵀ · box(Q̂ · x) computed on pixel rows (views of channels-last tensors).

    The backward is written out so that every gradient stays channels-last: autograd's generic
    backward of the permutes would hand NCHW gradients to the channels-last main path, and the
    layout conversions cost more than the low-rank products themselves.
    y [B, O, H', W'], x [B, I, H, W], p_hat [B, L, O], q_hat [B, L, I] -> [B, O, H', W'] (channels-last)
    """

    @staticmethod
    def forward(ctx, y: Tensor, x: Tensor, p_hat: Tensor, q_hat: Tensor, box: Tensor, up: bool) -> Tensor:
        h, w = x.shape[2:]
        ctx.up = up
        with onednn_matmuls(x.device):
            x_rows = _rows(x)  # [B, HW, I]
            z = _box(_unrows(x_rows @ q_hat.transpose(1, 2), h, w), box, up)  # [B, L, H', W']
            z_rows = _rows(z)  # [B, H'W', L]
            ctx.save_for_backward(x, z_rows, p_hat, q_hat, box)
            if y.is_contiguous(memory_format=torch.channels_last):  # accumulate in place: y's rows are a view
                ctx.mark_dirty(y)
                _rows(y).baddbmm_(z_rows, p_hat)  # [B, H'W', O]
                return y
            out = torch.empty_like(y, memory_format=torch.channels_last)
            torch.baddbmm(_rows(y), z_rows, p_hat, out=_rows(out))
            return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        x, z_rows, p_hat, q_hat, box = ctx.saved_tensors
        h, w = x.shape[2:]
        g = _rows(grad)  # [B, H'W', O]
        grad_p = grad_x = grad_q = None
        with onednn_matmuls(x.device):
            if ctx.needs_input_grad[2]:
                grad_p = z_rows.transpose(1, 2) @ g  # [B, L, O]
            if ctx.needs_input_grad[1] or ctx.needs_input_grad[3]:
                gz = _unrows(g @ p_hat.transpose(1, 2), *grad.shape[2:])  # [B, L, H', W']
                gz0 = _rows(_box_adjoint(gz, box, ctx.up))  # [B, HW, L]
                if ctx.needs_input_grad[1]:
                    grad_x = _unrows(gz0 @ q_hat, h, w)  # [B, I, H, W]
                if ctx.needs_input_grad[3]:
                    grad_q = gz0.transpose(1, 2) @ _rows(x)  # [B, L, I]
        return grad, grad_x, grad_p, grad_q, None, None


def _kernel_energy(weight: Tensor, s: Tensor, residual: LowRankFactors | None) -> Tensor:
    """Σ_ik (s_i W_oik + ΔW_oi)² per sample and output channel, from the factors.  -> [B, O] float32

    Shared factors form the one ΔW = P̂ᵀQ̂ [O, I] of the batch, so the residual's terms cost
    O·I·L once plus a [B, I] × [I, O] product:  E_o = Σ_i s_i² ‖W_oi‖² + 2 Σ_i s_i W̄_oi ΔW_oi + k² ‖ΔW_o‖².
    Under autocast (bf16 training) the energy is still summed in float32: the demodulation
    divides by its square root, and a sum of I·k² squares loses too many digits in bf16.
    """
    if torch.is_autocast_enabled(s.device.type):
        with torch.autocast(s.device.type, enabled=False):
            factors = None if residual is None else (residual[0].float(), residual[1].float())
            return _kernel_energy(weight.float(), s.float(), factors)
    if residual is None:
        return _KernelEnergy.apply(weight, s, None, None)
    p_hat, q_hat = residual
    if p_hat.shape[0] > 1:  # per image
        return _KernelEnergy.apply(weight, s, p_hat, q_hat)
    delta = p_hat[0].t() @ q_hat[0]  # ΔW [O, I]
    taps = weight.shape[2] * weight.shape[3]
    return _KernelEnergy.apply(weight, s, None, None) + torch.addmm(taps * delta.square().sum(1), s,
                                                                    (2 * weight.sum((2, 3)) * delta).t())


class _KernelEnergy(torch.autograd.Function):
    """The demodulation energy of the refined kernel, with its gradient written out.

        E_o = Σ_i s_i² ‖W_oi‖²  +  2 Σ_l P̂_lo C_lo  +  k² Σ_l P̂_lo (G P̂)_lo,
        C = (Q̂ ⊙ s) · W̄ᵀ [B, L, O],  G = Q̂ Q̂ᵀ [B, L, L],  W̄_oi = Σ_k W_oik,  ‖W_oi‖² = Σ_k W_oik².

    Autograd's version of the same formula builds ~30 small nodes per layer and expands the two
    weight reductions back to [O, I, k, k] separately (about twice this Function's time at 192
    channels).  The backward below forms the weight gradient in one pass.
    weight [O, I, k, k], s [B, I], per-image p_hat [B, L, O], q_hat [B, L, I] (or both None) -> [B, O]
    """

    @staticmethod
    def forward(ctx, weight: Tensor, s: Tensor, p_hat: Tensor | None, q_hat: Tensor | None) -> Tensor:
        w_sq = weight.square().sum((2, 3))  # [O, I]
        energy = s.square() @ w_sq.t()  # [B, O]
        ctx.refined = p_hat is not None
        if not ctx.refined:
            ctx.save_for_backward(weight, s, w_sq)
            return energy
        taps = weight.shape[2] * weight.shape[3]
        w_bar = weight.sum((2, 3))  # [O, I]
        qs = q_hat * s[:, None, :]  # [B, L, I]
        with onednn_matmuls(s.device):
            cross = qs @ w_bar.t()  # [B, L, O]
            gram = q_hat @ q_hat.transpose(1, 2)  # [B, L, L]
            t = torch.baddbmm(2 * cross, gram, p_hat, alpha=taps)  # 2C + k²·G P̂  [B, L, O]
        energy += (p_hat * t).sum(1)
        ctx.save_for_backward(weight, s, w_sq, w_bar, p_hat, q_hat, qs, t, gram)
        return energy

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, ge: Tensor):  # ge [B, O]
        if not ctx.refined:
            weight, s, w_sq = ctx.saved_tensors
            grad_w = 2 * weight * (ge.t() @ s.square())[:, :, None, None] if ctx.needs_input_grad[0] else None
            return grad_w, 2 * s * (ge @ w_sq), None, None
        weight, s, w_sq, w_bar, p_hat, q_hat, qs, t, gram = ctx.saved_tensors
        taps = weight.shape[2] * weight.shape[3]
        ge_l = ge[:, None, :]  # [B, 1, O]
        pg = p_hat * ge_l  # [B, L, O]
        grad_w = None
        with onednn_matmuls(s.device):
            grad_qs = 2 * pg @ w_bar  # [B, L, I]
            if ctx.needs_input_grad[0]:  # a frozen generator (inversion) skips this [O, B·L] × [B·L, I] product
                grad_w_bar = 2 * pg.flatten(0, 1).t() @ qs.flatten(0, 1)  # [O, I]
                grad_w_sq = ge.t() @ s.square()  # [O, I]
                grad_w = torch.addcmul(grad_w_bar[:, :, None, None], weight, grad_w_sq[:, :, None, None], value=2)
            grad_s = 2 * s * (ge @ w_sq) + (grad_qs * q_hat).sum(1)  # [B, I]
            grad_p = torch.baddbmm(t * ge_l, gram, pg, alpha=taps)  # [B, L, O]
            grad_gram = pg @ p_hat.transpose(1, 2)  # [B, L, L]
            grad_q = torch.baddbmm(grad_qs * s[:, None, :], grad_gram + grad_gram.transpose(1, 2), q_hat, alpha=taps)
        return grad_w, grad_s, grad_p, grad_q

"""Kernel spectrum: RefineStyle Fig. 3 for the active generator."""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from pipelines.generate import KernelSpectrum, kernel_spectrum

from .jobs import Tracker
from .serving import FAST
from .session import Session, user_errors


def figure(spec: KernelSpectrum):
    """The curves as a matplotlib Figure made outside pyplot, so that no request leaves one open in its registry."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    for i, (name, sv) in enumerate(zip(spec.layers, spec.singular_values)):
        xs = [(k + 1) / len(sv) for k in range(len(sv))]
        ax.plot(xs, sv.tolist(), color=cmap(i / max(1, len(spec.layers) - 1)), label=name, lw=1.4)
    ax.set_yscale("log")
    ax.set_xlabel("singular value index / rank")
    ax.set_ylabel("σ / σ₁ (mean over w)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2, loc="lower left")
    fig.tight_layout()
    return fig


def build(session: Session) -> None:
    gr.Markdown("Each curve is one conv layer: the singular values σ_k / σ₁ of its dynamic kernel (modulated by "
                "the style of w, then demodulated) reshaped to C_out × C_in·9, sorted and averaged over random w "
                "(RefineStyle Fig. 3). How fast a curve falls says how much of the kernel a rank-L residual "
                "reaches: a curve that stays near 1 has a flat spectrum (full rank); one that drops steeply is "
                "close to low-rank. Read the curves of this zoo's generator as they are.")
    with gr.Row():
        with gr.Column(scale=1):
            samples = gr.Slider(1, 64, value=8, step=1, precision=0, label="Sampled w")
            seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            run = gr.Button("Compute spectrum", variant="primary", elem_id="spectrum-run")
        with gr.Column(scale=2):
            plot = gr.Plot(label="Kernel spectrum", elem_id="spectrum-plot")
            info = gr.Markdown(label="Summary")
            gr.DeepLinkButton()

    run.click(spectrum_handler(session), [samples, seed], [plot, info], api_name="kernel_spectrum", **FAST)


def summary(spec: KernelSpectrum) -> str:
    """What the curves say, in numbers: σ/σ₁ halfway along each layer's spectrum."""
    half = [float(sv[len(sv) // 2]) for sv in spec.singular_values]
    return (f"{spec.samples} samples, {len(spec.layers)} layers, {spec.seconds:.2f} s. Halfway along the rank, "
            f"σ/σ₁ is {min(half):.2f}–{max(half):.2f} across layers (a low-rank kernel would be near 0 there).")


def spectrum_handler(session: Session) -> Callable:
    """The /kernel_spectrum endpoint; its parameter names are the API's."""

    def compute_spectrum(samples: int, seed: int, progress=gr.Progress()):
        g = session.load("generator")
        with user_errors():
            spec = kernel_spectrum(g, int(samples), int(seed), progress=Tracker(progress))
        return figure(spec), summary(spec)

    return compute_spectrum

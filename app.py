"""RefineStyle, GradStyle and GaNI on StyleGAN2, side by side: the Gradio app (a Hugging Face Space).

    python app.py                      # emoji64 zoo on CPU, http://127.0.0.1:7860
    python app.py --zoo ffhq --device cuda

Nothing heavy happens at import: networks load on first use through pipelines.zoo, once per
process, and every tab is built from pipeline functions.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import gradio as gr

from pipelines.generate import generate, kernel_spectrum
from pipelines.images import tensor_to_pil
from pipelines.runtime import tune_cpu_allocator
from pipelines.zoo import SlotUnavailable, Zoo, open_zoo

DEFAULT_ZOO = "emoji64"
TITLE = "RefineStyle · GradStyle · GaNI — StyleGAN2 inversion, editing and domain adaptation"


@dataclass
class Session:
    """The active zoo and device, and what the page should tell the visitor about them."""

    zoo: Zoo
    device: str
    notice: str

    @classmethod
    def open(cls, zoo_name: str, device: str) -> Session:
        notice = ""
        try:
            zoo = open_zoo(zoo_name)
        except ValueError as err:
            zoo, notice = open_zoo(DEFAULT_ZOO), f"⚠️ {err}; running on **{DEFAULT_ZOO}**."
        status = zoo.slot_status("generator")
        if not status.available and zoo.name != DEFAULT_ZOO:
            notice = (f"⚠️ The **{zoo.name}** zoo is unavailable ({status.reason}); "
                      f"running on **{DEFAULT_ZOO}** instead.")
            zoo = open_zoo(DEFAULT_ZOO)
            status = zoo.slot_status("generator")
        if not status.available:
            notice += (f"\n\n⚠️ The **{zoo.name}** generator does not exist yet ({status.reason}). "
                       "Generation and the kernel spectrum stay off until it is trained "
                       "(`python -m train.generator`) — no untrained network is shown in its place.")
        return cls(zoo, device, notice.strip())

    def generator(self):
        try:
            return self.zoo.load("generator", self.device)
        except SlotUnavailable as err:
            raise gr.Error(f"No generator in the {self.zoo.name} zoo: {err}") from None


def _generate_tab(session: Session) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            seed = gr.Number(value=0, precision=0, label="Seed (first sample)", minimum=0, maximum=2**31 - 1)
            count = gr.Slider(1, 32, value=8, step=1, label="Samples")
            truncation = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation ψ")
            with gr.Accordion("Style mixing", open=False):
                mix = gr.Checkbox(value=False, label="Take the later layers from another seed")
                mix_seed = gr.Number(value=1000, precision=0, label="Style seed", minimum=0, maximum=2**31 - 1)
                num_ws = 2 * session.zoo.resolution.bit_length() - 4  # 2·log2(size) − 2
                inject = gr.Slider(1, num_ws - 1, value=num_ws // 2, step=1, label="First layer taken from the style seed")
            run = gr.Button("Generate", variant="primary")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Samples", columns=4, format="png", height="auto")
            info = gr.Markdown()

    def on_generate(seed, count, truncation, mix, mix_seed, inject):
        g = session.generator()
        try:
            result = generate(g, int(seed), int(count), float(truncation),
                              int(mix_seed) if mix else None, int(inject) if mix else None)
        except ValueError as err:
            raise gr.Error(str(err)) from None
        images = [(tensor_to_pil(img), f"seed {s}") for img, s in zip(result.images, result.seeds)]
        return images, f"{len(images)} samples at {g.size} px in {result.seconds:.2f} s on {session.device}"

    run.click(on_generate, [seed, count, truncation, mix, mix_seed, inject], [gallery, info], api_name="generate")


def _spectrum_tab(session: Session) -> None:
    gr.Markdown("Sorted singular values (σ / σ₁) of every conv layer's demodulated kernel reshaped to "
                "C_out × C_in·9, averaged over random w — RefineStyle Fig. 3: the dynamic kernels are close "
                "to low-rank, which is why a rank-L residual can refine them.")
    with gr.Row():
        with gr.Column(scale=1):
            samples = gr.Slider(1, 64, value=8, step=1, label="Sampled w")
            seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
            run = gr.Button("Compute spectrum", variant="primary")
        with gr.Column(scale=2):
            plot = gr.Plot(label="Kernel spectrum")
            info = gr.Markdown()

    def on_spectrum(samples, seed, progress=gr.Progress()):
        g = session.generator()
        try:
            spec = kernel_spectrum(g, int(samples), int(seed), progress=lambda f, d: progress(f, desc=d))
        except ValueError as err:
            raise gr.Error(str(err)) from None
        return _spectrum_figure(spec), f"{spec.samples} samples, {len(spec.layers)} layers, {spec.seconds:.2f} s"

    run.click(on_spectrum, [samples, seed], [plot, info], api_name="kernel_spectrum")


def _spectrum_figure(spec):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    cmap = plt.get_cmap("viridis")
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


def _zoo_tab(session: Session, demo: gr.Blocks) -> None:
    zoo = session.zoo
    gr.Markdown(f"**Active zoo: {zoo.title}** — {zoo.description}")
    table = gr.Dataframe(headers=["slot", "status", "source", "note"], interactive=False, wrap=True)
    refresh = gr.Button("Refresh")

    def on_status():
        return [[s.name, "✅ ready" if s.available else "— missing", s.source, s.reason] for s in zoo.status()]

    refresh.click(on_status, None, table, api_name="zoo_status")
    demo.load(on_status, None, table, api_name=False)


def build_demo(zoo: str = DEFAULT_ZOO, device: str = "cpu") -> gr.Blocks:
    """The Blocks of the app; builds without loading any network."""
    session = Session.open(zoo, device)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nZoo: **{session.zoo.name}** ({session.zoo.resolution} px) · device: {device}")
        if session.notice:
            gr.Markdown(session.notice)
        with gr.Tab("Generate"):
            _generate_tab(session)
        with gr.Tab("Kernel spectrum"):
            _spectrum_tab(session)
        with gr.Tab("Zoo"):
            _zoo_tab(session, demo)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--zoo", default=DEFAULT_ZOO, help="zoo name (assets/zoos/<name>.json) or a manifest path")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="open a public Gradio link")
    args = parser.parse_args(argv)
    tune_cpu_allocator()
    build_demo(args.zoo, args.device).queue(max_size=16).launch(
        server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()

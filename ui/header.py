"""The orientation header: what the app does, the papers, one line per method, what the metrics
mean, how long things take, and which zoo is active."""
from __future__ import annotations

from pipelines.methods import REGISTRY

from .methods import is_per_image, measured_seconds
from .session import Session

PAPERS = ("[RefineStyle](https://arxiv.org/abs/2410.06104) (Xia et al. 2024): low-rank residuals on the modulated "
          "kernels, for inversion and for domain adaptation · "
          "[GradStyle](https://arxiv.org/abs/2402.14398) (Li et al., AAAI 2024): gradual residual alignment, a "
          "reconstruction and an editing stream · "
          "[GaNI](https://arxiv.org/abs/2302.11413) (Sheffi et al. 2023): gradient adjusting networks, per-image "
          "generator tuning. Baselines: e4e (Tov et al. 2021), PTI (Roich et al. 2022), StyleGAN-NADA full "
          "fine-tuning. \"(ours)\" marks a method that is not from a paper.")
WHAT = {
    "e4e": "encoder → W+ code (the baseline every other method starts from)",
    "refinestyle_1s": "one encoder → W+ and low-rank kernel residuals",
    "refinestyle_2s": "e4e's code, then a second encoder → kernel residuals",
    "refinestyle_opt": "RefineStyle's residuals found by gradient descent for each image",
    "gradstyle": "e4e's code plus residual features added stage by stage",
    "gani": "e4e's code through a generator tuned for this image by gradient adjusting networks",
    "pti": "e4e's code through a generator whose kernels are tuned for this image",
}
METRICS = ("**Metrics** (input vs. reconstruction): MSE ↓ and SSIM ↑ on pixels in [0, 1]; perceptual ↓ "
           "(the zoo's perceptual distance: EmojiNet features on emoji64, LPIPS on ffhq; 0 = identical); "
           "ID ↑ (cosine of identity embeddings, 1 = the same emoji or person).")


def method_lines(session: Session) -> str:
    timed = measured_seconds() if session.zoo.name == "emoji64" else {}
    lines = []
    for m in REGISTRY.values():
        seconds = f" — about {timed[m.name][0]:.2g} s per image on CPU" if m.name in timed else ""
        kind = "per-image optimisation" if is_per_image(m.name) else "encoder"
        lines.append(f"- **{m.label}** ({kind}): {WHAT.get(m.name, '')}{seconds}")
    return "\n".join(lines)


def header(session: Session, title: str) -> str:
    zoo = session.zoo
    return (f"# {title}\n"
            "Reconstruct (invert) an image with a pre-trained StyleGAN2, edit it, or adapt the generator to a new "
            "style from a text or one reference image — several published methods side by side on the same "
            f"input, each with its metrics and its time.\n\n"
            f"**Active zoo: {zoo.title}** ({zoo.resolution} px) on **{session.device}**. {PAPERS}\n\n"
            "<details><summary>Methods, metrics and times</summary>\n\n"
            f"{method_lines(session)}\n\n{METRICS}\n\n"
            "**Times** (emoji64, this project's 2-core CPU, measured by `bench.inversion`): encoders well under a "
            "second; per-image methods as listed, which the Inversion and Editing tabs run one at a time in a "
            "slow lane while encoder requests go straight through. On a GPU all of them are seconds or less "
            "(not yet measured here: `python -m bench.gpu`). Every long run shows its iteration and an estimate "
            "of the time left, and **Stop** ends it within a step.\n\n</details>")

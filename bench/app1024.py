"""The whole app at 1024 px on CPU (issue 20 item 3): a zoo in the ffhq zoo's official layouts with random
weights, written on the spot, and every endpoint driven once through gradio_client with 1-2-step settings;
each call's seconds and the server's resident memory -> bench/results/app1024.json.

    python -m bench.app1024 [--threads 1] [--readme]

The zoo is assets/zoos/ffhq.json with every Hub file replaced by a local file of the same format: the
rosinality config-f generator (.pt), e4e's checkpoint (`state_dict` with the IR-SE50 encoder, `latent_avg`),
ArcFace IR-SE50 (model_ir_se50.pth), the face-parsing BiSeNet (79999_iter.pth), open_clip ViT-B/32 and
ViT-B/16 (open_clip_model.safetensors), e4e's InterFaceGAN and GANSpace files, and, for LPIPS-VGG, timm's
VGG16 model.safetensors (timm/vgg16.tv_in1k's layout, classifier included). Everything loads through the
zoo's converters, as the Hub files would. The slots without a public checkpoint (RefineStyle encoders,
GradStyle) stay empty, as in the real manifest. The zoo is built in a child process, so the server's peak
memory is the app's own. tests/test_app_ffhq1024.py runs `drive`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

from .report import machine, publish

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "app1024.json"
FFHQ_MANIFEST = ROOT / "assets" / "zoos" / "ffhq.json"
FACES = ROOT.parent / "shared" / "fixtures" / "faces"
ZOO_NAME = "ffhq-layouts"
METHODS = ["e4e", "refinestyle_opt", "gani", "pti"]  # every method the ffhq zoo can run without a trained encoder
GANSPACE_COMPONENTS = 8


# ---- the zoo -------------------------------------------------------------------------------------
def _rosinality_generator(seed: int) -> dict:
    """A config-f `g_ema` state dict initialised as rosinality's modules initialise themselves."""
    import torch

    from nets.configs import FFHQ1024
    from nets.filters import fir_kernel
    from nets.stylegan2 import Generator
    from pipelines.converters import rosinality_layout

    gen = torch.Generator().manual_seed(seed)
    channels = Generator(**FFHQ1024).channels
    sd = {}
    for key, shape in rosinality_layout(1024, 512, 8, channels).items():
        if key.endswith((".blur.kernel", ".upsample.kernel")):
            sd[key] = fir_kernel(gain=4.0)
        elif key.startswith("style.") and key.endswith(".weight"):
            sd[key] = torch.randn(shape, generator=gen) / 0.01  # EqualLinear(lr_mul=0.01) stores w / lr_mul
        elif key.endswith("modulation.bias"):
            sd[key] = torch.ones(shape)  # bias_init=1
        elif key.endswith(("noise.weight", "activate.bias", ".bias")):
            sd[key] = torch.zeros(shape)
        else:  # conv and modulation weights, the constant input, the noise buffers
            sd[key] = torch.randn(shape, generator=gen)
    return sd


def _timm_vgg16(seed: int) -> dict:
    """A full-size state dict in the layout of timm/vgg16.tv_in1k's model.safetensors, initialised as
    torchvision initialises VGG (He-normal convs, N(0, 0.01) classifier, zero biases)."""
    import math

    import torch

    from pipelines.converters import timm_vgg16_layout

    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in timm_vgg16_layout().items():
        if key.endswith(".bias"):
            sd[key] = torch.zeros(shape)
        elif key.startswith("features."):
            sd[key] = torch.randn(shape, generator=gen) * math.sqrt(2 / (shape[0] * shape[2] * shape[3]))
        else:
            sd[key] = torch.randn(shape, generator=gen) * 0.01
    return sd


def build_zoo(root: Path, seed: int = 0) -> Path:
    """Write the random networks in their official file formats under root/zoo/<name>/ and the manifest
    root/zoos/<name>.json (the ffhq manifest, local files with their sha256).  -> the manifest"""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from nets.bisenet import BiSeNet
    from nets.e4e import E4E_FFHQ, E4EEncoder
    from nets.judges import ArcFaceIRSE50
    from pipelines.converters import convert_rosinality_generator
    from pipelines.runtime import seeded_initialisation
    from pipelines.zoo import sha256_file

    folder = root / "zoo" / ZOO_NAME
    folder.mkdir(parents=True, exist_ok=True)

    def saved(name: str, obj: Any, sub: str = "") -> Path:
        path = folder / sub / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".safetensors"):
            save_file({k: v.contiguous() for k, v in obj.items()}, str(path))
        else:
            torch.save(obj, path)
        return path

    # the layers built here (the encoders, ArcFace, BiSeNet, open_clip) initialise themselves from torch's global
    # generator: a fork of it seeded with `seed` (the caller's state is restored); the directions come from the
    # fork's stream after the block, through a local generator
    with seeded_initialisation(seed) as gen:
        ckpt = {"g_ema": _rosinality_generator(seed)}
        w_avg = convert_rosinality_generator(ckpt).w_avg.clone()  # the converter estimates it without latent_avg
        ckpt["latent_avg"] = w_avg
        files: dict[str, list[Path]] = {"generator": [saved("stylegan2-ffhq-config-f.pt", ckpt)]}
        del ckpt
        encoder = {f"encoder.{k}": v for k, v in E4EEncoder(**E4E_FFHQ).state_dict().items() if k != "w_avg"}
        files["e4e"] = [saved("e4e_ffhq_encode.pt", {"state_dict": encoder, "latent_avg": w_avg.expand(18, -1).clone(),
                                                      "opts": {}})]
        del encoder
        files["perceptual"] = [saved("model.safetensors", _timm_vgg16(seed), "vgg16_tv_in1k")]
        files["identity"] = [saved("model_ir_se50.pth", ArcFaceIRSE50().state_dict())]
        files["parsing"] = [saved("79999_iter.pth", BiSeNet().state_dict())]
        files["clip"] = [saved("open_clip_model.safetensors", open_clip.create_model(name).state_dict(), sub)
                         for name, sub in (("ViT-B-32", "vit_b32"), ("ViT-B-16", "vit_b16"))]
    unit = torch.nn.functional.normalize
    directions = {name: unit(torch.randn(1, 512, generator=gen), dim=1) for name in ("age", "smile", "rotation")}
    directions["ganspace"] = {"mean": w_avg[None],
                              "comp": unit(torch.randn(GANSPACE_COMPONENTS, 1, 512, generator=gen), dim=2),
                              "std": torch.ones(GANSPACE_COMPONENTS)}
    files["directions"] = [saved(f"{name}.pt", value, "directions") for name, value in directions.items()]

    manifest = json.loads(FFHQ_MANIFEST.read_text())
    manifest["name"], manifest["title"] = ZOO_NAME, "FFHQ layouts, random weights (bench.app1024)"
    manifest["description"] = "The ffhq zoo's networks in their official file formats with random weights."
    for slot, paths in files.items():
        manifest["slots"][slot]["files"] = [{"path": p.parent.relative_to(root).as_posix(), "filename": p.name,
                                             "sha256": sha256_file(p)} for p in paths]
    (root / "zoos").mkdir(exist_ok=True)
    path = root / "zoos" / f"{ZOO_NAME}.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def build_zoo_in_child(root: Path, threads: int = 1) -> Path:
    """build_zoo in a child process: the caller's peak memory stays its own."""
    import os

    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, "-m", "bench.app1024", "--build-only", str(root)], check=True, cwd=ROOT, env=env)
    return root / "zoos" / f"{ZOO_NAME}.json"


# ---- the uploads ---------------------------------------------------------------------------------
def photos(folder: Path) -> dict[str, Path]:
    """moved: a fixture photo shrunk, turned 15° and shifted onto a larger canvas (alignment has work
    to do); group: two faces; small: one face too small for 1024 px; blank: no face."""
    from .align import MOVE, similarity_canvas

    faces = sorted(FACES.iterdir())
    a, b = (Image.open(p).convert("RGB") for p in faces[:2])
    out = {}
    canvas, _ = similarity_canvas(a, **MOVE)
    canvas.save(out.setdefault("moved", folder / "moved.jpg"), quality=95)
    group = Image.new("RGB", (1200, 700), (90, 90, 140))
    group.paste(b.resize((400, 400), Image.Resampling.LANCZOS), (20, 150))
    group.paste(a.resize((650, 650), Image.Resampling.LANCZOS), (520, 20))
    group.save(out.setdefault("group", folder / "group.jpg"), quality=95)
    small = Image.new("RGB", (640, 480), (200, 200, 200))
    small.paste(a.resize((160, 160), Image.Resampling.LANCZOS), (240, 160))
    small.save(out.setdefault("small", folder / "small.png"))
    Image.linear_gradient("L").resize((512, 384)).convert("RGB").save(out.setdefault("blank", folder / "blank.png"))
    return out


# ---- driving the app -----------------------------------------------------------------------------
def memory() -> dict[str, float]:
    """This process's resident memory now and at its peak since the last `reset_peak`, MiB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"rss_mib": int(fields["VmRSS"].split()[0]) / 1024, "peak_rss_mib": int(fields["VmHWM"].split()[0]) / 1024}


def reset_peak() -> None:
    """Start a new peak (Linux: "5" to /proc/self/clear_refs resets VmHWM to the current RSS)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def drive(client, uploads: dict[str, Path]) -> tuple[dict[str, dict], dict[str, Any]]:
    """Every endpoint once with 1-2-step settings (two refusals too), in a server running in this process.
    -> ({call: {"seconds", "rss_mib" after it, "peak_rss_mib" during it}}, {call: outputs}); a refused
    call's output is "error: <its message>"."""
    from gradio_client import handle_file

    moved, group = handle_file(str(uploads["moved"])), handle_file(str(uploads["group"]))
    calls: list[tuple[str, str, tuple]] = [
        ("zoo status", "/zoo_status", ()),
        ("generate (1 sample)", "/generate", (0, 1, 0.7, False, 1000, 9)),
        ("kernel spectrum (1 sample)", "/kernel_spectrum", (1, 0)),
        ("invert, aligned: e4e, RefineStyle opt. 1+1 steps, GaNI 1, PTI 1", "/invert",
         (moved, METHODS, 1, 1, 2, 1, 0, True)),
        ("edit, aligned, two faces: e4e, InterFaceGAN smile, 7-step sweep", "/edit",
         (group, ["e4e"], "InterFaceGAN", "smile", 2.0, 0, 17, 1, 1, 1, True)),
        ("text adaptation, tokens, 1 iteration", "/adapt_text",
         ("a photo of a face", "a sketch of a face", "tokens", 1, 0, 1e-3)),
        ("one-shot adaptation, tokens, 1 iteration, aligned reference", "/adapt_oneshot",
         (moved, "tokens", False, 1, 0, 1e-4, True)),
        ("no face: refused", "/invert", (handle_file(str(uploads["blank"])), ["e4e"], 1, 1, 2, 1, 0, True)),
        ("face too small: refused", "/invert", (handle_file(str(uploads["small"])), ["e4e"], 1, 1, 2, 1, 0, True)),
    ]
    records: dict[str, dict] = {}
    outputs: dict[str, Any] = {}

    def call(name: str, api: str, args: tuple) -> None:
        reset_peak()
        start = time.perf_counter()
        try:
            outputs[name] = client.predict(*args, api_name=api)
        except Exception as err:  # noqa: BLE001  a refusal is a result here; the caller checks which
            outputs[name] = f"error: {err}"
        records[name] = {"seconds": time.perf_counter() - start, **memory()}
        r = records[name]
        print(f"{name}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB", flush=True)

    for name, api, args in calls:
        call(name, api, args)
    domain = outputs["text adaptation, tokens, 1 iteration"][2]
    oneshot = outputs["one-shot adaptation, tokens, 1 iteration, aligned reference"][2]
    call("render an aligned photo in the text domain", "/render_text_domain", (moved, handle_file(domain), True))
    call("the one-shot domain's preview", "/render_oneshot_domain", (None, handle_file(oneshot)))
    return records, outputs


def table(result: dict) -> str:
    lines = ["| call | seconds | peak RSS during the call, GiB |", "|---|---|---|"]
    lines += [f"| {name} | {r['seconds']:.1f} | {r['peak_rss_mib'] / 1024:.2f} |" for name, r in result["calls"].items()]
    m = result["memory"]
    lines += ["", f"Server process (the app and the test client in one process) resident memory: "
                  f"{result['loaded_rss_mib'] / 1024:.2f} GiB with the app built (networks load on first use), {m['rss_mib'] / 1024:.2f} GiB "
                  f"after the calls, {m['peak_rss_mib'] / 1024:.2f} GiB at its peak; zoo files "
                  f"{result['zoo_gib']:.2f} GiB; {result['cpu']['cpu']}, {result['threads']} torch thread(s)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import os
    import tempfile

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the server (and the zoo builder)")
    p.add_argument("--readme", action="store_true", help="put the table into the README's app1024 block")
    p.add_argument("--keep", type=Path, default=None, help="copy the inversion's aligned crop and pasted-back photos here")
    p.add_argument("--build-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.build_only is not None:
        build_zoo(args.build_only)
        return
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        manifest = build_zoo_in_child(root, args.threads)
        built = time.perf_counter() - start
        zoo_bytes = sum(f.stat().st_size for f in (root / "zoo").rglob("*") if f.is_file())
        uploads = photos(root)
        reset_peak()
        from gradio_client import Client

        import app

        with app.served(str(manifest)) as url:
            client = Client(url, verbose=False)
            loaded = memory()["rss_mib"]
            calls, outputs = drive(client, uploads)
            if args.keep is not None:  # the aligned crop and the pasted-back photos of the inversion, to look at
                import shutil

                args.keep.mkdir(parents=True, exist_ok=True)
                shots, *_, pasted, _, _ = outputs[next(k for k in outputs if k.startswith("invert"))]
                for k, item in enumerate([shots[0]] + pasted):
                    image = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
                    shutil.copy(image, args.keep / f"{k}-{item['caption'].replace(' ', '_')}.png")
        whole = memory()
        reset_peak()
        whole["peak_rss_mib"] = max(r["peak_rss_mib"] for r in calls.values())
        result = {"cpu": machine(), "threads": args.threads, "load_average_before": load,
                  "torch": torch.__version__, "zoo_build_seconds": built, "zoo_gib": zoo_bytes / 2**30,
                  "loaded_rss_mib": loaded, "calls": calls, "memory": whole, "command": "python -m bench.app1024",
                  "note": "2-core machine shared with training runs in the background (see load_average_before)"}
    publish("app1024", result, table(result), "python -m bench.app1024", RESULTS, args.readme)


if __name__ == "__main__":
    main()

"""FFHQ alignment on the real FFHQ-aligned photos in ../shared/fixtures/faces/: detector time,
how far re-aligning an aligned photo moves it, and how well alignment undoes a known similarity
transform; optionally the README's picture of an aligned crop and a paste-back.

    python -m bench.align [--readme] [--figure docs/alignment.png]     # table, bench/results/align.json
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from pipelines import align
from pipelines.images import image_to_tensor, load_image, tensor_to_pil

from .report import publish

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
RESULTS = Path(__file__).resolve().parent / "results" / "align.json"
R = 1024  # the ffhq zoo's resolution
FACE = slice(int(0.15 * R), int(0.85 * R))  # the face region of an FFHQ crop
MOVE = dict(angle_deg=15.0, scale=0.5, shift=(700.0, 180.0), canvas=(1400, 1000), colour=(40, 160, 90))


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL -> [3, H, W] in [-1, 1] at its own size."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1).contiguous()


def mae255(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference in 8-bit levels."""
    return ((a - b).abs().mean() * 127.5).item()


def similarity_canvas(img: Image.Image, angle_deg: float, scale: float, shift: tuple[float, float],
                      canvas: tuple[int, int], colour: tuple[int, int, int]) -> tuple[Image.Image, torch.Tensor]:
    """img shrunk by scale (Lanczos), turned by angle_deg and shifted onto a canvas of another
    colour (bicubic), with PIL alone; and the map photo -> canvas [2, 3] (continuous pixel coordinates)."""
    small = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    inv = rot.T  # canvas -> small: p = rot^T (q - shift)
    off = -inv @ np.asarray(shift)
    data = (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1])
    out = small.transform(canvas, Image.Transform.AFFINE, data, Image.Resampling.BICUBIC, fillcolor=colour)
    forward = torch.tensor(np.concatenate([rot * scale, np.asarray(shift)[:, None]], 1), dtype=torch.float64)
    return out, forward


def measure(path: Path) -> dict:
    """One photo: detection time, re-alignment and recovery from the moved copy."""
    img = load_image(path)
    photo = image_to_tensor(img, R)[0]
    t0 = time.perf_counter()
    faces = align.detect_faces(photo)
    seconds = time.perf_counter() - t0
    original = align.align_face(photo, R, face=faces[0])
    frame = torch.tensor([[0.0, 0], [0, R], [R, R], [R, 0]], dtype=torch.float64)
    canvas, forward = similarity_canvas(img, **MOVE)
    moved = align.align_face(pil_to_tensor(canvas), R)
    back = align.apply_affine(align.invert_affine(forward), moved.face.points)  # [5, 2] in the photo
    return {
        "faces": len(faces),
        "detect_s": seconds,
        "realign_corner_px": (original.quad - frame).norm(dim=1).mean().item(),
        "realign_mae": mae255(original.crop[:, FACE, FACE], photo[:, FACE, FACE]),
        "moved_landmark_px": (back - original.face.points).norm(dim=1).mean().item(),
        "moved_mae": mae255(moved.crop[:, FACE, FACE], original.crop[:, FACE, FACE]),
    }


def table(rows: dict[str, dict]) -> str:
    cols = [("faces", "faces", "{:d}"), ("detect_s", "detect s", "{:.2f}"),
            ("realign_corner_px", "re-align: corner offset px", "{:.1f}"),
            ("realign_mae", "re-align: face MAE /255", "{:.1f}"),
            ("moved_landmark_px", "moved: landmark error px", "{:.1f}"),
            ("moved_mae", "moved: face MAE /255", "{:.1f}")]
    lines = ["| photo | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f.format(r[k]) for k, _, f in cols) + " |")
    for label, fn in (("mean", np.mean), ("median", np.median)):
        lines.append(f"| **{label}** | | " + " | ".join(f.format(float(fn([r[k] for r in rows.values()])))
                                                       for k, _, f in cols[1:]) + " |")
    return "\n".join(lines)


def figure(path: Path, out: Path) -> None:
    """Moved photo with the detected points and square | aligned crop | paste-back of a stand-in edit."""
    t, scale, size = math.radians(15), 0.7, (1000, 940)  # the face turned, a little background around it
    centre = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]) @ np.array([R / 2, R / 2])
    shift = (size[0] / 2 - centre[0], size[1] / 2 - centre[1])
    canvas, _ = similarity_canvas(load_image(path), 15, scale, shift, size, (200, 205, 210))
    photo = pil_to_tensor(canvas)
    al = align.align_face(photo, R)
    # a stand-in for an edited crop, visible at a glance: the crop in warm sepia
    grey = al.crop.mean(0, keepdim=True)
    edited = (grey + torch.tensor([0.15, 0.0, -0.2])[:, None, None]).clamp(-1, 1)
    pasted = tensor_to_pil(align.paste_back(photo, edited, al.crop_to_photo))
    marked = canvas.copy()
    draw = ImageDraw.Draw(marked)
    draw.polygon([tuple(p) for p in al.quad.tolist()], outline=(255, 255, 0), width=4)
    for x, y in al.face.points.tolist():
        draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=(255, 40, 40))
    h = 400
    panels = [marked.resize((round(h * canvas.width / canvas.height), h), Image.Resampling.LANCZOS),
              tensor_to_pil(al.crop).resize((h, h), Image.Resampling.LANCZOS),
              pasted.resize((round(h * canvas.width / canvas.height), h), Image.Resampling.LANCZOS)]
    sheet = Image.new("RGB", (sum(p.width for p in panels) + 16 * (len(panels) - 1), h), (255, 255, 255))
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + 16
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readme", action="store_true", help="put the table into the README")
    p.add_argument("--figure", type=Path, default=None, help="also write the alignment picture here")
    args = p.parse_args()
    photos = sorted(FACES.iterdir())
    t0 = time.perf_counter()
    align.detect_faces(torch.zeros(3, 64, 64))  # loads MTCNN: not part of any photo's time
    load_s = time.perf_counter() - t0
    rows = {path.name: measure(path) for path in photos}
    command = "python -m bench.align"
    result = {"resolution": R, "move": MOVE, "mtcnn_load_s": load_s, "photos": rows}
    publish("align", result, table(rows) + f"\n\nMTCNN loads once per process in {load_s:.1f} s.", command, RESULTS,
            args.readme)
    if args.figure:
        figure(photos[0], args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()

"""Image I/O at the edge: any user image -> RGB tensor in [-1, 1] at a zoo's resolution, and back.

Every failure is a ValueError with a message a person can act on: not an image, a truncated
or empty file, a file or pixel count over the limits (decompression bombs included), an
extreme aspect ratio or a tiny image. Handled on the way in: EXIF orientation, grayscale,
palette, RGBA/LA (composited onto white, as the emoji data is), CMYK, 16-bit and float modes.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

MAX_BYTES = 20 * 1024 * 1024  # 20 MiB
MAX_PIXELS = 40_000_000  # 40 MP: a phone photo passes, a 50 MP scan or a bomb does not
MAX_ASPECT = 4.0
MIN_SIDE = 16

ImageSource = Union[str, Path, bytes, BinaryIO, Image.Image, np.ndarray]


def load_image(source: ImageSource, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, validate and normalise an image to 8-bit RGB (EXIF orientation applied)."""
    if isinstance(source, (np.ndarray, Image.Image)):
        img = _from_array(source) if isinstance(source, np.ndarray) else source
        _check_geometry(img.size, max_pixels)
    else:
        img = _open(_read_bytes(source, max_bytes), max_pixels)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a malformed EXIF block is not worth refusing the image for
        pass
    return _to_rgb(img)


def check_image(source: str | Path | bytes | BinaryIO, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> None:
    """The checks that decode no pixel (file size, format, declared geometry): cheap enough to run
    before a request queues. ValueError as in load_image; damaged pixel data shows up only there."""
    _open(_read_bytes(source, max_bytes), max_pixels, decode=False)


def image_to_tensor(img: Image.Image, resolution: int) -> Tensor:
    """Centre-crop to a square and resize (Lanczos).  RGB PIL -> [1, 3, R, R] in [-1, 1]"""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0  # [R, R, 3]
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()


def prepare_image(source: ImageSource, resolution: int) -> Tensor:
    """The pipelines' single entry for user images.  -> [1, 3, R, R] in [-1, 1]"""
    return image_to_tensor(load_image(source), resolution)


def tensor_to_pil(img: Tensor) -> Image.Image:
    """[3, H, W] or [1, 3, H, W] in about [-1, 1] -> 8-bit RGB PIL (clamped)."""
    if img.ndim == 4:
        if img.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {img.shape[0]}")
        img = img[0]
    arr = ((img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(arr.permute(1, 2, 0).numpy(), "RGB")


def _read_bytes(source: str | Path | bytes | BinaryIO, max_bytes: int) -> bytes:
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"no such image file: {path.name}")
        if path.stat().st_size > max_bytes:
            raise ValueError(f"the file is {path.stat().st_size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
        data = path.read_bytes()
    else:
        data = source.read(max_bytes + 1)
    if not data:
        raise ValueError("the file is empty")
    if len(data) > max_bytes:
        raise ValueError(f"the file is larger than the {max_bytes / 2**20:.0f} MiB limit")
    return data


def _open(data: bytes, max_pixels: int, decode: bool = True) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_geometry(img.size, max_pixels)  # before decoding a single pixel
            if decode:
                img.load()
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"the image declares too many pixels (limit {max_pixels / 1e6:.0f} MP)") from None
    except UnidentifiedImageError:
        raise ValueError("not an image (or a format this app cannot read)") from None
    except (OSError, SyntaxError, EOFError) as err:
        raise ValueError(f"the image file is damaged or truncated ({err})") from None
    return img


def _check_geometry(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w * h > max_pixels:
        raise ValueError(f"the image has {w * h / 1e6:.1f} MP ({w}×{h}); the limit is {max_pixels / 1e6:.0f} MP")
    if min(w, h) < MIN_SIDE:
        raise ValueError(f"the image is too small ({w}×{h}); each side needs at least {MIN_SIDE} px")
    if max(w, h) / min(w, h) > MAX_ASPECT:
        raise ValueError(f"the aspect ratio {w}×{h} is too extreme (at most {MAX_ASPECT:.0f}:1); crop it first")


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 255.0 if img.mode == "F" or arr.max() <= 255 else 65535.0
        img = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).round().astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _from_array(arr: np.ndarray) -> Image.Image:
    """An image array as Gradio hands it over: [H, W], [H, W, 3] or [H, W, 4], uint8 or float."""
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(f"not an image array: shape {arr.shape}")
    if arr.dtype != np.uint8:
        scale = 255.0 if arr.dtype.kind == "f" and arr.max() <= 1.0 else 1.0
        arr = np.clip(arr.astype(np.float64) * scale, 0, 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(arr)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


class ImageFolder:
    """Training images read from a folder (recursively) when indexed, so that a large set (FFHQ's
    70 k photos) never sits in memory: `folder[idx]` with an index tensor or a slice -> [B, 3, R, R]
    in [-1, 1], each image centre-cropped and resized as `prepare_image` does. Indexes like a tensor."""

    def __init__(self, folder: Path, resolution: int) -> None:
        self.paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: Tensor | slice) -> Tensor:
        paths = self.paths[index] if isinstance(index, slice) else [self.paths[i] for i in index.tolist()]
        return torch.cat([prepare_image(p, self.resolution) for p in paths])

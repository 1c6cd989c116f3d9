"""User images in: real photos, every colour mode, EXIF rotation, and bad files with clear errors."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.images import load_image, prepare_image, tensor_to_pil


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("resolution", [64, 1024])
def test_real_faces_become_rgb_tensors(shared, resolution):
    faces = sorted((shared / "fixtures" / "faces").iterdir())
    assert len(faces) == 11
    for path in faces[:3]:
        x = prepare_image(path, resolution)
        assert x.shape == (1, 3, resolution, resolution) and x.dtype == torch.float32
        assert -1 <= x.min() < -0.5 and 0.5 < x.max() <= 1  # a photo spans most of the range
    same = prepare_image(faces[0].read_bytes(), 1024)  # bytes and path agree; 1024 input is not resampled
    torch.testing.assert_close(same, prepare_image(faces[0], 1024))
    with Image.open(faces[0]) as im:
        ref = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
    torch.testing.assert_close(same[0], ref)


def test_exif_orientation_is_applied(shared):
    with Image.open(shared / "fixtures" / "faces" / "1000.jpg") as im:
        face = im.convert("RGB").resize((96, 64))  # landscape, so the rotation is visible in the size
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    rotated = load_image(_jpeg(face, exif=exif))
    assert rotated.size == (64, 96)
    got = np.asarray(rotated, dtype=np.float32)
    err = {t: np.abs(got - np.asarray(face.transpose(t), dtype=np.float32)).mean()
           for t in (Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_90)}
    assert err[Image.Transpose.ROTATE_270] < 6 < 3 * 6 < err[Image.Transpose.ROTATE_90]  # JPEG noise vs wrong way


def test_colour_modes():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB")
    gray = load_image(_png(rgb.convert("L")))
    assert gray.mode == "RGB" and np.array_equal(np.asarray(gray)[..., 0], np.asarray(rgb.convert("L")))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(0)
    assert np.asarray(load_image(_png(rgba))).min() == 255  # fully transparent -> white
    cmyk = load_image(_jpeg(rgb.convert("CMYK")))
    assert cmyk.mode == "RGB" and np.abs(np.asarray(cmyk, dtype=float) - np.asarray(rgb, dtype=float)).mean() < 20
    ramp = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64)  # 16-bit values up to 65472
    sixteen = load_image(_png(Image.fromarray(ramp)))
    assert np.abs(np.asarray(sixteen)[..., 0].astype(float) - ramp / 257.0).max() <= 1.0
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    assert load_image(_png(pal)).mode == "RGB"
    arr = load_image(np.asarray(rgb, dtype=np.float32) / 255.0)
    assert np.abs(np.asarray(arr, dtype=int) - np.asarray(rgb, dtype=int)).max() <= 1


def test_round_trip_to_pil():
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    back = prepare_image(tensor_to_pil(x), 16)
    assert (back - x).abs().max() <= 1 / 127.5 + 1e-6


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: b"this is not an image at all", "not an image"),
        (lambda: b"", "empty"),
        (lambda: _jpeg(Image.new("RGB", (256, 256), "red"))[:300], "truncated"),
        (lambda: _png(Image.new("L", (20000, 20000))), "MP"),  # a decompression bomb: 400 MP in a small file
        (lambda: _png(Image.new("L", (8165, 6124))), "MP"),  # a 50 MP image
        (lambda: _png(Image.new("RGB", (1, 2000))), "too small"),
        (lambda: _png(Image.new("RGB", (100, 1000))), "aspect"),
        (lambda: b"\0" * (21 * 1024 * 1024), "limit"),
    ],
    ids=["not-image", "empty", "truncated", "bomb", "50MP", "strip", "aspect", "huge-file"],
)
def test_bad_input_gives_a_clear_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(make(), 64)

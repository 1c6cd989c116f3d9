"""FFHQ alignment and paste-back: the crop's geometry on made-up points, then MTCNN on the real
FFHQ-aligned photos in ../shared/fixtures/faces/ (slow: about a second of CPU per photo)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.align import FACE, MOVE, R, mae255, pil_to_tensor, similarity_canvas
from pipelines import align
from pipelines.images import image_to_tensor, load_image


def _photos(shared: Path) -> list[Path]:
    photos = sorted((shared / "fixtures" / "faces").iterdir())
    assert len(photos) >= 10
    return photos


def _upright_points(eye_c=(500.0, 400.0), eyes=200.0, mouth=220.0) -> torch.Tensor:
    """Five points [5, 2] of an upright face."""
    ex, ey = eye_c
    return torch.tensor([[ex - eyes / 2, ey], [ex + eyes / 2, ey], [ex, ey + mouth / 2],
                         [ex - 60, ey + mouth], [ex + 60, ey + mouth]], dtype=torch.float64)


# ---- geometry --------------------------------------------------------------------------------
def test_quad_of_an_upright_face_is_the_ffhq_square():
    quad = align.ffhq_quad(_upright_points())
    half = max(2.0 * 200, 1.8 * 220)  # eye-to-eye dominates
    centre = torch.tensor([500.0, 400 + 0.1 * 220], dtype=torch.float64)
    expected = centre + half * torch.tensor([[-1.0, -1], [-1, 1], [1, 1], [1, -1]], dtype=torch.float64)
    assert torch.allclose(quad, expected)
    narrow = align.ffhq_quad(_upright_points(eyes=100.0))  # eye-to-mouth dominates
    assert math.isclose((narrow[3] - narrow[0]).norm().item(), 2 * 1.8 * 220)


def test_quad_follows_a_similarity_transform_of_the_face():
    angle, scale, shift = math.radians(15), 0.5, torch.tensor([300.0, -40.0], dtype=torch.float64)
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64)
    pts = _upright_points()
    moved = align.ffhq_quad(pts @ (scale * rot).T + shift)
    assert torch.allclose(moved, align.ffhq_quad(pts) @ (scale * rot).T + shift, atol=1e-9)


def test_affine_round_trip():
    quad = align.ffhq_quad(_upright_points())
    a = align.quad_to_affine(quad, R)
    corners = torch.tensor([[0.0, 0], [0, R], [R, R], [R, 0]], dtype=torch.float64)
    assert torch.allclose(align.apply_affine(a, corners), quad)
    assert torch.allclose(align.apply_affine(align.invert_affine(a), quad), corners, atol=1e-9)


def test_crop_of_the_whole_frame_is_the_image_and_padding_fades_only_the_rim():
    img = torch.rand(3, 256, 256) * 2 - 1
    frame = torch.tensor([[0.0, 0], [0, 256], [256, 256], [256, 0]], dtype=torch.float64)
    crop = align.crop_ffhq(img, frame, 256)  # the square touches every edge: the padding rule applies
    inner = slice(40, 216)  # a third of the 77 px pad = 26 px of blurred rim
    assert torch.allclose(crop[:, inner, inner], img[:, inner, inner], atol=1e-3)
    assert (crop[:, :8] - img[:, :8]).abs().mean() > 0.1  # the rim is blurred
    half = align.crop_ffhq(img, frame, 128)  # downscaled output: a box-filtered image
    assert torch.allclose(half[:, 30:98, 30:98], torch.nn.functional.avg_pool2d(img[None], 2)[0][:, 30:98, 30:98], atol=1e-3)


def test_crop_outside_the_photo_is_mirrored_blurred_and_faded_to_the_median():
    img = torch.full((3, 100, 100), 0.5)
    img[:, :, 75:] = -1.0  # a dark quarter on the right: the median stays 0.5
    quad = torch.tensor([[-200.0, -200], [-200, 300], [300, 300], [300, -200]], dtype=torch.float64)
    crop = align.crop_ffhq(img, quad, 100)  # the photo is the centre fifth of the square
    assert crop.shape == (3, 100, 100) and crop.isfinite().all()
    mirrored = crop[:, 45:55, 60:64].mean().item()  # just right of the photo: its dark quarter, mirrored
    far = crop[:, 45:55, 95:].mean().item()  # out there it fades to the median
    assert mirrored < -0.3 and abs(far - 0.5) < abs(mirrored - 0.5) - 0.5


def test_paste_back_of_a_synthetic_crop_lands_where_the_quad_says():
    photo = torch.zeros(3, 300, 400)
    quad = align.ffhq_quad(_upright_points(eye_c=(200.0, 130.0), eyes=60.0, mouth=70.0))
    a = align.quad_to_affine(quad, 64)
    out = align.paste_back(photo, torch.ones(3, 64, 64), a)
    centre = quad.mean(0)
    cx, cy = int(centre[0]), int(centre[1])
    assert torch.allclose(out[:, cy, cx], torch.ones(3), atol=1e-3)  # the crop's middle is pasted fully
    assert out[:, :, :20].abs().max() == 0 and out[:, :5].abs().max() == 0  # outside the quad: untouched
    assert 0 < out[0, cy, int(quad[0, 0]) + 2] < 0.5  # feathered at the quad's edge


def test_no_face_is_a_value_error():
    gradient = torch.linspace(-1, 1, 512)[None, None].expand(3, 384, 512).contiguous()
    with pytest.raises(ValueError, match="no face"):
        align.align_face(gradient, R)


# ---- real photos (MTCNN) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def aligned_photos(shared) -> dict[str, tuple[torch.Tensor, align.Alignment]]:
    """Each fixture photo [3, R, R] with its alignment (it is an FFHQ crop already)."""
    out = {}
    for path in _photos(shared):
        img = load_image(path)
        assert img.size == (R, R)
        photo = image_to_tensor(img, R)[0]
        out[path.name] = (photo, align.align_face(photo, R))
    return out


@pytest.mark.slow
def test_one_face_per_photo_and_realigning_an_aligned_photo_changes_little(aligned_photos):
    maes, corners = [], []
    for name, (photo, al) in aligned_photos.items():
        assert al.faces_found == 1 and al.note == "", name
        frame = torch.tensor([[0.0, 0], [0, R], [R, R], [R, 0]], dtype=torch.float64)
        corners.append((al.quad - frame).norm(dim=1).mean().item())
        maes.append(mae255(al.crop[:, FACE, FACE], photo[:, FACE, FACE]))
    print(f"\nre-aligning FFHQ crops: corner offset mean {np.mean(corners):.1f} px (max {max(corners):.1f}) of {R}; "
          f"face-region MAE mean {np.mean(maes):.1f} (max {max(maes):.1f}) / 255")
    assert np.mean(corners) < 0.05 * R and max(corners) < 0.1 * R
    assert np.mean(maes) < 20 and max(maes) < 35


@pytest.mark.slow
def test_alignment_undoes_a_similarity_transform(aligned_photos, shared):
    maes, floors, landmark_err = [], [], []
    for path in _photos(shared):
        photo, original = aligned_photos[path.name]
        canvas, forward = similarity_canvas(load_image(path), **MOVE)
        moved = align.align_face(pil_to_tensor(canvas), R)
        back = align.apply_affine(align.invert_affine(forward), moved.face.points)  # [5, 2] in the photo
        landmark_err.append((back - original.face.points).norm(dim=1).mean().item())
        maes.append(mae255(moved.crop[:, FACE, FACE], original.crop[:, FACE, FACE]))
        # the same crop through the exact moved square: what resampling alone loses
        exact = align.crop_ffhq(pil_to_tensor(canvas), align.apply_affine(forward, original.quad), R)
        floors.append(mae255(exact[:, FACE, FACE], original.crop[:, FACE, FACE]))
    print(f"\nrotate 15°, scale 0.5, shift, other canvas: landmark error mean {np.mean(landmark_err):.1f} px, "
          f"median {np.median(landmark_err):.1f}, max {max(landmark_err):.1f} at {R} px; face-region MAE vs the "
          f"original's crop mean {np.mean(maes):.1f}, median {np.median(maes):.1f}, max {max(maes):.1f} / 255 "
          f"(through the exact square: {np.mean(floors):.1f})")
    # the worst photo is a hand over the mouth: its mouth corners move by tens of pixels
    assert np.median(landmark_err) < 8 and np.mean(landmark_err) < 10 and max(landmark_err) < 35
    assert np.median(maes) < 12 and np.mean(maes) < 15 and max(maes) < 45
    assert np.mean(floors) < 3


@pytest.mark.slow
def test_paste_back_of_the_aligned_crop_reproduces_the_photo(aligned_photos, shared):
    path = _photos(shared)[0]
    canvas, _ = similarity_canvas(load_image(path), **MOVE)
    photo = pil_to_tensor(canvas)
    al = align.align_face(photo, R)
    pasted = align.paste_back(photo, al.crop, al.crop_to_photo)
    # the face region of the crop, in the photo
    corners = align.apply_affine(al.crop_to_photo, torch.tensor([[0.15, 0.15], [0.85, 0.85]], dtype=torch.float64) * R)
    centre, radius = corners.mean(0), 0.25 * al.crop_to_photo[:, 0].norm().item() * R
    ys, xs = torch.meshgrid(torch.arange(photo.shape[1]) + 0.5, torch.arange(photo.shape[2]) + 0.5, indexing="ij")
    face = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 < radius ** 2  # [H, W]
    mae_face = mae255(pasted[:, face], photo[:, face])
    mae_far = mae255(pasted[:, :, :100], photo[:, :, :100])
    print(f"\npaste-back of the aligned crop: face-region MAE {mae_face:.2f} / 255")
    assert mae_face < 3 and mae_far == 0


@pytest.mark.slow
def test_small_face_is_refused_and_of_several_faces_the_largest_is_aligned(shared):
    a, b = (load_image(p) for p in _photos(shared)[:2])
    tiny = Image.new("RGB", (640, 480), (200, 200, 200))
    tiny.paste(a.resize((160, 160), Image.Resampling.LANCZOS), (240, 160))
    with pytest.raises(ValueError, match="too small"):
        align.align_face(pil_to_tensor(tiny), R)
    group = Image.new("RGB", (1200, 700), (90, 90, 140))
    group.paste(b.resize((400, 400), Image.Resampling.LANCZOS), (20, 150))
    group.paste(a.resize((650, 650), Image.Resampling.LANCZOS), (520, 20))
    al = align.align_face(pil_to_tensor(group), R)
    assert al.faces_found == 2 and "largest" in al.note
    assert al.quad.mean(0)[0] > 520  # the big face on the right


# ---- the use case: prepare_input ------------------------------------------------------------
def test_prepare_input_without_alignment_is_prepare_image_and_cannot_paste_back(tmp_path):
    from pipelines.images import prepare_image

    Image.new("RGB", (90, 60), (200, 80, 40)).save(tmp_path / "in.png")
    prepared = align.prepare_input(tmp_path / "in.png", 32)
    assert torch.equal(prepared.target, prepare_image(tmp_path / "in.png", 32)) and prepared.note == ""
    with pytest.raises(ValueError, match="only an aligned upload"):
        prepared.paste_back(prepared.target)
    with pytest.raises(ValueError, match="unknown alignment 'celeba'"):
        align.prepare_input(tmp_path / "in.png", 32, "celeba")
    with pytest.raises(align.NoUsableFace, match="no face"):  # a ValueError the app words for the visitor
        align.prepare_input(tmp_path / "in.png", 32, "ffhq")


def test_prepared_image_pastes_an_image_of_its_crop_back_into_its_photo():
    photo = torch.zeros(3, 300, 400)
    quad = align.ffhq_quad(_upright_points(eye_c=(200.0, 130.0), eyes=60.0, mouth=70.0))
    face = align.Face((0.0, 0.0, 1.0, 1.0), 1.0, _upright_points(eye_c=(200.0, 130.0), eyes=60.0, mouth=70.0))
    alignment = align.Alignment(torch.zeros(3, 64, 64), align.quad_to_affine(quad, 64), quad, face, 1, "")
    prepared = align.PreparedImage(alignment.crop[None], alignment, photo)
    out = prepared.paste_back(torch.ones(1, 3, 64, 64))
    assert out.shape == photo.shape and torch.equal(out, align.paste_back(photo, torch.ones(3, 64, 64), alignment.crop_to_photo))
    with pytest.raises(ValueError, match="aligned crop"):
        prepared.paste_back(torch.ones(1, 3, 32, 32))

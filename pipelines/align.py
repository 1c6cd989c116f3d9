"""FFHQ face alignment and paste-back (DESIGN §3 "Input alignment").

FFHQ's images were cut from photos by one rule, and every FFHQ encoder expects an upload cut
the same way. From the two eye centres and the two mouth corners:

  eye_to_eye   = right eye - left eye               (image left/right)
  eye_to_mouth = mouth centre - eye centre
  x = eye_to_eye minus eye_to_mouth turned a quarter back: the crop's horizontal axis, the mean
      of the eye line and the face's vertical line turned level
  |x| = max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|)   (half the crop's side)
  y = x turned a quarter forward                     (points down the face)
  centre = eye centre + 0.1 eye_to_mouth
  crop = the square centre ± x ± y, resampled to the zoo's resolution

Where the square leaves the photo, the dataset extends the photo by mirroring it (by at least
0.3 of the square's side once it sticks out by more than a few pixels), blurs the added band with
a Gaussian of 0.02 of the side, fading the blur in over a third of the pad inside the photo, and
fades the added band towards the photo's median colour at its outer edge. A photo with a face
more than twice the output size is first shrunk by an integer factor; the square is rendered
supersampled and box-filtered down.

Landmarks come from MTCNN (Zhang et al. 2016), whose networks and weights ship inside the
facenet-pytorch wheel (MIT); README "Face alignment" says why it was chosen over dlib.

`prepare_input(source, resolution, alignment)` is the use case the app and the pipelines share: an
upload as the zoo's networks take it (aligned by the zoo's rule in `ALIGNERS`, or centre-cropped as
it is), with what paste-back needs (`PreparedImage.paste_back`).

Coordinates: (x, y) in pixels, continuous, the photo's top-left corner at (0, 0), so pixel
(i, j) covers [i, i+1) × [j, j+1). An alignment is the affine map crop → photo.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .images import ImageSource, image_to_tensor, load_image

TOO_SMALL = 0.25  # a crop side under this fraction of the zoo's resolution is refused
DETECT_MAX_SIDE = 1024  # the detector sees the photo shrunk to at most this side
MIN_SCORE = 0.9


class NoUsableFace(ValueError):
    """Alignment found no face, or only one too small for the zoo's resolution."""


@dataclass(frozen=True)
class Face:
    """One detected face: box (x0, y0, x1, y1), MTCNN score and five points [5, 2] (left eye,
    right eye, nose, left and right mouth corner, image left/right), photo coordinates."""

    box: tuple[float, float, float, float]
    score: float
    points: Tensor  # [5, 2]


@dataclass(frozen=True)
class Alignment:
    crop: Tensor  # [3, R, R] in [-1, 1]
    crop_to_photo: Tensor  # [2, 3] float64: photo (x, y) = A @ (u, v, 1), crop coordinates (u, v)
    quad: Tensor  # [4, 2] photo coordinates of the crop's corners: top-left, bottom-left, bottom-right, top-right
    face: Face
    faces_found: int
    note: str  # empty, or what a user should know (several faces: the largest was used)


# ---- geometry -------------------------------------------------------------------------------
def ffhq_quad(points: Tensor) -> Tensor:
    """The FFHQ crop square from five points [5, 2] (or four: eyes, then mouth corners, at
    indices 0, 1, -2, -1).  -> [4, 2] corners: top-left, bottom-left, bottom-right, top-right"""
    p = points.double()
    eye_l, eye_r, mouth_l, mouth_r = p[0], p[1], p[-2], p[-1]
    eye_c = (eye_l + eye_r) / 2
    eye_to_eye = eye_r - eye_l
    eye_to_mouth = (mouth_l + mouth_r) / 2 - eye_c
    x = eye_to_eye - _quarter_turn(eye_to_mouth)
    x = x / x.norm() * max(2.0 * eye_to_eye.norm().item(), 1.8 * eye_to_mouth.norm().item())
    y = _quarter_turn(x)
    c = eye_c + 0.1 * eye_to_mouth
    return torch.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def _quarter_turn(v: Tensor) -> Tensor:
    """v turned 90° towards +y in image coordinates (x right, y down): (1, 0) -> (0, 1)."""
    return torch.stack([-v[1], v[0]])


def quad_to_affine(quad: Tensor, size: int) -> Tensor:
    """The affine map from a size×size crop onto a square quad [4, 2].  -> [2, 3] float64"""
    q = quad.double()
    ex = (q[3] - q[0]) / size  # photo step per crop pixel along u
    ey = (q[1] - q[0]) / size  # along v
    return torch.stack([ex, ey, q[0]], dim=1)


def invert_affine(a: Tensor) -> Tensor:
    """[2, 3] -> [2, 3] inverse."""
    m = torch.linalg.inv(a[:, :2])
    return torch.cat([m, -(m @ a[:, 2:])], dim=1)


def _compose(a: Tensor, b: Tensor) -> Tensor:
    """[2, 3] maps: a after b."""
    return torch.cat([a[:, :2] @ b[:, :2], a[:, :2] @ b[:, 2:] + a[:, 2:]], dim=1)


def apply_affine(a: Tensor, pts: Tensor) -> Tensor:
    """[2, 3] applied to points [N, 2] -> [N, 2]."""
    return pts.double() @ a[:, :2].T + a[:, 2]


def _sample(img: Tensor, out_to_img: Tensor, out_hw: tuple[int, int]) -> Tensor:
    """Bilinear sampling of img [3, H, W] through an affine map from output pixel coordinates to
    image pixel coordinates (both continuous).  -> [3, h, w]"""
    h, w = out_hw
    hi, wi = img.shape[-2:]
    # grid_sample's normalised coordinates (align_corners=False): x_n = 2 x / W - 1
    to_norm = torch.tensor([[2.0 / wi, 0, -1], [0, 2.0 / hi, -1]], dtype=torch.float64)
    from_norm = torch.tensor([[w / 2.0, 0, w / 2.0], [0, h / 2.0, h / 2.0], [0, 0, 1]], dtype=torch.float64)
    theta = to_norm @ torch.cat([out_to_img, torch.tensor([[0.0, 0, 1]], dtype=torch.float64)]) @ from_norm
    grid = F.affine_grid(theta[None].float(), [1, 3, h, w], align_corners=False)  # [1, h, w, 2]
    return F.grid_sample(img[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


# ---- the FFHQ crop --------------------------------------------------------------------------
def crop_ffhq(photo: Tensor, quad: Tensor, size: int) -> Tensor:
    """The FFHQ crop of photo [3, H, W] in [-1, 1] along quad [4, 2], with the dataset's shrink,
    padding and blur.  -> [3, size, size]"""
    quad = quad.double().clone()
    side = (quad[3] - quad[0]).norm().item()
    img = photo.detach().float().cpu()  # the padding goes through numpy

    # 1. shrink by an integer factor when the square is over twice the output size
    shrink = int(math.floor(side / size * 0.5))
    if shrink > 1:
        h, w = img.shape[-2:]
        img = F.avg_pool2d(img[None, :, : h - h % shrink, : w - w % shrink], shrink)[0]
        quad, side = quad / shrink, side / shrink

    # 2. the region the square needs, with a border; cut it out of the photo where it lies inside
    h, w = img.shape[-2:]
    border = max(round(side * 0.1), 3)
    lo = torch.floor(quad.min(0).values).long() - border  # [2] x, y
    hi = torch.ceil(quad.max(0).values).long() + border
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), w), min(int(hi[1]), h)
    img = img[:, y0:y1, x0:x1]
    quad -= torch.tensor([x0, y0], dtype=torch.float64)

    # 3. mirror-pad, blur and fade where the region sticks out of the photo
    pad = [max(x0 - int(lo[0]), 0), max(y0 - int(lo[1]), 0), max(int(hi[0]) - x1, 0), max(int(hi[1]) - y1, 0)]
    if max(pad) > border - 4:
        pad = [max(p, round(side * 0.3)) for p in pad]
        img = _pad_and_fade(img, pad, blur=side * 0.02)
        quad += torch.tensor(pad[:2], dtype=torch.float64)

    # 4. render supersampled, then box-filter down to the output size
    ss = min(max(math.ceil(side / size), 1), 4)
    out = _sample(img, quad_to_affine(quad, size * ss), (size * ss, size * ss))
    return F.avg_pool2d(out[None], ss)[0] if ss > 1 else out


def _pad_and_fade(img: Tensor, pad: list[int], blur: float) -> Tensor:
    """Mirror-pad img [3, h, w] by pad (left, top, right, bottom); blend towards a Gaussian blur
    (weight 1 on the pad and the rim of the photo, 0 from a third of the pad inwards) and towards
    the median colour (weight 0 at the photo's edge, 1 at the pad's outer edge)."""
    left, top, right, bottom = pad
    # numpy's reflection repeats for pads wider than the image; torch's refuses them
    img = torch.from_numpy(np.pad(img.numpy(), ((0, 0), (top, bottom), (left, right)), mode="reflect"))  # [3, H, W]
    H, W = img.shape[-2:]
    xs = torch.arange(W, dtype=torch.float32)
    ys = torch.arange(H, dtype=torch.float32)
    eps = 1e-8  # a zero pad leaves that side's ratio huge: no fade from it
    fx = torch.minimum(xs / max(pad[0], eps), (W - 1 - xs) / max(pad[2], eps))  # [W]
    fy = torch.minimum(ys / max(pad[1], eps), (H - 1 - ys) / max(pad[3], eps))  # [H]
    mask = torch.maximum(1 - fx[None, :], 1 - fy[:, None])  # [H, W]: 0 at the photo's edge, 1 at the pad's
    img = img + (_gaussian_blur(img, blur) - img) * (mask * 3 + 1).clamp(0, 1)
    median = img.flatten(1).median(dim=1).values[:, None, None]  # [3, 1, 1]
    return img + (median - img) * mask.clamp(0, 1)


def _gaussian_blur(img: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of [3, H, W]. A wide one is computed at 1/k scale (k ≈ sigma / 4)
    and upsampled: it only fills the padded band, where the difference is invisible."""
    k = max(int(sigma // 4), 1)
    h, w = img.shape[-2:]
    small = F.interpolate(img[None], size=(max(h // k, 1), max(w // k, 1)), mode="area") if k > 1 else img[None]
    s = sigma / k
    r = max(int(math.ceil(3 * s)), 1)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / s) ** 2)
    g = (g / g.sum()).to(img.dtype)
    c = small.shape[1]
    small = F.pad(small, [r, r, r, r], mode="replicate")
    small = F.conv2d(small, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    small = F.conv2d(small, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0] if k > 1 else small[0]


# ---- detection ------------------------------------------------------------------------------
@cache
def _mtcnn() -> torch.nn.Module:
    from facenet_pytorch import MTCNN  # networks and weights from the wheel; nothing is downloaded

    return MTCNN(keep_all=True, device="cpu").eval()


def detect_faces(photo: Tensor, min_score: float = MIN_SCORE) -> list[Face]:
    """Faces in photo [3, H, W] in [-1, 1], largest box first (MTCNN on a copy at most
    DETECT_MAX_SIDE px on its longest side; five points refined by _refine_points)."""
    h, w = photo.shape[-2:]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = photo[None].float()
    if scale < 1:
        small = F.interpolate(small, size=(round(h * scale), round(w * scale)), mode="area")
    small = ((small[0].clamp(-1, 1) + 1) * 127.5).round()  # [3, h, w] in 0..255
    with torch.inference_mode():
        boxes, scores = _mtcnn().detect(small.byte().permute(1, 2, 0).numpy())
    if boxes is None:
        return []
    faces = [Face(tuple(float(v) / scale for v in b), float(s), _refine_points(small, b) / scale)
             for b, s in zip(boxes, scores) if s >= min_score]
    return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def _refine_points(img: Tensor, box: np.ndarray, shift: float = 0.03) -> Tensor:
    """Five points [5, 2] for one face box, averaged over MTCNN's last network (O-Net) run on
    nine 48×48 views of the box shifted by 0 and ±shift of its side. One view's points wander by
    about a pixel of the 48 (see README); the mean of nine wanders less. img [3, h, w] in 0..255."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = round(max(x1 - x0, y1 - y0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = img.shape[-2:]
    views, origins = [], []
    for dy in (-shift, 0, shift):
        for dx in (-shift, 0, shift):
            ox, oy = round(cx + dx * side - side / 2), round(cy + dy * side - side / 2)
            view = F.pad(img[None], [max(-ox, 0), max(ox + side - w, 0), max(-oy, 0), max(oy + side - h, 0)])
            view = view[:, :, max(oy, 0):max(oy, 0) + side, max(ox, 0):max(ox, 0) + side]  # [1, 3, side, side]
            views.append(F.interpolate(view, size=(48, 48), mode="area"))
            origins.append((ox, oy))
    with torch.inference_mode():
        _, points, _ = _mtcnn().onet((torch.cat(views) - 127.5) / 128)  # points [9, 10]: x1..x5, y1..y5 in the view, 0..1
    origin = torch.tensor(origins, dtype=torch.float64)[:, None, :]  # [9, 1, 2]
    pts = torch.stack([points[:, :5], points[:, 5:]], dim=-1).double() * side + origin  # [9, 5, 2]
    return pts.mean(0)


def align_face(photo: Tensor, resolution: int, face: Face | None = None) -> Alignment:
    """The FFHQ crop of the largest face in photo [3, H, W] in [-1, 1] at resolution.

    NoUsableFace (a ValueError): no face; the face's crop side under a quarter of the resolution."""
    # 1. check input
    if photo.ndim != 3 or photo.shape[0] != 3:
        raise ValueError(f"expected an RGB image tensor [3, H, W], got {tuple(photo.shape)}")
    # 2. landmarks
    faces = [face] if face is not None else detect_faces(photo)
    if not faces:
        raise NoUsableFace("no face found in the image: upload a photo with a clearly visible, roughly frontal face")
    # 3. the crop square, and whether the face is big enough for it
    quad = ffhq_quad(faces[0].points)
    side = (quad[3] - quad[0]).norm().item()
    if side < TOO_SMALL * resolution:
        raise NoUsableFace(f"the face is too small: its crop is {side:.0f} px across, under a quarter of this "
                         f"model's {resolution} px; use a larger or closer photo of the face")
    # 4. crop
    crop = crop_ffhq(photo, quad, resolution).clamp(-1, 1)
    note = (f"{len(faces)} faces found; the largest was aligned" if len(faces) > 1 else "")
    return Alignment(crop, quad_to_affine(quad, resolution), quad, faces[0], len(faces), note)


# ---- paste-back -----------------------------------------------------------------------------
def feather_mask(size: int, feather: float = 0.1) -> Tensor:
    """1 inside the crop, falling smoothly to 0 over `feather` of its side at every edge.  -> [size, size]"""
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in (0, 1)
    ramp = (torch.minimum(t, 1 - t) / feather).clamp(0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    return ramp[:, None] * ramp[None, :]


def paste_back(photo: Tensor, crop: Tensor, crop_to_photo: Tensor, feather: float = 0.1) -> Tensor:
    """Warp crop [3, R, R] (an aligned face, inverted or edited) back into photo [3, H, W] along
    the alignment's map, blended through a feathered mask.  -> [3, H, W] in [-1, 1]"""
    size = crop.shape[-1]
    h, w = photo.shape[-2:]
    # 1. the part of the photo the crop covers
    corners = apply_affine(crop_to_photo, torch.tensor([[0.0, 0], [0, size], [size, size], [size, 0]]))
    x0, y0 = (max(int(math.floor(v)), 0) for v in corners.min(0).values)
    x1, y1 = min(int(math.ceil(corners[:, 0].max())), w), min(int(math.ceil(corners[:, 1].max())), h)
    if x1 <= x0 or y1 <= y0:
        return photo.clone()
    # 2. pre-shrink the crop when the face is smaller in the photo, so sampling does not alias
    step = crop_to_photo[:, 0].norm().item()  # photo pixels per crop pixel
    layers = torch.cat([crop.float(), feather_mask(size, feather)[None]])  # [4, R, R]
    k = int(1 / step) if step < 1 else 1
    if k > 1:
        layers = F.avg_pool2d(layers[None], k)[0]
    # 3. sample crop and mask at the photo's pixels (region pixel -> photo -> crop -> shrunk crop)
    region_to_layers = _compose(invert_affine(crop_to_photo), torch.tensor([[1.0, 0, x0], [0, 1, y0]], dtype=torch.float64)) / k
    warped = _sample(layers, region_to_layers, (y1 - y0, x1 - x0))  # [4, h', w']
    alpha = warped[3:].clamp(0, 1)  # [1, h', w']; the mask is 0 at the crop's edge, so outside it too
    out = photo.clone().float()
    out[:, y0:y1, x0:x1] = out[:, y0:y1, x0:x1] * (1 - alpha) + warped[:3] * alpha
    return out


# ---- the use case: an upload as a zoo takes it -----------------------------------------------
ALIGNERS: dict[str, Callable[[Tensor, int], Alignment]] = {"ffhq": align_face}
"""A zoo manifest's "aligned" value -> how an upload [3, H, W] is cut to the zoo's resolution."""


@dataclass(frozen=True)
class PreparedImage:
    """An upload as the zoo's networks take it; an aligned one keeps the photo and the map back into it."""

    target: Tensor  # [1, 3, R, R] in [-1, 1]: what the methods invert
    alignment: Alignment | None = None
    photo: Tensor | None = None  # [3, H, W] in [-1, 1]: the upload at its own size (aligned uploads only)

    @property
    def note(self) -> str:
        """What a person should know about the alignment ("" when there is nothing to say)."""
        return self.alignment.note if self.alignment is not None else ""

    def paste_back(self, image: Tensor, feather: float = 0.1) -> Tensor:
        """An image of the aligned crop (an inversion or an edit, [1, 3, R, R] or [3, R, R]) warped back
        into the photo with a feathered mask.  -> [3, H, W] in [-1, 1]"""
        if self.alignment is None or self.photo is None:
            raise ValueError("only an aligned upload can be pasted back into its photo")
        crop = image[0] if image.ndim == 4 else image
        size = self.target.shape[-1]
        if crop.shape != (3, size, size):
            raise ValueError(f"expected an image of the aligned crop [3, {size}, {size}], got {list(crop.shape)}")
        return paste_back(self.photo, crop.detach().float().cpu(), self.alignment.crop_to_photo, feather)


def prepare_input(source: ImageSource, resolution: int, alignment: str | None = None) -> PreparedImage:
    """A user image at a zoo's resolution: aligned by `ALIGNERS[alignment]`, or (None) centre-cropped
    and resized as pipelines.images.prepare_image does.  ValueError for a bad image or an unknown
    alignment; NoUsableFace (a ValueError) when alignment finds no face big enough."""
    # 1. check inputs, read the image
    if alignment is not None and alignment not in ALIGNERS:
        raise ValueError(f"unknown alignment '{alignment}' (known: {', '.join(sorted(ALIGNERS))})")
    img = load_image(source)
    if alignment is None:
        return PreparedImage(image_to_tensor(img, resolution))
    # 2. the photo at its own size, 3. the crop the zoo's rule cuts from it
    photo = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).contiguous()
    aligned = ALIGNERS[alignment](photo, resolution)
    return PreparedImage(aligned.crop[None], aligned, photo)

"""Photo-like variants of a rendered form: perspective warp, rotation, blur, sensor noise,
a lighting gradient, JPEG compression, or all of them mildly (``photo``). Geometric
variants map each printed field's box through the same homography as the pixels."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

VARIANTS = ("clean", "perspective", "rotation", "blur", "noise", "lighting", "jpeg", "photo")
#: what a warped page lies on (one drawn per image)
BACKGROUNDS = ((92, 78, 64), (58, 60, 66), (150, 140, 124), (34, 54, 72))


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 H with dst ~ H @ src for four point pairs (direct linear transform)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    h = np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float))
    return np.append(h, 1.0).reshape(3, 3)


def _apply_h(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.c_[points, np.ones(len(points))] @ h.T
    return pts[:, :2] / pts[:, 2:3]


def _warp(image, h: np.ndarray, fields: list[dict[str, Any]], background) -> Any:
    """Warp ``image`` by ``h`` (input -> output pixels) onto a canvas that holds all of it,
    and move every field's box the same way."""
    from PIL import Image

    w, h_px = image.size
    corners = np.array([[0, 0], [w, 0], [w, h_px], [0, h_px]], float)
    moved = _apply_h(h, corners)
    pad = 24
    shift = np.array([[1, 0, pad - moved[:, 0].min()], [0, 1, pad - moved[:, 1].min()],
                      [0, 0, 1]])
    full = shift @ h
    size = (math.ceil(moved[:, 0].max() - moved[:, 0].min()) + 2 * pad,
            math.ceil(moved[:, 1].max() - moved[:, 1].min()) + 2 * pad)
    inverse = np.linalg.inv(full)
    inverse = inverse / inverse[2, 2]
    out = image.transform(size, Image.Transform.PERSPECTIVE, tuple(inverse.ravel()[:8]),
                          resample=Image.Resampling.BICUBIC, fillcolor=background)
    for f in fields:
        x0, y0, x1, y1 = f["box"]
        quad = _apply_h(full, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float))
        f["quad"] = [[round(float(x), 1), round(float(y), 1)] for x, y in quad]
        f["box"] = [max(0, math.floor(quad[:, 0].min())),
                    max(0, math.floor(quad[:, 1].min())),
                    min(size[0], math.ceil(quad[:, 0].max())),
                    min(size[1], math.ceil(quad[:, 1].max()))]
    return out


def _rotation_h(angle_deg: float, w: int, h: int) -> np.ndarray:
    a = math.radians(angle_deg)
    cx, cy = w / 2, h / 2
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return np.linalg.inv(to_origin) @ rot @ to_origin


def _perspective_h(strength: float, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A camera-like keystone: each corner moves by up to ``strength`` of the page size."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    jitter = rng.uniform(-strength, strength, size=(4, 2)) * np.array([w, h])
    return _homography(src, src + jitter)


def _lighting(image, rng: np.random.Generator, low: float) -> Any:
    """Multiply by a linear gradient (light falling off across the page, down to ``low``)
    and a soft vignette, as from a desk lamp off to one side."""
    from PIL import Image

    arr = np.asarray(image, dtype=np.float32)
    h, w = arr.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    proj = xx / w * math.cos(theta) + yy / h * math.sin(theta)
    proj = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
    gain = low + (1.02 - low) * proj
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) / 0.5
    gain *= 1.0 - 0.18 * r2
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.97)], np.float32)
    arr = arr * gain[..., None] * tint
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _noise(image, rng: np.random.Generator, sigma: float) -> Any:
    from PIL import Image

    arr = np.asarray(image, dtype=np.float32)
    arr = arr + rng.normal(0.0, sigma, size=arr.shape[:2])[..., None]  # luminance noise
    arr = arr + rng.normal(0.0, sigma / 3, size=arr.shape)  # a little chroma noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg(image, quality: int) -> Any:
    """``image`` after a round trip through JPEG at ``quality``."""
    from PIL import Image

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def apply_variant(image, fields: list[dict[str, Any]], variant: str,
             rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    """Apply a photo-like variant; returns the image *before* JPEG encoding and the
    parameters drawn (``jpeg_quality`` set when the variant ends in JPEG compression)."""
    from PIL import ImageFilter

    params: dict[str, Any] = {}
    background = tuple(int(v) for v in BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))])
    w, h = image.size
    if variant in ("perspective", "rotation", "photo"):
        strength = float(rng.uniform(0.03, 0.06) if variant == "perspective"
                         else rng.uniform(0.01, 0.025))
        angle = float(rng.uniform(2.0, 7.0) * rng.choice((-1, 1)) if variant == "rotation"
                      else rng.uniform(-2.5, 2.5))
        mat = np.eye(3)
        if variant != "rotation":
            mat = _perspective_h(strength, w, h, rng)
            params["perspective_strength"] = round(strength, 4)
        if variant != "perspective":
            mat = _rotation_h(angle, w, h) @ mat
            params["rotation_deg"] = round(angle, 3)
        params["background"] = list(background)
        image = _warp(image, mat, fields, background)
    if variant in ("lighting", "photo"):
        low = float(rng.uniform(0.5, 0.7) if variant == "lighting" else rng.uniform(0.7, 0.85))
        image = _lighting(image, rng, low)
        params["lighting_low"] = round(low, 3)
    if variant in ("blur", "photo"):
        radius = float(rng.uniform(1.0, 1.6) if variant == "blur" else rng.uniform(0.5, 0.9))
        image = image.filter(ImageFilter.GaussianBlur(radius))
        params["blur_radius"] = round(radius, 3)
    if variant in ("noise", "photo"):
        sigma = float(rng.uniform(10, 18) if variant == "noise" else rng.uniform(4, 8))
        image = _noise(image, rng, sigma)
        params["noise_sigma"] = round(sigma, 2)
    if variant in ("jpeg", "photo"):
        params["jpeg_quality"] = int(rng.integers(12, 25) if variant == "jpeg"
                                     else rng.integers(55, 75))
    return image, params

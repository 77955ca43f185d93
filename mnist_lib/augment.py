"""Batch augmentation: one random affine transform and brightness/contrast jitter
per image, applied to a whole batch at once on the batch's device.

The geometry is torchvision's affine (``torchvision.transforms.v2.functional.affine``,
the transform ``RandomAffine`` draws), so the batch path and the per-sample
torchvision path augment alike. In pixel coordinates centred on the image
(x to the right, y down), a point ``p`` of the input goes to

    p' = scale * R(angle) @ Sh(shear) @ p + translate
    R(a)  = [[cos a, -sin a],        Sh(s) = [[1, -tan s],
             [sin a,  cos a]]                 [0,  1    ]]

so a positive angle turns the image clockwise on screen (y points down), and
the shear slants the x axis first, before rotation and scaling; the centre is
the middle of the image, ``((W - 1) / 2, (H - 1) / 2)`` in pixel indices.
``grid_sample`` needs the inverse map, from output pixels to input pixels,
expressed in its normalized coordinates (``align_corners=False``: -1 and +1 are
the outer edges of the border pixels, so pixel ``i`` sits at ``(2 i + 1) / W - 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """What to draw, per sample, uniformly in the given ranges.

    rotation and shear in degrees (drawn in [-value, value]; the shear is along
    x, like ``RandomAffine(shear=value)``), translate as a fraction of the image
    width (x) and height (y) (drawn in [-value, value]), scale as a (min, max)
    factor, brightness and contrast as the maximum relative change. ``hflip``
    mirrors each image left to right with probability 1/2 (before the affine
    transform); only for data whose mirrored images keep their label (clothes, not
    digits), which :mod:`mnist_lib.params` checks against the dataset.
    """

    rotation: float = 10.0
    translate: float = 0.1
    scale: tuple[float, float] = (0.9, 1.1)
    shear: float = 10.0
    brightness: float = 0.2
    contrast: float = 0.2
    hflip: bool = False

    def __post_init__(self):
        if not 0 <= self.rotation <= 180:
            raise ValueError(f"rotation must be in [0, 180] degrees, got {self.rotation}")
        if not 0 <= self.shear < 90:
            raise ValueError(f"shear must be in [0, 90) degrees, got {self.shear}")
        if not 0 <= self.translate < 1:
            raise ValueError(f"translate must be a fraction in [0, 1), got {self.translate}")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {self.scale}")
        if not 0 <= self.brightness < 1:
            raise ValueError(f"brightness must be in [0, 1), got {self.brightness}")
        if not 0 <= self.contrast < 1:
            raise ValueError(f"contrast must be in [0, 1), got {self.contrast}")
        if not isinstance(self.hflip, bool):
            raise ValueError(f"hflip must be True or False, got {self.hflip!r}")


@dataclass(frozen=True)
class AffineParams:
    """One affine transform per image, in torchvision's terms: angle and shear in
    degrees, translate in pixels (N, 2) as (x, y), scale a factor. Each field has
    one value per image (shape (N,), translate (N, 2))."""

    angle: torch.Tensor
    translate: torch.Tensor
    scale: torch.Tensor
    shear: torch.Tensor


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device).mul_(high - low).add_(low)


def draw_affine(n: int, aug: Augmentation, height: int, width: int, generator: torch.Generator,
                device=None) -> AffineParams:
    """Random transforms for ``n`` images of ``height`` x ``width`` pixels (the ranges of ``aug``)."""
    device = generator.device if device is None else device
    angle = _uniform(n, -aug.rotation, aug.rotation, generator, device)
    shear = _uniform(n, -aug.shear, aug.shear, generator, device)
    scale = _uniform(n, aug.scale[0], aug.scale[1], generator, device)
    shift = _uniform(2 * n, -aug.translate, aug.translate, generator, device).view(n, 2)
    translate = torch.stack((shift[:, 0] * width, shift[:, 1] * height), dim=1)  # no host-to-device copy
    return AffineParams(angle=angle, translate=translate, scale=scale, shear=shear)


def forward_matrix(params: AffineParams) -> torch.Tensor:
    """The (N, 2, 3) map from input to output pixel coordinates (centred), as in the module docstring."""
    angle, shear = torch.deg2rad(params.angle), torch.deg2rad(params.shear)
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    # R(angle) @ Sh(shear) = [[cos, -cos*tan - sin], [sin, cos - sin*tan]]; determinant 1.
    linear = torch.stack([
        torch.stack([cos, -cos * tan - sin], dim=1),
        torch.stack([sin, cos - sin * tan], dim=1),
    ], dim=1) * params.scale.view(-1, 1, 1)
    return torch.cat([linear, params.translate.unsqueeze(2)], dim=2)


def sampling_theta(params: AffineParams, height: int, width: int) -> torch.Tensor:
    """The (N, 2, 3) ``theta`` for ``F.affine_grid(..., align_corners=False)``: the inverse of
    :func:`forward_matrix`, from output to input, in normalized coordinates.

    In closed form, elementwise on the N parameters (a handful of small ops, no matrix product):
    the inverse of ``scale * R(angle) @ Sh(shear)`` is ``Sh(shear)^-1 @ R(-angle) / scale``
    = ``[[cos - tan sin, sin + tan cos], [-sin, cos]] / scale``, and an output pixel ``p'``
    comes from the input pixel ``inverse @ (p' - translate)``.
    """
    angle, shear = torch.deg2rad(params.angle), torch.deg2rad(params.shear)
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    shrink = params.scale.reciprocal()
    a, b = (cos - tan * sin) * shrink, (sin + tan * cos) * shrink
    c, d = -sin * shrink, cos * shrink
    tx, ty = params.translate.unbind(1)
    # Pixels to normalized: x / (W / 2), y / (H / 2); conjugating by that diagonal scales the
    # off-diagonal terms by H / W and W / H (a rotation stays a rotation on a non-square image).
    return torch.stack([a, b * (height / width), (a * tx + b * ty) * (-2 / width),
                        c * (width / height), d, (c * tx + d * ty) * (-2 / height)], dim=1).view(-1, 2, 3)


def affine(x: torch.Tensor, params: AffineParams) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) through its own transform, bilinear, zeros outside."""
    n, _, height, width = x.shape
    if params.angle.shape != (n,):
        raise ValueError(f"expected one transform per image ({n}), got {tuple(params.angle.shape)}")
    theta = sampling_theta(params, height, width).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def jitter(x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """Brightness and contrast of [0, 1] images: ``((x * b - m) * c + m)`` clamped to [0, 1],
    with ``m`` the image's mean before the change and ``b``, ``c`` one factor per image."""
    level = x.mean(dim=(1, 2, 3), keepdim=True)
    view = (-1, 1, 1, 1)
    return ((x * brightness.view(view) - level) * contrast.view(view) + level).clamp_(0.0, 1.0)


def hflip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` (N, C, H, W) with the images where ``mask`` (N,) is True mirrored left to right."""
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


def augment_batch(x: torch.Tensor, aug: Augmentation, generator: torch.Generator,
                  mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """Augment a batch (N, C, H, W) of normalized images, one random transform per image.

    Works on the batch's device with ``generator`` on that device. Pixels are
    taken back to [0, 1] for the transform (so the border fills with
    background) and normalized again. With ``aug.hflip`` half of the images (drawn
    from ``generator``) are mirrored left to right first; without it the generator
    draws exactly what it drew before flips existed.
    """
    n, _, height, width = x.shape
    device = x.device
    unit = x * std + mean
    if aug.hflip:
        unit = hflip(unit, torch.rand(n, generator=generator, device=device) < 0.5)
    out = affine(unit, draw_affine(n, aug, height, width, generator, device))
    if aug.brightness or aug.contrast:
        bright = _uniform(n, 1 - aug.brightness, 1 + aug.brightness, generator, device)
        contrast = _uniform(n, 1 - aug.contrast, 1 + aug.contrast, generator, device)
        out = jitter(out, bright, contrast)
    return (out - mean) / std


__all__ = ["Augmentation", "AffineParams", "draw_affine", "forward_matrix", "sampling_theta", "affine", "jitter",
           "hflip", "augment_batch"]

"""Batch augmentation geometry: every transform, alone and combined, matches
torchvision's affine on the same image with the same (bilinear) interpolation;
known pixels land where the conventions say; area scales by the determinant;
the random path is the deterministic one with drawn parameters."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from mnist_lib import augment
from mnist_lib.augment import AffineParams, Augmentation, augment_batch

TOLERANCE = 1e-4  # on [0, 1] pixel values; the two paths differ only by float rounding


def params(angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=0.0) -> AffineParams:
    return AffineParams(angle=torch.tensor([float(angle)]), translate=torch.tensor([translate], dtype=torch.float32),
                        scale=torch.tensor([float(scale)]), shear=torch.tensor([float(shear)]))


def torchvision_affine(image, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=0.0):
    return TF.affine(image, angle=float(angle), translate=[float(t) for t in translate], scale=float(scale),
                     shear=[float(shear), 0.0], interpolation=TF.InterpolationMode.BILINEAR)


def make_image(height: int, width: int) -> torch.Tensor:
    """Noise on a smooth asymmetric blob: every pixel differs, so any misplaced sample shows."""
    generator = torch.Generator().manual_seed(height * 100 + width)
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                          indexing="ij")
    blob = torch.exp(-((x - width * 0.35) ** 2 / 20 + (y - height * 0.6) ** 2 / 8))
    return (0.5 * blob + 0.5 * torch.rand(height, width, generator=generator)).view(1, 1, height, width)


CASES = {
    "rotation +30": dict(angle=30),
    "rotation -47": dict(angle=-47),
    "shear +20": dict(shear=20),
    "shear -12": dict(shear=-12),
    "scale 0.8": dict(scale=0.8),
    "scale 1.25": dict(scale=1.25),
    "translation": dict(translate=(2.5, -3.25)),
    "rotation + shear": dict(angle=20, shear=10),
    "rotation - shear": dict(angle=-15, shear=10),
    "all four": dict(angle=12, translate=(-1.5, 2.0), scale=1.1, shear=-8),
    "all four, large": dict(angle=-35, translate=(3.0, 1.0), scale=0.85, shear=25),
}


@pytest.mark.parametrize("size", [(28, 28), (20, 28)], ids=["28x28", "20x28"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_torchvision_affine(case, size):
    image = make_image(*size)
    ours = augment.affine(image, params(**case))
    theirs = torchvision_affine(image, **case)
    assert (ours - theirs).abs().max() < TOLERANCE, f"max difference {(ours - theirs).abs().max():.2e}"


def test_each_image_of_a_batch_gets_its_own_transform():
    images = torch.cat([make_image(28, 28), make_image(28, 28).flip(-1), make_image(28, 28).flip(-2)])
    cases = [CASES["all four"], CASES["rotation + shear"], CASES["all four, large"]]
    batch = AffineParams(angle=torch.tensor([float(c.get("angle", 0)) for c in cases]),
                         translate=torch.tensor([c.get("translate", (0.0, 0.0)) for c in cases]),
                         scale=torch.tensor([float(c.get("scale", 1)) for c in cases]),
                         shear=torch.tensor([float(c.get("shear", 0)) for c in cases]))
    ours = augment.affine(images, batch)
    for i, case in enumerate(cases):
        assert (ours[i] - torchvision_affine(images[i : i + 1], **case)[0]).abs().max() < TOLERANCE


def single_pixel(size: int, row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 1, size, size)
    image[0, 0, row, col] = 1.0
    return image


def bright_pixel(image: torch.Tensor) -> tuple[int, int]:
    flat = int(image[0, 0].argmax())
    return divmod(flat, image.shape[-1])


def test_a_90_degree_rotation_turns_the_image_clockwise():
    # Centre of a 28x28 image: (13.5, 13.5). Row 5, column 20 is at x = +6.5, y = -8.5 (above right).
    # +90 degrees: (x, y) -> (-y, x) = (8.5, 6.5), i.e. row 20, column 22 (below right): clockwise on screen.
    turned = augment.affine(single_pixel(28, 5, 20), params(angle=90))
    assert bright_pixel(turned) == (20, 22) and abs(float(turned[0, 0, 20, 22]) - 1) < 1e-4
    assert abs(float(turned.sum()) - 1) < 1e-4  # nothing smeared: 90 degrees maps pixel centres onto pixel centres
    back = augment.affine(single_pixel(28, 5, 20), params(angle=-90))  # (x, y) -> (y, -x) = (-8.5, -6.5)
    assert bright_pixel(back) == (7, 5)
    image = make_image(28, 28)
    assert torch.allclose(augment.affine(image, params(angle=90)), torch.rot90(image, k=-1, dims=(-2, -1)),
                          atol=TOLERANCE)


def test_shear_scale_and_translation_move_known_pixels():
    # 29x29: the centre is pixel (14, 14).
    # Shear 45 degrees: x' = x - tan(45) * y. Row 18, column 14 is (0, +4) -> (-4, 4): row 18, column 10.
    assert bright_pixel(augment.affine(single_pixel(29, 18, 14), params(shear=45))) == (18, 10)
    # Scale 2 about the centre: (3, -2) -> (6, -4), row 10, column 20.
    scaled = augment.affine(single_pixel(29, 12, 17), params(scale=2))
    assert bright_pixel(scaled) == (10, 20) and abs(float(scaled[0, 0, 10, 20]) - 1) < 1e-4
    # Translation is in pixels, x then y: (+3, -2) moves row 12, column 17 to row 10, column 20.
    assert bright_pixel(augment.affine(single_pixel(29, 12, 17), params(translate=(3.0, -2.0)))) == (10, 20)


@pytest.mark.parametrize("angle,shear,scale", [(20, 10, 1.0), (-20, 10, 1.0), (10, -8, 1.1), (-30, 15, 0.9)])
def test_area_scales_with_the_square_of_scale_only(angle, shear, scale):
    """Rotation and shear keep area (determinant 1): a blob well inside the frame keeps its mass."""
    size = 41
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    blob = torch.exp(-((x - 20) ** 2 + (y - 20) ** 2) / 18).view(1, 1, size, size)
    out = augment.affine(blob, params(angle=angle, shear=shear, scale=scale))
    assert abs(float(out.sum()) / float(blob.sum()) - scale**2) < 0.005 * scale**2
    matrix = augment.forward_matrix(params(angle=angle, shear=shear, scale=scale))[0, :, :2]
    assert abs(float(torch.linalg.det(matrix)) - scale**2) < 1e-5


def test_sampling_theta_inverts_the_forward_matrix():
    p = params(angle=-35, translate=(3.0, 1.0), scale=0.85, shear=25)
    height, width = 20, 28
    forward = torch.cat([augment.forward_matrix(p)[0], torch.tensor([[0.0, 0.0, 1.0]])])
    theta = torch.cat([augment.sampling_theta(p, height, width)[0], torch.tensor([[0.0, 0.0, 1.0]])])
    to_normalized = torch.diag(torch.tensor([2 / width, 2 / height, 1.0]))
    assert torch.allclose(theta @ to_normalized @ forward, to_normalized, atol=1e-5)


def test_random_path_is_the_deterministic_one_with_drawn_parameters():
    images = torch.cat([make_image(28, 28)] * 8)
    mean, std = 0.1307, 0.3081
    aug = Augmentation(rotation=15, translate=0.1, scale=(0.9, 1.1), shear=10, brightness=0, contrast=0)
    out = augment.augment_batch((images - mean) / std, aug, torch.Generator().manual_seed(5), mean, std)
    drawn = augment.draw_affine(8, aug, 28, 28, torch.Generator().manual_seed(5))
    assert torch.allclose(out * std + mean, augment.affine(images, drawn), atol=1e-5)
    assert drawn.angle.abs().max() <= 15 and drawn.shear.abs().max() <= 10
    assert drawn.translate.abs().max() <= 0.1 * 28 and 0.9 <= drawn.scale.min() <= drawn.scale.max() <= 1.1
    assert len(set(drawn.angle.tolist())) == 8  # one transform per image
    for i in range(8):
        tv = torchvision_affine(images[i : i + 1], angle=drawn.angle[i], translate=drawn.translate[i].tolist(),
                                scale=drawn.scale[i], shear=drawn.shear[i])
        assert (out[i] * std + mean - tv[0]).abs().max() < TOLERANCE


def test_jitter_changes_intensity_only_and_stays_in_range():
    image = make_image(28, 28).repeat(2, 1, 1, 1)
    out = augment.jitter(image, torch.tensor([1.0, 1.2]), torch.tensor([1.0, 0.8]))
    assert torch.allclose(out[0], image[0], atol=1e-6)
    level = image[1].mean()
    assert torch.allclose(out[1], ((image[1] * 1.2 - level) * 0.8 + level).clamp(0, 1))
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_wrong_number_of_transforms_is_refused():
    with pytest.raises(ValueError, match=r"one transform per image \(2\)"):
        augment.affine(torch.zeros(2, 1, 8, 8), params(angle=10))


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(rotation=-1), "rotation must be in [0, 180] degrees, got -1"),
    (dict(shear=90), "shear must be in [0, 90) degrees, got 90"),
    (dict(translate=1.0), "translate must be a fraction in [0, 1), got 1.0"),
    (dict(scale=(1.2, 0.8)), "scale must be (min, max) with 0 < min <= max, got (1.2, 0.8)"),
    (dict(brightness=1.5), "brightness must be in [0, 1), got 1.5"),
    (dict(contrast=-0.1), "contrast must be in [0, 1), got -0.1"),
])
def test_bad_ranges_are_named(kwargs, fragment):
    with pytest.raises(ValueError) as error:
        Augmentation(**kwargs)
    assert fragment in str(error.value)


def test_hflip_mirrors_half_the_batch_and_costs_nothing_when_off():
    x = torch.rand(64, 1, 8, 8)
    still = Augmentation(rotation=0, translate=0, scale=(1, 1), shear=0, brightness=0, contrast=0)
    flipped = augment_batch(x, Augmentation(**{**still.__dict__, "hflip": True}), torch.Generator().manual_seed(0))
    mirrored = torch.tensor([torch.allclose(a, b.flip(-1), atol=1e-5) for a, b in zip(flipped, x)])
    kept = torch.tensor([torch.allclose(a, b, atol=1e-5) for a, b in zip(flipped, x)])
    assert bool((mirrored | kept).all()) and 16 < int(mirrored.sum()) < 48  # each image: mirrored or unchanged
    # Off, the generator draws exactly what it drew before flips existed: same batch, same numbers.
    aug = Augmentation()
    plain = augment_batch(x, aug, torch.Generator().manual_seed(3))
    again = augment_batch(x, Augmentation(**{**aug.__dict__, "hflip": False}), torch.Generator().manual_seed(3))
    assert torch.equal(plain, again)
    with pytest.raises(ValueError, match="hflip must be True or False"):
        Augmentation(hflip="yes")

"""The reference's training augmentation (mimkit.data.augment), against hand-placed pixels."""

import torch

from mimkit.data.augment import CLIP, affine_thetas, dequantise, random_affine, warp

ONE = torch.ones(1, dtype=torch.float64)
ZERO = torch.zeros(1, dtype=torch.float64)


def single_pixel(row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 28, 28, dtype=torch.float64)
    image[0, row, col] = 1.0
    return image


def moved(image: torch.Tensor, angle=0.0, shift=(0.0, 0.0), scale=1.0, shear=0.0) -> list:
    theta = affine_thetas(
        angle * ONE, torch.tensor([shift], dtype=torch.float64), scale * ONE, shear * ONE, 28
    )
    return warp(image, theta)[0].nonzero().tolist()


def test_identity_rotation_translation_scale():
    image = single_pixel(3, 5)
    assert moved(image) == [[3, 5]]
    # 180° about the centre (13.5, 13.5): (r, c) -> (27 - r, 27 - c)
    assert moved(image, angle=180.0) == [[24, 22]]
    # 2 pixels right, 1 down
    assert moved(image, shift=(2.0, 1.0)) == [[4, 7]]
    # scale 3 about the centre: the pixel centre at offset (-10.5, -8.5) from it would land at
    # (-31.5, -25.5), outside the image, and the pixel next to the centre (13, 14), offset
    # (-0.5, 0.5), lands on (-1.5, 1.5): pixels (12, 15) and its neighbours by nearest rounding
    assert moved(image, scale=3.0) == []
    assert [12, 15] in moved(single_pixel(13, 14), scale=3.0)
    # shear 45° along x: x' = x + y, so the pixel at offset (x, y) = (4.5, 2.5) from the centre,
    # (row 16, col 18), moves to x' = 7, i.e. col 20.5: nearest rounding picks col 20 or 21
    assert moved(single_pixel(16, 18), shear=45.0)[0][0] == 16
    assert moved(single_pixel(16, 18), shear=45.0)[0][1] in (20, 21)


def test_about_half_of_the_images_are_transformed_the_rest_untouched():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2000, 28, 28, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = random_affine(images, generator)
    changed = (out != images).flatten(1).any(1)
    assert 0.45 < changed.double().mean() < 0.55  # P_APPLY = 0.5, 2000 draws: sd 0.011
    assert torch.equal(out[~changed], images[~changed])


def test_dequantise_stays_in_the_pixel_bin_and_the_clip():
    pixels = torch.arange(256, dtype=torch.float64).div(255).repeat(50)
    out = dequantise(pixels, torch.Generator().manual_seed(0))
    k = torch.arange(256, dtype=torch.float64).repeat(50)
    # (255 x + u) / 256 with 255 x = k: in [k / 256, (k + 1) / 256], then clipped
    low, high = (k / 256).clamp(CLIP, 1 - CLIP), ((k + 1) / 256).clamp(CLIP, 1 - CLIP)
    assert bool(((out >= low) & (out <= high)).all())
    assert out.min() >= CLIP and out.max() <= 1 - CLIP
    # the noise averages 1/2 a level: mean of (255 x + u) / 256 - 255 x / 256 is 0.5 / 256
    assert abs(float((out - k / 256)[(k > 0) & (k < 255)].mean()) - 0.5 / 256) < 0.02 / 256

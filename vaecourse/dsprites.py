"""A dSprites-style generator: 64×64 binary sprites with known factors of variation, made on demand.

It follows the published dSprites specification (Matthey et al. 2017): five factors,

===========  ======  ==============================================
factor       values  meaning
===========  ======  ==============================================
shape        3       square, ellipse, heart (values 0, 1, 2; dSprites numbers them 1, 2, 3)
scale        6       0.5 to 1 in equal steps
orientation  40      0 to 2π (both ends included) in equal steps, counter-clockwise
pos_x        32      0 to 1: the sprite's centre is 16 + 32·pos_x pixels from the left edge
pos_y        32      0 to 1: the sprite's centre is 16 + 32·pos_y pixels from the top edge
===========  ======  ==============================================

so 3·6·40·32·32 = 737,280 images, white sprites on black, the largest square 20 px wide and a mean
pixel value of about 0.04. The image covers the square [0, 64] × [0, 64], measured in pixels from its
top-left corner: pixel (row i, column j) covers [j, j + 1] across and [i, i + 1] down, so the sprites'
centres, 16 to 48, lie symmetrically about the middle (32), and the *centre of mass* of a sprite is at
its position (shapes are centred on their centroid).

A pixel is white when its centre lies inside the sprite, with one rule for ties: the centres are
taken ``NUDGE`` (a thousandth of a pixel) right of and below the middle of each pixel. Without it, an
edge that passes exactly through a row or column of pixel centres would count on both sides of the
sprite, and the grid's positions do make that happen (a centre at a whole or half pixel, an unrotated
edge a whole or half number of pixels from it): the unrotated square was one pixel wider at positions
0 and 1 than anywhere else. With the nudge no edge of an unrotated sprite ever passes through a sample
point, so a position change moves the sprite and changes nothing else.

Nothing is stored: an image is drawn from its factors when asked for, all at once for a batch, by
rotating every pixel's coordinates back by the orientation and testing whether the point lies inside
the unrotated, unit-size shape (the heart is the region inside the curve (x²+y²−1)³ = x²y³). The
same factors always give the same image. ``resolution=32`` average-pools 2×2 blocks of the 64×64
image (edges become grey), which makes a convolutional VAE about 5× cheaper to train on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = math.prod(FACTOR_SIZES)  # 737,280
FACTOR_VALUES = (
    torch.arange(3, dtype=torch.float32),
    torch.linspace(0.5, 1.0, 6),
    torch.linspace(0.0, 2 * math.pi, 40),
    torch.linspace(0.0, 1.0, 32),
    torch.linspace(0.0, 1.0, 32),
)
SIZE = 64               # side of the original images, in pixels
HALF_WIDTH = 10.0       # half the side of the square at scale 1, in pixels (so 20 px wide)
ELLIPSE_AXES = (1.0, 0.5)  # semi-axes of the ellipse at scale 1, in units of HALF_WIDTH
HEART_HALF_WIDTH = 1.1390  # half the width of the implicit heart curve (1.13903), in its own units
HEART_CENTROID_Y = 0.2935  # height of the heart's centroid above its origin, in its own units
NUDGE = 1e-3            # pixel centres are sampled this far (in pixels) right of and below the middle: breaks ties


@dataclass
class Sprites:
    """A batch of sprites with their ground truth: ``images`` (N, 1, R, R) float in [0, 1],
    ``indices`` (N, 5) long (position of each factor in its list) and ``values`` (N, 5) float."""

    images: torch.Tensor
    indices: torch.Tensor
    values: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)


def _check_resolution(resolution: int) -> None:
    if resolution not in (32, 64):
        raise ValueError(f"resolution must be 64 (the original dSprites) or 32 (2×2 pooled), not {resolution!r}.")


def check_indices(indices: torch.Tensor) -> None:
    """Raise a clear error unless ``indices`` is an (N, 5) integer tensor within each factor's range."""
    if indices.ndim != 2 or indices.shape[1] != len(FACTOR_SIZES) or indices.is_floating_point():
        raise ValueError(f"Factor indices must be an (N, 5) integer tensor (one column per factor "
                         f"{FACTOR_NAMES}), got {tuple(indices.shape)} {indices.dtype}.")
    sizes = torch.tensor(FACTOR_SIZES, device=indices.device)
    if len(indices) and ((indices < 0) | (indices >= sizes)).any():
        raise ValueError(f"Factor indices out of range: each column must lie in 0 .. size-1 for sizes {FACTOR_SIZES}.")


def values_of(indices: torch.Tensor) -> torch.Tensor:
    """Factor indices (N, 5) -> factor values (N, 5): shape number, scale, angle in radians, x and y in [0, 1]."""
    check_indices(indices)
    columns = [FACTOR_VALUES[k].to(indices.device)[indices[:, k]] for k in range(len(FACTOR_SIZES))]
    return torch.stack(columns, dim=1)


def _in_square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) <= 1


def _in_ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    a, b = ELLIPSE_AXES
    return (u / a).square() + (v / b).square() <= 1


def _in_heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Inside the heart curve (x²+y²−1)³ = x²y³, scaled to the half-width and centred on its centroid."""
    x = u * HEART_HALF_WIDTH
    y = v * HEART_HALF_WIDTH + HEART_CENTROID_Y
    x2 = x.square()
    r = x2 + y.square() - 1
    return r * r * r - x2 * y * y * y <= 0


def render(values: torch.Tensor, resolution: int = 64) -> torch.Tensor:
    """Draw sprites from factor *values* (N, 5); any scale, angle or position is allowed, not only the grid's.

    Returns (N, 1, resolution, resolution) float32 images on the device of ``values``: 0/1 at 64×64,
    2×2 averages of those at 32×32.
    """
    _check_resolution(resolution)
    if values.ndim != 2 or values.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"Factor values must be (N, 5), one column per factor {FACTOR_NAMES}; "
                         f"got {tuple(values.shape)}.")
    values = values.float()
    if len(values) and not ((values[:, 0] == 0) | (values[:, 0] == 1) | (values[:, 0] == 2)).all():
        raise ValueError("The shape column must hold 0 (square), 1 (ellipse) or 2 (heart).")
    shape, scale, angle, pos_x, pos_y = (values[:, k, None, None] for k in range(5))
    centres = torch.arange(SIZE, dtype=torch.float32, device=values.device) + 0.5 + NUDGE  # pixel j: [j, j + 1]
    dx = centres[None, None, :] - (16 + 32 * pos_x)  # pixel centre's offset from the sprite's, rightwards: (N, 1, 64)
    dy = (16 + 32 * pos_y) - centres[None, :, None]  # ... and upwards (row 0 is the top): (N, 64, 1)
    size = HALF_WIDTH * scale
    cos, sin = torch.cos(angle) / size, torch.sin(angle) / size
    u = cos * dx + sin * dy  # each pixel rotated back by the orientation, in units of the half-width
    v = cos * dy - sin * dx
    inside = torch.zeros(u.shape, dtype=torch.bool, device=values.device)
    for k, is_inside in enumerate((_in_square, _in_ellipse, _in_heart)):
        chosen = shape[:, 0, 0] == k
        inside[chosen] = is_inside(u[chosen], v[chosen])
    images = inside.float()[:, None]
    return images if resolution == SIZE else F.avg_pool2d(images, 2)


def images_of(indices: torch.Tensor, resolution: int = 64) -> torch.Tensor:
    """The images (N, 1, R, R) of the given factor indices (N, 5)."""
    return render(values_of(indices), resolution)


def _sprites(indices: torch.Tensor, resolution: int) -> Sprites:
    """The sprites of ``indices`` with their ground truth (the factor values are looked up once)."""
    values = values_of(indices)
    return Sprites(render(values, resolution), indices, values)


def unravel(flat: torch.Tensor) -> torch.Tensor:
    """Image numbers 0 .. 737,279 -> factor indices (N, 5), in dSprites' order (shape slowest, pos_y fastest)."""
    if flat.is_floating_point() or ((flat < 0) | (flat >= NUM_IMAGES)).any():
        raise ValueError(f"Image numbers must be integers in 0 .. {NUM_IMAGES - 1}.")
    columns = []
    for size in reversed(FACTOR_SIZES):
        columns.append(flat % size)
        flat = torch.div(flat, size, rounding_mode="floor")
    return torch.stack(columns[::-1], dim=1)


def sample_indices(n: int, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` factor combinations drawn uniformly at random from the 737,280 (with replacement)."""
    columns = [torch.randint(size, (n,), generator=generator) for size in FACTOR_SIZES]
    return torch.stack(columns, dim=1).to(device)


def sample(n: int, resolution: int = 32, seed: int = 0, device: torch.device | str = "cpu") -> Sprites:
    """``n`` random sprites with their factors; the same ``seed`` gives the same sprites."""
    return _sprites(sample_indices(n, torch.Generator().manual_seed(seed), device), resolution)


def make_batch_fn(resolution: int = 32, seed: int = 0,
                  device: torch.device | str = "cpu") -> Callable[[int], torch.Tensor]:
    """A function ``make_batch(batch_size) -> images`` of fresh random sprites, for ``fit``'s ``train_data``.

    Each call draws new factors (a seeded stream, so a training run is reproducible): the model never
    sees the same batch twice, and the data never has to fit in memory.
    """
    _check_resolution(resolution)
    generator = torch.Generator().manual_seed(seed)

    def make_batch(batch_size: int) -> torch.Tensor:
        return images_of(sample_indices(batch_size, generator, device), resolution)

    return make_batch


def factor_sweep(factor: str, base: tuple[int, ...] = (0, 5, 0, 16, 16), resolution: int = 64,
                 count: int | None = None) -> Sprites:
    """Sprites that differ only in ``factor``: ``count`` of its values evenly spread (all by default),
    the other factors fixed at the indices ``base`` (default: the largest square, unrotated, centred)."""
    if factor not in FACTOR_NAMES:
        raise ValueError(f"Unknown factor {factor!r}; choose one of {FACTOR_NAMES}.")
    k = FACTOR_NAMES.index(factor)
    size = FACTOR_SIZES[k]
    count = count or size
    steps = torch.linspace(0, size - 1, count).round().long()
    indices = torch.tensor(base, dtype=torch.long).repeat(count, 1)
    indices[:, k] = steps
    return _sprites(indices, resolution)

"""The dSprites-style generator follows the published specification and is deterministic."""

import math

import pytest
import torch
import torch.nn.functional as F

from vaecourse import dsprites as ds


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    """(y, x) centre of mass of a (1, H, W) image, in pixels from its top-left corner (pixel j spans [j, j + 1])."""
    img = image[0]
    centres = torch.arange(img.shape[0], dtype=torch.float32) + 0.5
    total = img.sum()
    return float((img.sum(1) * centres).sum() / total), float((img.sum(0) * centres).sum() / total)


def test_shapes_dtypes_and_ground_truth():
    for resolution in (64, 32):
        s = ds.sample(7, resolution=resolution, seed=0)
        assert s.images.shape == (7, 1, resolution, resolution) and s.images.dtype == torch.float32
        assert s.indices.shape == (7, 5) and s.indices.dtype == torch.long
        assert s.values.shape == (7, 5) and s.values.dtype == torch.float32
        assert 0 <= s.images.min() and s.images.max() <= 1
    binary = ds.sample(50, resolution=64).images
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    assert ds.values_of(torch.tensor([[2, 5, 39, 31, 0]]))[0].tolist() == pytest.approx([2, 1.0, 2 * math.pi, 1.0, 0.0])


def test_factor_grid_is_the_dsprites_grid():
    assert ds.FACTOR_SIZES == (3, 6, 40, 32, 32) and ds.NUM_IMAGES == 737_280
    assert ds.FACTOR_VALUES[1].tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert ds.FACTOR_VALUES[2][0] == 0 and ds.FACTOR_VALUES[2][-1] == pytest.approx(2 * math.pi)
    flat = torch.tensor([0, 1, 32, 1024, ds.NUM_IMAGES - 1])
    assert ds.unravel(flat).tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0],
                                         [2, 5, 39, 31, 31]]


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_position_moves_the_centre_of_mass_as_specified(shape):
    for pos_x, pos_y in [(0.0, 0.0), (1.0, 0.5), (0.3, 0.9)]:
        image = ds.render(torch.tensor([[shape, 0.8, 0.7, pos_x, pos_y]]))[0]
        row, col = centre_of_mass(image)
        assert col == pytest.approx(16 + 32 * pos_x, abs=0.5)
        assert row == pytest.approx(16 + 32 * pos_y, abs=0.5)


def test_scale_sets_the_area_and_the_largest_square_is_about_20_px():
    areas = ds.factor_sweep("scale").images.sum(dim=(1, 2, 3))
    assert (areas[1:] > areas[:-1]).all()
    assert float(areas[-1] / areas[0]) == pytest.approx(4.0, rel=0.15)  # area grows as scale²
    largest = ds.images_of(torch.tensor([[0, 5, 0, 7, 7]]))[0, 0]
    width = int(largest.amax(dim=0).sum())
    assert 19 <= width <= 21


def test_rotating_the_square_by_90_degrees_gives_the_same_image():
    for scale, pos_x, pos_y in [(1.0, 0.5, 0.5), (0.5, 0.0, 1.0), (0.7, 0.3, 0.61)]:
        square = ds.render(torch.tensor([[0, scale, 0.0, pos_x, pos_y], [0, scale, math.pi / 2, pos_x, pos_y]]))
        assert torch.equal(square[0], square[1])
    ellipse = ds.render(torch.tensor([[1, 1.0, 0.0, 0.5, 0.5], [1, 1.0, math.pi / 2, 0.5, 0.5]]))
    assert not torch.equal(ellipse[0], ellipse[1])  # orientation does change an ellipse
    assert torch.equal(ellipse[0, 0], ellipse[1, 0].T)  # ... into its transpose


def test_mean_pixel_value_matches_dsprites():
    assert float(ds.sample(5000, resolution=64, seed=3).images.mean()) == pytest.approx(0.04, rel=0.2)


def test_32_pixel_images_are_the_pooled_64_pixel_images():
    indices = ds.sample_indices(20, torch.Generator().manual_seed(1))
    assert torch.equal(ds.images_of(indices, 32), F.avg_pool2d(ds.images_of(indices, 64), 2))


def test_deterministic_and_batches_reproducible():
    assert torch.equal(ds.sample(10, seed=4).images, ds.sample(10, seed=4).images)
    first, second = ds.make_batch_fn(32, seed=2), ds.make_batch_fn(32, seed=2)
    a, b = first(16), first(16)
    assert a.shape == (16, 1, 32, 32) and not torch.equal(a, b)
    assert torch.equal(a, second(16)) and torch.equal(b, second(16))


def test_factor_sweep_changes_only_one_factor():
    sweep = ds.factor_sweep("orientation", count=5)
    assert len(sweep) == 5 and sweep.indices[:, 2].tolist() == [0, 10, 20, 29, 39]
    others = sweep.indices[:, [0, 1, 3, 4]]
    assert (others == others[0]).all()


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="resolution must be 64"):
        ds.sample(2, resolution=48)
    with pytest.raises(ValueError, match="out of range"):
        ds.images_of(torch.tensor([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        ds.images_of(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="shape column"):
        ds.render(torch.tensor([[1.5, 1.0, 0.0, 0.5, 0.5]]))
    with pytest.raises(ValueError, match="Unknown factor"):
        ds.factor_sweep("colour")


# --- A position change moves the sprite and changes nothing else (every shape, scale and orientation) ---

def outline(shape: int) -> torch.Tensor:
    """Points (n, 2) around the unrotated shape at scale 1, in half-widths (the generator's u, v units),
    worked out here from each shape's definition, not from the renderer."""
    if shape == 0:
        return torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]], dtype=torch.float64)
    angle = torch.linspace(0, 2 * math.pi, 4001, dtype=torch.float64)[:-1]
    if shape == 1:
        a, b = ds.ELLIPSE_AXES
        return torch.stack([a * angle.cos(), b * angle.sin()], dim=1)
    # The heart (x²+y²−1)³ = x²y³: along each ray from its origin, the outermost crossing of the curve
    # (a ray near the top passes the notch and enters a lobe), found on a grid and refined by bisection.
    cos, sin = angle.cos(), angle.sin()

    def inside(r: torch.Tensor) -> torch.Tensor:
        return (r * r - 1) ** 3 - (r * cos) ** 2 * (r * sin) ** 3 <= 0

    radii = torch.linspace(0, 2, 2001, dtype=torch.float64)
    last_inside = torch.stack([inside(r.expand_as(angle)) for r in radii]).double().cumsum(0).argmax(0)
    low = radii[last_inside]
    high = low + radii[1]
    for _ in range(50):
        middle = (low + high) / 2
        low, high = torch.where(inside(middle), middle, low), torch.where(inside(middle), high, middle)
    x, y = low * cos, low * sin
    return torch.stack([x, y - ds.HEART_CENTROID_Y], dim=1) / ds.HEART_HALF_WIDTH


def exact_geometry(conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Width, height and area in pixels of the continuous sprite for (shape, scale, orientation) indices."""
    width, height, area = (torch.zeros(len(conditions), dtype=torch.float64) for _ in range(3))
    for shape in range(3):
        chosen = conditions[:, 0] == shape
        u, v = outline(shape).T
        size = ds.HALF_WIDTH * ds.FACTOR_VALUES[1].double()[conditions[chosen, 1], None]
        angle = ds.FACTOR_VALUES[2].double()[conditions[chosen, 2], None]
        x = size * (u * angle.cos() - v * angle.sin())  # rotated counter-clockwise, y pointing up
        y = size * (u * angle.sin() + v * angle.cos())
        width[chosen] = x.amax(1) - x.amin(1)
        height[chosen] = y.amax(1) - y.amin(1)
        area[chosen] = (x * y.roll(-1, 1) - x.roll(-1, 1) * y).sum(1).abs() / 2  # shoelace
    return width, height, area


@pytest.fixture(scope="module")
def position_sweeps():
    """Every (shape, scale, orientation) at all 32 x positions (y index 0) and all 32 y positions (x index 0):
    binary 64×64 images (720 conditions, 2 sweeps, 32 positions) and the conditions (720, 3)."""
    conditions = torch.cartesian_prod(*(torch.arange(n) for n in ds.FACTOR_SIZES[:3]))
    indices = torch.zeros(len(conditions), 2, 32, 5, dtype=torch.long)
    indices[..., :3] = conditions[:, None, None]
    indices[:, 0, :, 3] = torch.arange(32)
    indices[:, 1, :, 4] = torch.arange(32)
    flat = indices.reshape(-1, 5)
    images = torch.cat([ds.images_of(flat[i:i + 2048])[:, 0].bool() for i in range(0, len(flat), 2048)])
    return images.reshape(len(conditions), 2, 32, 64, 64), conditions


def test_position_changes_neither_width_height_nor_area(position_sweeps):
    images, conditions = position_sweeps
    width, height, area = exact_geometry(conditions)
    ink_width = images.any(dim=-2).sum(-1)    # columns with ink: (720, 2, 32)
    ink_height = images.any(dim=-1).sum(-1)   # rows with ink
    ink_area = images.sum(dim=(-2, -1))
    # A sprite L px wide spans ⌈L⌉ columns of pixel centres, or ⌊L⌋ where it falls between them, and a
    # pointed end (a corner, a tip) can pass between two centres and leave its column blank: so its ink
    # is ⌈L⌉ − 1 ± 1 columns wide at every position, never more (an edge through a column of centres,
    # counted on both sides, made the unrotated square ⌈L⌉ + 1 wide: the bug). The same for rows.
    for ink, exact in ((ink_width, width), (ink_height, height)):
        most = torch.ceil(exact - 1e-6)[:, None, None]
        assert (ink <= most).all() and (ink >= most - 2).all()
    # Each row of pixel centres holds the row's chord ± less than one pixel: the area is within one pixel
    # per row (and per column) of the shape's true area.
    spanned = torch.minimum(width, height)[:, None, None]
    assert ((ink_area - area[:, None, None]).abs() < spanned).all()


def test_the_centre_of_mass_moves_by_the_stated_step(position_sweeps):
    images, _ = position_sweeps
    pixels = torch.arange(64, dtype=torch.float64) + 0.5  # pixel centres, from the top-left corner
    ink = images.double()
    total = ink.sum(dim=(-2, -1))
    com_x = (ink.sum(-2) * pixels).sum(-1) / total
    com_y = (ink.sum(-1) * pixels).sum(-1) / total
    stated = 16 + 32 * ds.FACTOR_VALUES[3].double()  # 16 + 32·position: 32/31 px a step, 32 px in all
    # the moving coordinate is where the position says to within half a pixel, the other one stays put
    assert ((com_x[:, 0] - stated).abs() < 0.5).all() and ((com_y[:, 0] - stated[0]).abs() < 0.5).all()
    assert ((com_y[:, 1] - stated).abs() < 0.5).all() and ((com_x[:, 1] - stated[0]).abs() < 0.5).all()
    for moving in (com_x[:, 0], com_y[:, 1]):  # so each step is 32/31 px ± 1 px, and the 31 steps add up to 32 px ± 1
        assert ((moving.diff(dim=-1) - 32 / 31).abs() < 1).all()
        assert ((moving[:, -1] - moving[:, 0] - 32).abs() < 1).all()


def test_the_unrotated_square_is_the_same_size_at_every_position():
    """Issue 19's reproduction: the largest unrotated square was 21 px wide at x index 0 and 20 at x index 1."""
    indices = torch.cartesian_prod(torch.tensor([0]), torch.arange(6), torch.tensor([0, 39]),
                                   torch.arange(32), torch.arange(32))
    images = ds.images_of(indices)[:, 0].bool()
    side = (2 * ds.HALF_WIDTH * ds.FACTOR_VALUES[1][indices[:, 1]]).round()
    assert torch.equal(images.any(-2).sum(-1).float(), side) and torch.equal(images.any(-1).sum(-1).float(), side)
    assert torch.equal(images.sum(dim=(-2, -1)).float(), side.square())

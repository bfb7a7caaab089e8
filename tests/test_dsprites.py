"""The dSprites-style generator follows the published specification and is deterministic."""

import math

import pytest
import torch
import torch.nn.functional as F

from vaecourse import dsprites as ds


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    """(row, column) centre of mass of a (1, H, W) image, in pixel indices."""
    img = image[0]
    rows = torch.arange(img.shape[0], dtype=torch.float32)
    total = img.sum()
    return float((img.sum(1) * rows).sum() / total), float((img.sum(0) * rows).sum() / total)


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

"""Lesson 10's editing tools: the attributes measure what they say, the direction ignores the class,
the edit moves the codes."""

import pytest
import torch

from vaecourse import editing


def line_image(slope: float, column: float = 13.0) -> torch.Tensor:
    """A one-pixel line through the image that moves ``slope`` pixels right for each pixel up."""
    image = torch.zeros(28, 28)
    for row in range(4, 24):
        height = 13.5 - row
        image[row, round(column + slope * height)] = 1.0
    return image.reshape(1, 784)


def test_ink_sums_the_pixels():
    x = torch.zeros(2, 784)
    x[0, :10] = 1.0
    x[1, :4] = 0.5
    assert editing.ink(x).tolist() == [10.0, 2.0]


@pytest.mark.parametrize("slope", [0.0, 0.3, -0.4])
def test_slant_recovers_the_lean_of_a_line(slope):
    assert editing.slant(line_image(slope)).item() == pytest.approx(slope, abs=0.05)


def test_slant_does_not_depend_on_where_the_digit_sits_or_how_bright_it_is():
    a = editing.slant(line_image(0.3, column=10.0))
    b = editing.slant(0.5 * line_image(0.3, column=16.0))
    assert a.item() == pytest.approx(b.item(), abs=0.03)


def test_attributes_refuse_other_shapes():
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        editing.ink(torch.zeros(2, 28, 28))


def test_attribute_direction_follows_the_attribute_within_classes():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 4
    values = torch.randn(400, generator=g)
    # latent 0 carries the attribute, latent 1 the class (and the class also shifts the attribute), latent 2 noise
    codes = torch.stack([values, 5.0 * labels, torch.randn(400, generator=g)], dim=1)
    values = values + 3.0 * labels                    # a class effect that a plain top-vs-bottom split would pick up
    direction = editing.attribute_direction(codes, values, labels)
    assert direction[0] > 2.0 and abs(direction[1]) < 1e-5 and abs(direction[2]) < 0.4
    with pytest.raises(ValueError, match="same N digits"):
        editing.attribute_direction(codes, values[:10], labels)
    with pytest.raises(ValueError, match=r"\(0, 0.5\]"):
        editing.attribute_direction(codes, values, labels, fraction=0.8)


class LinearDecoder(torch.nn.Module):
    """decode(z) = logits whose first 3 pixels are z (the rest −10), so edits can be read off the image."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        return torch.cat([z, torch.full((len(z), 781), -10.0)], dim=1)


def test_edit_moves_every_code_by_each_step():
    codes = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    direction = torch.tensor([1.0, 0.0, -1.0])
    out = editing.edit(LinearDecoder(), codes, direction, torch.tensor([0.0, 2.0]))
    assert out.shape == (2, 2, 784)
    assert torch.allclose(torch.logit(out[0, :, :3]), codes, atol=1e-4)
    assert torch.allclose(torch.logit(out[1, :, :3]), codes + 2 * direction, atol=1e-4)
    with pytest.raises(ValueError, match="one entry per latent"):
        editing.edit(LinearDecoder(), codes, torch.ones(4), torch.tensor([1.0]))

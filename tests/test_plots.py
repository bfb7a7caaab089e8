"""The shared image grid: one canvas, each label under its own image, the unlabelled layout unchanged."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaecourse import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_each_label_sits_under_its_own_image():
    images = torch.rand(7, 28 * 28)
    ax = plots.image_grid(images, ncols=4, title="seven digits", labels=[f"#{i}" for i in range(7)])
    canvas = ax.get_images()[0].get_array()
    texts = {t.get_text(): t.get_position() for t in ax.texts}
    assert ax.get_title() == "seven digits" and sorted(texts) == [f"#{i}" for i in range(7)]
    pitch = (canvas.shape[0] + 1) // 2  # two rows, each an image row, its label strip and a 1-pixel line
    for i in range(7):
        row, col = divmod(i, 4)
        x, y = texts[f"#{i}"]
        assert col * 29 < x < col * 29 + 28, f"label {i} is not under column {col}"
        assert row * pitch + 28 <= y < (row + 1) * pitch, f"label {i} is not under its image's row"
        assert canvas.mask[int(y), int(x)], "labels are written on a blank strip, not on the digits"


def test_without_labels_the_grid_is_the_plain_tiling():
    ax = plots.image_grid(torch.ones(20, 1, 28, 28), ncols=10, title="twenty")
    canvas = ax.get_images()[0].get_array()
    assert canvas.shape == (2 * 29 - 1, 10 * 29 - 1) and not ax.texts
    assert canvas[:28, :28].min() == 1 and canvas[28, :].max() == 0  # images, then a black separating line


def test_one_label_per_image_is_required():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        plots.image_grid(torch.rand(3, 784), labels=["a", "b"])

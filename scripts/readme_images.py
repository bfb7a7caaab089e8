"""Make the README's pictures from real runs: a latent traversal, a latent manifold, a widget screenshot.

    python scripts/readme_images.py      # after `make browser-test`, which takes the widget screenshot

* ``traversal.png``: the shipped β = 4 model of lesson 06 (32×32 sprites), one row per latent, rows
  ordered by KL, drawn by ``plots.show_traversals`` exactly as in the lesson.
* ``manifold.png``: the shipped 2-D VAE of lesson 05, decoded on a grid of prior quantiles
  (``plots.show_latent_manifold``).
* ``widget.png``: lesson 05's latent explorer as the browser test saw it in JupyterLab after moving
  its slider (``artifacts/browser/05_vae_mnist_widget0_after.png``), scaled down.

All three are saved as small palette PNGs in ``docs/images/``; the script prints their sizes and
fails if together they exceed 1 MB.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vaecourse import beta_vae, dsprites, models, plots, runtime, train, vae_mnist  # noqa: E402

OUT = REPO / "docs" / "images"
WIDGET_SHOT = REPO / "artifacts" / "browser" / "05_vae_mnist_widget0_after.png"
BUDGET_BYTES = 1_000_000


def save_small(image: Image.Image, path: Path, width: int, colors: int = 256) -> int:
    """Scale ``image`` to ``width`` pixels wide, reduce it to a palette of ``colors``, save; return bytes."""
    image = image.convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=colors).save(path, optimize=True)
    return path.stat().st_size


def figure_image(fig: plt.Figure, dpi: int = 100) -> Image.Image:
    """Render a matplotlib figure to a PIL image."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    buffer.seek(0)
    return Image.open(buffer)


def traversal_figure() -> plt.Figure:
    """Lesson 06's traversal of the shipped β = 4 model (seed 0), on the lesson's sprite."""
    model = models.ConvVAE(32)
    train.load_checkpoint(beta_vae.checkpoint_path(4.0), model)
    model.eval()
    record = beta_vae.load_record(4.0)
    sprite = dsprites.images_of(torch.tensor([beta_vae.TRAVERSED_SPRITE]), 32)
    ax = plots.show_traversals(model, sprite, torch.tensor(record["kl_per_latent"]), torch.tensor(record["active"]),
                               title=f"β-VAE, β = 4 (MIG {record['mig']:.2f}): each row sweeps one latent")
    return ax.figure


def manifold_figure() -> plt.Figure:
    """Lesson 05's decoded 2-D latent manifold of the shipped 2-D VAE."""
    model = models.MLPVAE(latent_dim=2)
    train.load_checkpoint(vae_mnist.checkpoint_path(2, 1.0), model)
    model.eval()
    ax = plots.show_latent_manifold(model, n=15, title="VAE with a 2-D latent: the decoded manifold")
    return ax.figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widget-screenshot", type=Path, default=WIDGET_SHOT,
                        help="a screenshot saved by the browser test (default: lesson 05's latent explorer)")
    args = parser.parse_args()
    if not args.widget_screenshot.exists():
        sys.exit(f"No screenshot at {args.widget_screenshot}: run `make browser-test` first, which saves "
                 "the widgets as JupyterLab showed them in artifacts/browser/.")
    runtime.seed_everything(0)
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = {
        "traversal.png": save_small(figure_image(traversal_figure()), OUT / "traversal.png", width=520),
        "manifold.png": save_small(figure_image(manifold_figure()), OUT / "manifold.png", width=520),
        "widget.png": save_small(Image.open(args.widget_screenshot), OUT / "widget.png", width=760),
    }
    for name, size in sizes.items():
        print(f"{OUT.relative_to(REPO) / name}: {size / 1000:.0f} kB")
    total = sum(sizes.values())
    print(f"total: {total / 1000:.0f} kB (budget {BUDGET_BYTES / 1e6:g} MB)")
    if total > BUDGET_BYTES:
        sys.exit("The README images exceed their 1 MB budget: lower the widths or colours above.")


if __name__ == "__main__":
    main()

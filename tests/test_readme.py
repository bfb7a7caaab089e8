"""The README's promises that a file can check: its pictures and links exist, the pictures stay small."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
IMAGE_BUDGET_BYTES = 1_000_000


def local_targets() -> list[str]:
    """Paths the README links to or shows (Markdown links and <img src>), leaving out web addresses."""
    targets = re.findall(r"\]\(([^)\s]+)\)", README) + re.findall(r'<img src="([^"]+)"', README)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+://", t) and not t.startswith("#")]


def test_every_local_link_and_picture_in_the_readme_exists():
    missing = [t for t in local_targets() if not (REPO / t).exists()]
    assert local_targets(), "the README links to no file of the repository"
    assert not missing, f"the README points to files that do not exist: {missing}"


def test_readme_pictures_are_shown_and_small():
    pictures = sorted((REPO / "docs" / "images").glob("*.png"))
    shown = {t for t in local_targets() if t.endswith(".png")}
    assert {"docs/images/widget.png", "docs/images/traversal.png", "docs/images/manifold.png"} <= shown
    unused = [p.name for p in pictures if p.relative_to(REPO).as_posix() not in shown]
    assert not unused, f"pictures in docs/images/ that the README does not show: {unused}"
    total = sum(p.stat().st_size for p in pictures)
    assert total < IMAGE_BUDGET_BYTES, f"README pictures take {total:,} bytes; keep them under 1 MB"


def test_readme_names_the_test_command_that_ci_runs():
    assert "make test" in README
    assert "make test" in (REPO / ".ci" / "run").read_text()

"""Which lessons show widgets: found by reading the notebooks, so a new lesson is tested as soon as it exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WIDGET_CODE = re.compile(r"_widget\(|\binteract(ive_output)?\(|\binteractive\(|ipywidgets")


def shows_widgets(path: Path) -> bool:
    """Does any code cell of this notebook build an ipywidgets control?"""
    cells = json.loads(path.read_text())["cells"]
    return any(c["cell_type"] == "code" and WIDGET_CODE.search("".join(c["source"])) for c in cells)


def widget_lessons() -> list[Path]:
    """The lessons (notebooks/NN_*.ipynb) that display a widget, in course order."""
    return [path for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if shows_widgets(path)]

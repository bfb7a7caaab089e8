"""Every lesson is committed clean and starts with the same Colab setup cell."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def test_lessons_are_numbered_in_order():
    numbers = [int(re.match(r"(\d\d)_", p.name).group(1)) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_cleared(path):
    for cell in cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: clear outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_same_setup_cell_first(path):
    setup = "".join(cells(NOTEBOOKS[0])[0]["source"])
    first = cells(path)[0]
    assert first["cell_type"] == "code" and "".join(first["source"]) == setup
    assert "importlib.util.find_spec(\"vaecourse\")" in setup and "--no-deps" in setup
    pip_lines = [line for line in setup.splitlines() if '"pip"' in line]
    assert pip_lines and all("--no-deps" in line and "torch" not in line for line in pip_lines), \
        "the setup cell must never install or upgrade torch (or anything else already installed)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_shape(path):
    markdown = ["".join(c["source"]) for c in cells(path) if c["cell_type"] == "markdown"]
    assert markdown[0].startswith("# Lesson ") and "**Goal:**" in markdown[0]
    text = "\n".join(markdown)
    assert "## Recap" in text and "## Try this" in text

"""What makes the course work on Colab, checked statically (fast, no network).

Colab ships ipywidgets 7.7.1 and loads third-party widget code only through a custom widget
manager from the internet, so: vaecourse must accept ipywidgets 7.7, lessons use only core
ipywidgets controls with matplotlib's inline backend, every Colab badge opens a notebook that
exists, and every training lesson says which device it uses (a Colab GPU is picked up by itself).
The dynamic checks (widget tests under ipywidgets 7.7.1, the setup cell in a Colab-like
environment) are in ``tests/colab/`` (``make colab-test``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
BADGE = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+)/([\w.-]+)/blob/([\w.-]+)/([\w./%-]+\.ipynb)")
THIRD_PARTY_WIDGETS = re.compile(r"\b(ipympl|anywidget|bqplot|ipyvolume|ipycanvas|ipyleaflet|plotly)\b|"
                                 r"%matplotlib\s+(widget|ipympl|notebook)")


def code_of(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


def course_repository() -> str:
    """owner/name of the course on GitHub, as the lessons' setup cell clones it."""
    setup = "".join(json.loads(NOTEBOOKS[0].read_text())["cells"][0]["source"])
    found = re.search(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?[\"']", setup)
    assert found, "the setup cell names no https://github.com/OWNER/NAME repository"
    return found.group(1)


def badge_sources() -> list[Path]:
    return [p for p in [REPO / "README.md", *NOTEBOOKS] if p.exists()]


def test_colab_badges_open_existing_notebooks_of_this_repository():
    badges = [(source, match) for source in badge_sources() for match in BADGE.finditer(source.read_text())]
    if not badges:
        pytest.skip("no Colab badge in README.md or the notebooks yet")
    repository = course_repository()
    for source, match in badges:
        owner, name, branch, path = match.groups()
        where = f"{source.relative_to(REPO)}: {match.group(0)}"
        assert f"{owner}/{name}" == repository, f"{where} is not the repository the setup cell clones ({repository})"
        assert branch == "main", f"{where} should open the main branch"
        assert (REPO / path).is_file(), f"{where} opens {path}, which does not exist"
        assert path.startswith("notebooks/"), f"{where}: lessons live in notebooks/"


def test_readme_has_a_colab_badge_for_every_lesson():
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not written yet")
    opened = {match.group(4) for match in BADGE.finditer(readme.read_text())}
    missing = [p.relative_to(REPO).as_posix() for p in NOTEBOOKS if p.relative_to(REPO).as_posix() not in opened]
    assert not missing, f"README.md has no Colab badge for {missing}"


def test_ipywidgets_requirement_accepts_colab_7_7_and_ipywidgets_8():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    widgets = [r for r in requirements if r.name == "ipywidgets"]
    assert widgets, "vaecourse must declare ipywidgets (the lessons' widgets need it)"
    for version in ("7.7.1", "8.1.5"):
        assert widgets[0].specifier.contains(version), f"{widgets[0]} rejects ipywidgets {version}"
    pinned = [str(r) for r in requirements if any(s.operator in ("==", "===", "~=") for s in r.specifier)]
    assert not pinned, f"pins would make Colab replace its own packages: {pinned}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_uses_core_widgets_and_inline_matplotlib(path):
    code = code_of(path)
    assert "%matplotlib inline" in code, f"{path.name}: matplotlib's inline backend is what Colab renders"
    third_party = sorted({m.group(0) for m in THIRD_PARTY_WIDGETS.finditer(code)})
    assert not third_party, f"{path.name} uses {third_party}: Colab renders only core ipywidgets without extra set-up"


def test_package_uses_core_widgets_only():
    for module in sorted((REPO / "vaecourse").glob("*.py")):
        third_party = sorted({m.group(0) for m in THIRD_PARTY_WIDGETS.finditer(module.read_text())})
        assert not third_party, f"vaecourse/{module.name} uses {third_party}: only core ipywidgets work on Colab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_training_lesson_says_which_device_it_uses(path):
    code = code_of(path)
    if not re.search(r"\b(fit|train_or_load)\(", code):
        pytest.skip("this lesson trains nothing")
    assert "get_device(" in code and "describe_device(" in code, \
        f"{path.name} trains a model: pick the device with runtime.get_device() and print describe_device(device)"

"""pyproject.toml and environment.yml ask for the same packages, with lower bounds only."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch"}


def requirement_list(text: str, key: str) -> list[str]:
    block = re.search(rf"^{key} = \[(.*?)^\]", text, re.S | re.M).group(1)
    return re.findall(r'"([^"]+)"', block)


def test_dependencies_have_lower_bounds_only_and_match_environment_yml():
    pyproject = (ROOT / "pyproject.toml").read_text()
    environment = (ROOT / "environment.yml").read_text()
    extras = re.findall(r'^(?:lab|test|bench) = \[(.*?)\]', pyproject, re.M)
    requirements = requirement_list(pyproject, "dependencies") + re.findall(r'"([^"]+)"', " ".join(extras))
    assert any(r.startswith("torch>=") for r in requirements)
    highest: dict[str, str] = {}  # a package named twice (core and the lab extra) takes its highest bound
    for requirement in requirements:
        name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement).groups()
        version = tuple(int(p) for p in bound.split("."))
        if name not in highest or version > tuple(int(p) for p in highest[name].split(".")):
            highest[name] = bound
    for name, bound in highest.items():
        conda_name = CONDA_NAMES.get(name, name)
        assert f"- {conda_name}>={bound}\n" in environment, f"environment.yml should ask for {conda_name}>={bound}"
    assert "==" not in pyproject and "==" not in environment, "no exact pins: Colab must keep its own torch"


def test_ipywidgets_7_is_accepted_for_colab():
    assert re.search(r'"ipywidgets>=7\.\d+"', (ROOT / "pyproject.toml").read_text())

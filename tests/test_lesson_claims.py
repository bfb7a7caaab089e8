"""Lesson prose quotes no figure that its code does not produce.

A measured number typed into a lesson's Markdown goes stale the day the code changes; a printed one cannot.
So every *figure* in a lesson's Markdown (a decimal such as 0.742, a power of ten such as 1e-6 or
$10^{-12}$, or a number with a unit: 80 s, 5 minutes, 3 nats, 95%, 35°, 20-fold, 5×, ≈ 107) must be

* a number in that notebook's code: an input, a threshold, the bound of an assert (a percentage also
  matches its fraction, 95% ~ 0.95, and a tolerance, 2% ~ 1.02); or
* listed below, with the reason it may stand in prose: a pure-maths constant (``MATHS``), or a figure the
  lesson does not compute, cited from a paper, set in the package or measured by a script (``ALLOWED``,
  per notebook, with its source).

A duration (80 s, 5 minutes) never matches the code: it is always a measurement, so it is printed or listed.

Results the lesson measures are printed (or asserted) by its code and named in words in the prose ("the
largest error, printed above"), never retyped. Plain integers without a unit (section numbers, 784
pixels, 20 latents, years) are not checked. This runs in a fraction of a second and executes nothing.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Pure-maths constants any lesson may quote: the figure as written -> why it needs no code of its own.
MATHS = {
    "99.7%": "P(|Z| < 3) = 99.73% for a normal Z: the three-standard-errors rule",
}

# Per notebook: a figure as written in its Markdown -> where it comes from. Only figures the lesson does not
# compute belong here: numbers cited from papers (with the table), constants set in the package, arithmetic
# on the page, times measured by scripts/time_lessons.py. Each entry must still occur in the Markdown.
ALLOWED: dict[str, dict[str, str]] = {
    "02_elbo.ipynb": {
        "10^{20}": "arithmetic in the sentence: 10 grid points per axis to the power of d = 20 latents",
    },
    "05_vae_mnist.ipynb": {
        "39.2": "arithmetic on the page: β = 784/20",
        "10^{-3}": "Adam's learning rate, vae_mnist.LR (pytorch/examples use the same)",
        "0.9": "the classifier's threshold for a clear digit, classifier.CONFIDENT",
        "105.6 nats": "pytorch/examples' own loop on full MNIST, measured by scripts/bench_fit.py (make bench)",
        "95%": "the manifold grid's prior quantiles 5% … 95%, plots.latent_grid's defaults",
        "0.25": "the smallest β of the shipped models, vae_mnist.SWEEP_BETAS",
    },
    "07_posterior_collapse.ipynb": {
        "0.9": "the grey-pixel band 0.1 … 0.9 of the blur measure, collapse.BLUR_RANGE",
    },
    "06_beta_vae.ipynb": {
        "5·10⁻⁴": "Adam's learning rate, beta_vae.LR",
        "90°": "geometry: a square looks the same after a quarter turn",
        "180°": "geometry: an ellipse looks the same after a half turn",
    },
    "10_applications.ipynb": {
        "0.693": "arithmetic: ln 2 = 0.6931…, the number of nats in a bit",
        "3.3": "arithmetic: log₂ 10 = 3.32…, the bits of a label when the ten digits are equally likely",
        "0.19 bits": "Townsend et al. 2019 (BB-ANS), Table 2: binarized MNIST, the VAE's test ELBO and BB-ANS's rate",
    },
}

# Figures typed into the prose of lessons that are being rewritten under issue 14 ("every claim backed by
# what the lesson shows"), with no code that prints or asserts them. Print (or assert) each in the lesson
# and refer to it in words, or move it to ALLOWED with its source; then delete the entry here (the test
# says when an entry is no longer needed).
PENDING: dict[str, dict[str, str]] = {}


@dataclass(frozen=True)
class Figure:
    """A number quoted in Markdown: its text as written (with a little context), its value, where it is."""

    text: str
    value: float
    unit: str
    cell: int
    context: str

    @property
    def percent(self) -> bool:
        return "%" in self.unit

    @property
    def duration(self) -> bool:
        return bool(re.fullmatch(DURATION, self.unit))


DURATION = r"ms|s|sec|seconds?|min|minutes?|h|hours?"
SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
POWER_OF_TEN = re.compile(r"(?:(?<![\w.])(\d+(?:\.\d+)?)\s*(?:\\cdot|·|\\times|×)\s*)?(?<![\w.])10\^\{?(-?\d+)\}?")
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?:[eE]-?\d+)?(?!\d)")
UNIT_AFTER = re.compile(rf"\s?(?:\\?%|°|-fold|×(?!\s*\d))|\s(?:{DURATION}|nats?|bits?)\b")
APPROX_BEFORE = re.compile(r"(?:≈|\\approx)\s*\$?\s*-?$")


def prose(markdown: str) -> str:
    """The Markdown as read, without code, web addresses and number formatting that hides a value."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)           # fenced code: commands, not claims
    text = re.sub(r"`[^`]*`", " ", text)                             # inline code: names and arguments
    text = re.sub(r"\]\([^)]*\)|https?://\S+", " ", text)            # link targets
    text = text.replace("{,}", "").replace("−", "-")                 # 10{,}000 and the minus sign
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)              # 60,000 -> 60000
    return re.sub(r"10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: "10^{" + m.group(1).translate(SUPERSCRIPTS) + "}", text)


def figures(markdown: str, cell: int = 0) -> list[Figure]:
    """The figures in one Markdown text: decimals, powers of ten, numbers with a unit or after ≈."""
    text = prose(markdown)
    found = []

    def keep(match: re.Match, value: float, unit: re.Match | None = None) -> None:
        start, end = match.start(), unit.end() + match.end() if unit else match.end()
        context = text[max(0, start - 40):end + 25].replace("\n", " ").strip()
        found.append(Figure(text[start:end].strip(), value, unit.group(0).strip() if unit else "", cell, context))

    for match in POWER_OF_TEN.finditer(text):
        keep(match, float(match.group(1) or 1) * 10.0 ** int(match.group(2)))
    text = POWER_OF_TEN.sub(lambda m: " " * len(m.group(0)), text)
    for match in NUMBER.finditer(text):
        token = match.group(0)
        if token.count(".") > 1:  # a version (2.14.1) or a section number, not a quantity
            continue
        after, before = text[match.end():match.end() + 12], text[max(0, match.start() - 12):match.start()]
        unit = UNIT_AFTER.match(after)
        if "." in token or "e" in token.lower() or unit or APPROX_BEFORE.search(before):
            keep(match, float(token), unit)
    return found


def notebook_cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def code_numbers(path: Path) -> set[float]:
    """Every numeric constant in the notebook's code cells (comments and strings are not code)."""
    numbers = set()
    for cell in notebook_cells(path):
        if cell["cell_type"] != "code":
            continue
        source = "".join(line for line in cell["source"] if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            numbers.update(float(t) for t in NUMBER.findall(source) if t.count(".") < 2)
            continue
        numbers.update(abs(float(node.value)) for node in ast.walk(tree)
                       if isinstance(node, ast.Constant) and type(node.value) in (int, float))
    return numbers


def markdown_figures(path: Path) -> list[Figure]:
    return [figure for i, cell in enumerate(notebook_cells(path)) if cell["cell_type"] == "markdown"
            for figure in figures("".join(cell["source"]), i)]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)


def in_code(figure: Figure, numbers: set[float]) -> bool:
    if figure.duration:  # a time is measured, never set: the coincidence "20 seconds" ~ x[:20] proves nothing
        return False
    candidates = [abs(figure.value)]
    if figure.percent:  # 95% ~ 0.95; "within 2%" ~ a ratio bound of 1.02 (or 0.98)
        candidates += [figure.value / 100, 1 + figure.value / 100, 1 - figure.value / 100]
    return any(close(c, n) for c in candidates for n in numbers)


def listed(figure: Figure, entries: dict[str, str]) -> bool:
    return any(close(abs(figure.value), abs(f.value)) for key in entries for f in figures(key))


def unbacked(path: Path) -> list[Figure]:
    """The figures of ``path``'s Markdown that are neither in its code nor allowed with a reason."""
    numbers = code_numbers(path)
    allowed = {**ALLOWED.get(path.name, {}), **PENDING.get(path.name, {})}
    return [f for f in markdown_figures(path)
            if not in_code(f, numbers) and not listed(f, allowed)
            and not listed(f, MATHS)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_quotes_only_figures_the_code_produces(path):
    problems = [f"  cell {f.cell}: {f.text!r} in “…{f.context}…”" for f in unbacked(path)]
    assert not problems, (
        f"{path.name}: its Markdown quotes figures that its code does not contain:\n" + "\n".join(problems) +
        "\nA result the lesson measures must be printed (or asserted) by the code above the sentence, and the "
        "prose should refer to it in words (\"the error printed above\") rather than retype it. An input or a "
        "threshold must be the same number in the code. A figure cited from a paper, set in the package or "
        f"measured by a script goes into ALLOWED[{path.name!r}] in tests/test_lesson_claims.py, with its source.")


@pytest.mark.parametrize("table", ["ALLOWED", "PENDING"])
def test_every_listed_figure_is_still_quoted_and_has_a_reason(table):
    entries = {"ALLOWED": ALLOWED, "PENDING": PENDING}[table]
    names = {p.name for p in NOTEBOOKS}
    for name, listed_figures in entries.items():
        assert name in names, f"{table} names {name}, which is not a lesson in notebooks/: remove or rename it"
        quoted = [f.value for f in markdown_figures(NOTEBOOKS[0].parent / name)]
        for key, reason in listed_figures.items():
            parsed = figures(key)
            assert len(parsed) == 1, f"{table}[{name!r}]: {key!r} should be one figure as written in the lesson"
            assert reason.strip(), f"{table}[{name!r}][{key!r}] needs a reason: where the figure comes from"
            assert any(close(abs(parsed[0].value), abs(v)) for v in quoted), (
                f"{table}[{name!r}] lists {key!r}, which {name} no longer quotes: delete the entry")


def test_maths_constants_are_single_figures_with_a_reason():
    for key, reason in MATHS.items():
        assert len(figures(key)) == 1 and reason.strip(), f"MATHS[{key!r}]: one figure as written, and why"


# The detector itself, on sentences of the kinds the lessons contain.

@pytest.mark.parametrize("sentence, expected", [
    ("the hole threshold (0.742) and an error of 5.7e-14", [0.742, 5.7e-14]),
    ("held to float64 rounding, around $10^{-14}$, and $10^{20}$ passes", [1e-14, 1e20]),
    ("learning rate 5·10⁻⁴ and $3 \\cdot 10^{-3}$", [5e-4, 3e-3]),
    ("about 80 s on a CPU, 5 minutes per model, 40 ms a step", [80, 5, 40]),
    ("a loss ≈ 107, MIG $\\approx 0.4$, 95% of codes, an angle of 35°, 20-fold, about 5× cheaper",
     [107, 0.4, 95, 35, 20, 5]),
    ("−111.2 nats and 12 nats", [111.2, 12]),
])
def test_figures_are_found(sentence, expected):
    assert [abs(f.value) for f in figures(sentence)] == pytest.approx(expected)


@pytest.mark.parametrize("sentence", [
    "lesson 02, section 3, Table 1 of Burda et al. (2016); 784 pixels, 20 latents, k = 5000",
    "28×28 digits, a 15 × 15 grid, 4×4 kernels",
    "torch 2.14.1 and ipywidgets 7.7.1",
    "set `noise_std=0.2` or run ```\npython train.py --lr 0.001\n```",
    "see [the paper](https://arxiv.org/abs/1312.6114)",
    "the 60,000 training digits and $n = 10{,}000$ samples",
])
def test_non_figures_are_ignored(sentence):
    assert figures(sentence) == []


def test_percentages_match_fractions_and_tolerances():
    numbers = {0.95, 1.02}
    found = {f.text: in_code(f, numbers) for f in figures("within 2% of PCA, than 95% of codes, 7% of them")}
    assert found == {"2%": True, "95%": True, "7%": False}


def test_a_typed_measurement_is_caught(tmp_path):
    notebook = {"cells": [
        {"cell_type": "code", "source": ["%matplotlib inline\n", "error = measure(x[:20])\n", "assert error < 1e-6\n"]},
        {"cell_type": "markdown", "source": ["The error is far below $10^{-6}$: about 5.7e-14. Takes 20 seconds."]},
    ]}
    path = tmp_path / "99_example.ipynb"
    path.write_text(json.dumps(notebook))
    assert [f.text for f in unbacked(path)] == ["5.7e-14", "20 seconds"]
